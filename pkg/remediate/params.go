package remediate

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/pulsegate/pulsegate/pkg/correlate"
	"github.com/pulsegate/pulsegate/pkg/policy"
)

// The parameters pulsegate passes to every remediation Workflow and
// PipelineRun. A WorkflowTemplate or Pipeline declares the ones it reads
// (both Argo and Tekton accept arguments a template does not declare, but
// only declared ones can be referenced). All values are strings.
const (
	// ParamDecisionID is the id of the decision that blocked first: the
	// same for every attempt of one remediation loop.
	ParamDecisionID = "decision-id"
	// ParamAttempt is the attempt number, from 1.
	ParamAttempt = "attempt"
	// ParamTargets is a JSON array of the block's targets:
	// [{"kind":"Node","name":"ip-10-0-2-22","relation":"current-node"}, ...]
	// (namespace for namespaced kinds).
	ParamTargets = "targets"
	// ParamReasons is a JSON array of the block's reasons:
	// [{"rule":"severe-finding","message":"...","targets":["node ip-10-0-2-22"]}, ...]
	ParamReasons = "reasons"
)

var reservedParams = map[string]bool{ParamDecisionID: true, ParamAttempt: true, ParamTargets: true, ParamReasons: true}

// Labels and annotations pulsegate puts on what it creates or changes.
const (
	LabelManagedBy   = "app.kubernetes.io/managed-by"
	LabelAction      = "pulsegate.dev/action"
	LabelAttempt     = "pulsegate.dev/attempt"
	LabelDecision    = "pulsegate.dev/decision"    // a hash of the decision id (labels are 63 bytes)
	LabelIsolate     = "pulsegate.dev/isolate"     // on an isolated pod: the NetworkPolicy's name
	AnnotationDecide = "pulsegate.dev/decision-id" // the full decision id
	AnnotationBy     = "pulsegate.dev/remediated-by"
	managedBy        = "pulsegate"
)

// ObjectName is the name of what an action creates for a decision's
// attempt: "pg-<action>-<10 hex of the decision id's hash>-<attempt>". The
// same inputs give the same name, so a retried step finds what it already
// started; the next attempt gets a new name. At most 63 characters, a
// DNS label (Argo copies workflow names into pod labels).
func ObjectName(decisionID, action string, attempt int) string {
	a := strings.Trim(action, "-")
	if len(a) > 40 {
		a = a[:40]
	}
	return fmt.Sprintf("pg-%s-%s-%d", a, decisionHash(decisionID), attempt)
}

func decisionHash(id string) string {
	h := sha256.Sum256([]byte(id))
	return hex.EncodeToString(h[:5])
}

// maxParamBytes bounds the targets and reasons parameters each: a Workflow
// or PipelineRun is one etcd object (1.5 MB), and its parameters are
// copied into every pod's environment or arguments.
const maxParamBytes = 32 << 10

// maxMessage bounds one reason's message in the parameters.
const maxMessage = 512

// BlockTargets returns the decision's targets that its block reasons name
// as evidence, in the decision's order: the resources a remediation acts
// on. A target that is only in the landing set, without evidence against
// it, is left alone.
func BlockTargets(d *policy.Decision) []correlate.Target {
	named := map[string]bool{}
	for _, r := range d.Reasons {
		for _, e := range r.Evidence {
			if e.Target != "" {
				named[e.Target] = true
			}
		}
	}
	var out []correlate.Target
	for _, t := range d.Targets {
		if named[t.String()] || named[t.ID()] {
			out = append(out, t)
		}
	}
	return out
}

type paramTarget struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	Relation  string `json:"relation,omitempty"`
}

type paramReason struct {
	Rule    string   `json:"rule"`
	Message string   `json:"message"`
	Targets []string `json:"targets,omitempty"`
}

// Params returns the parameters pulsegate passes for decision d (whose
// loop started with decisionID) on attempt, then the action's own, sorted
// by name after the four fixed ones.
func Params(decisionID string, attempt int, d *policy.Decision, a Action) [][2]string {
	targets := []paramTarget{}
	for _, t := range BlockTargets(d) {
		targets = append(targets, paramTarget{Kind: t.Kind, Namespace: t.Namespace, Name: t.Name, Relation: string(t.Relation)})
	}
	reasons := []paramReason{}
	for _, r := range d.Reasons {
		pr := paramReason{Rule: r.Rule, Message: truncate(r.Message, maxMessage)}
		seen := map[string]bool{}
		for _, e := range r.Evidence {
			if e.Target != "" && !seen[e.Target] {
				seen[e.Target] = true
				pr.Targets = append(pr.Targets, e.Target)
			}
		}
		reasons = append(reasons, pr)
	}
	out := [][2]string{
		{ParamDecisionID, decisionID},
		{ParamAttempt, strconv.Itoa(attempt)},
		{ParamTargets, boundedJSON(targets, func(n int) any { return targets[:n] }, len(targets))},
		{ParamReasons, boundedJSON(reasons, func(n int) any { return reasons[:n] }, len(reasons))},
	}
	keys := make([]string, 0, len(a.Params))
	for k := range a.Params {
		keys = append(keys, k)
	}
	sortStrings(keys)
	for _, k := range keys {
		out = append(out, [2]string{k, a.Params[k]})
	}
	return out
}

// boundedJSON encodes v, dropping elements from the end until it fits
// maxParamBytes.
func boundedJSON(v any, prefix func(int) any, n int) string {
	b, _ := json.Marshal(v)
	for len(b) > maxParamBytes && n > 0 {
		n /= 2
		b, _ = json.Marshal(prefix(n))
	}
	return string(b)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Cut on a rune boundary.
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}
