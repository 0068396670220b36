package train

import "github.com/pulsegate/pulsegate/tasks"

// CatalogParams are the params of the pulsegate-retrain task and the Argo
// retraining template: the history comes from the configuration file's
// telemetry, the rest of Params keeps its defaults.
var CatalogParams = []tasks.Param{
	{Name: "config", Flag: "--config", Default: "pulsegate.yaml"},
	{Name: "window", Flag: "--window", Default: "10m"},
	{Name: "output", Flag: "--out", Default: "model.json"},
}

// CatalogResults are the result files train writes with --results-dir.
var CatalogResults = []tasks.Result{
	{Name: "promoted", MaxBytes: 5},      // "true" or "false"
	{Name: "outcome", MaxBytes: 16},      // first model, promoted, forced, rejected
	{Name: "model-digest", MaxBytes: 71}, // "sha256:" and 64 hex digits
}
