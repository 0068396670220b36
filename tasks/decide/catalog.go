package decide

import (
	"github.com/pulsegate/pulsegate/pkg/report"
	"github.com/pulsegate/pulsegate/tasks"
)

// CatalogParams are the params of the pulsegate-decide task and the decide
// template.
var CatalogParams = []tasks.Param{
	{Name: "input", Flag: "--input", Default: "scores.json"},
	{Name: "policy", Flag: "--policy", Default: ""},
	{Name: "report", Flag: "--report-dir", Default: "pulsegate-report"},
	{Name: "on-block", Default: "stopAndFail", Only: "tekton"},
	{Name: "workdir-claim", Default: "pulsegate-workdir", Only: "argo"},
}

// CatalogResults are the result files decide writes with --results-dir.
var CatalogResults = []tasks.Result{
	{Name: "verdict", MaxBytes: 7},
	{Name: "risk-score", MaxBytes: 8},
	{Name: "summary", MaxBytes: report.MaxSummaryBytes},
	{Name: "decision-id", MaxBytes: 64},
}
