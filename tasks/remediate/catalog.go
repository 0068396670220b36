package remediate

import "github.com/pulsegate/pulsegate/tasks"

// CatalogParams are the params of the pulsegate-remediate task and the
// remediate template: one attempt for the gate's decision.
var CatalogParams = []tasks.Param{
	{Name: "remediation-config", Flag: "--remediation-config", Default: "remediation.yaml"},
	{Name: "decision", Flag: "--decision", Default: "pulsegate-report/decision.json"},
	{Name: "decision-id", Flag: "--decision-id", Default: ""},
	{Name: "environment", Flag: "--environment", Default: ""},
	{Name: "attempt", Flag: "--attempt", Default: "1"},
	{Name: "apply", Flag: "--apply", Default: "false"},
	{Name: "workdir-claim", Default: "pulsegate-workdir", Only: "argo"},
}

// CatalogResults are the result files `pulsegate remediate --results-dir`
// writes.
var CatalogResults = []tasks.Result{
	// outcome: succeeded, failed, timeout, error, dry-run, skipped or none
	// (nothing to remediate), the worst of the attempt's records.
	{Name: "outcome", MaxBytes: 9},
	// objects: what was created or changed, one per line.
	{Name: "objects", MaxBytes: 2048},
}
