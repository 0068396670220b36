package tasks

// Param is one input of a step as the catalog declares it: a Tekton task
// param and an Argo template input parameter of the same name. The catalog
// tests check the YAML against these lists, so a flag renamed here and not
// there (or the reverse) fails a test.
type Param struct {
	// Name is the param's name in both catalogs, kebab-case.
	Name string
	// Flag is the command-line flag the param becomes ("" when the param
	// only selects a file in a workspace or steers the task).
	Flag string
	// Default is the default value; Required params have none.
	Default  string
	Required bool
	// Only names the one catalog that has the param, "tekton" or "argo"
	// (Tekton's on-block sets a step's onError; Argo's workdir-claim names
	// the volume a template mounts); "" means both.
	Only string
}

// Result is one output of a step: a Tekton task result and an Argo output
// parameter, written as a file of this name by --results-dir.
type Result struct {
	Name string
	// MaxBytes bounds the value; all results of a task together stay well
	// under Tekton's 4 KB termination message.
	MaxBytes int
}
