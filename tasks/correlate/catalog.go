package correlate

import "github.com/pulsegate/pulsegate/tasks"

// CatalogParams are the params of the pulsegate-correlate task and the
// correlate template: a snapshot file, never a live context.
var CatalogParams = []tasks.Param{
	{Name: "release", Flag: "--release", Required: true},
	{Name: "inventory", Flag: "--inventory", Default: "inventory.json"},
	{Name: "cluster", Flag: "--cluster", Default: ""},
	{Name: "output", Flag: "--out", Default: "targets.json"},
	{Name: "workdir-claim", Default: "pulsegate-workdir", Only: "argo"},
}

// CatalogResults: the landing set is a file, not a result.
var CatalogResults = []tasks.Result{}
