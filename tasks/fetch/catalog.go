package fetch

import "github.com/pulsegate/pulsegate/tasks"

// CatalogParams are the params of the pulsegate-fetch-telemetry task and the
// fetch template.
var CatalogParams = []tasks.Param{
	{Name: "config", Flag: "--config", Default: "pulsegate.yaml"},
	{Name: "output", Flag: "--out", Default: "signals.jsonl"},
	{Name: "workdir-claim", Default: "pulsegate-workdir", Only: "argo"},
	{Name: "credentials-secret", Default: "pulsegate-credentials", Only: "argo"},
}

// CatalogResults: the Signals are a file, not a result.
var CatalogResults = []tasks.Result{}
