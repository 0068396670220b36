package gate

import (
	"github.com/pulsegate/pulsegate/pkg/report"
	"github.com/pulsegate/pulsegate/tasks"
)

// CatalogParams are the params of the pulsegate-gate task and the gate
// template: the rest of Params comes from the configuration file.
var CatalogParams = []tasks.Param{
	{Name: "config", Flag: "--config", Default: "pulsegate.yaml"},
	{Name: "release", Flag: "--release", Required: true},
	{Name: "environment", Flag: "--environment", Default: ""},
	{Name: "record", Flag: "--record", Default: "pulsegate-record"},
	{Name: "on-block", Default: "stopAndFail", Only: "tekton"},
	{Name: "workdir-claim", Default: "pulsegate-workdir", Only: "argo"},
}

// CatalogResults are the result files the gate writes with --results-dir:
// together well under Tekton's 4 KB termination message.
var CatalogResults = []tasks.Result{
	{Name: "verdict", MaxBytes: 7},
	{Name: "risk-score", MaxBytes: 8},
	{Name: "summary", MaxBytes: report.MaxSummaryBytes},
	{Name: "decision-id", MaxBytes: 64},
}
