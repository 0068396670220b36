package score

import "github.com/pulsegate/pulsegate/tasks"

// CatalogParams are the params of the pulsegate-score task and the score
// template, in order.
var CatalogParams = []tasks.Param{
	{Name: "targets", Flag: "--targets", Default: "targets.json"},
	{Name: "inventory", Flag: "--inventory", Default: "inventory.json"},
	{Name: "signals", Flag: "--signals", Default: "signals.jsonl"},
	{Name: "now", Flag: "--now", Default: ""},
	{Name: "output", Flag: "--out", Default: "scores.json"},
	{Name: "workdir-claim", Default: "pulsegate-workdir", Only: "argo"},
}

// CatalogResults are the results of the pulsegate-score task.
var CatalogResults = []tasks.Result{
	{Name: "risk-score", MaxBytes: 8},
}
