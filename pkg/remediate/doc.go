// Package remediate heals what a block names and lets the gate check again:
// it starts a remediation (an Argo Workflow from a WorkflowTemplate or
// ClusterWorkflowTemplate, a Tekton PipelineRun from a Pipeline, or one of
// the built-in actions on the block's targets: cordon a node, isolate a pod
// behind a deny-all NetworkPolicy, delete a pod so its controller replaces
// it, scale a pod's Deployment or StatefulSet to zero), waits for its
// outcome by watching status, and, in Loop, waits for fresh data and
// evaluates again within a retry budget.
//
// Actions are configured per environment and allow-listed (Config,
// Resolve): anything not listed is refused. A Runner that does not Apply
// sends every write as a server-side dry run, so the API server checks it,
// RBAC included, and stores nothing. Every name derives from the first
// block's decision id, the action and the attempt (ObjectName): a retried
// step finds what it already started, and the next attempt starts anew.
// Every action yields Records: what was done, on what, by whom (the
// API server's answer to a SelfSubjectReview) and the outcome.
//
// Only the block's evidence targets (BlockTargets) are acted on, never the
// whole landing set: a node that a release could land on is not cordoned
// because another node is compromised.
package remediate
