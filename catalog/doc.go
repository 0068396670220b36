// Package catalog holds pulsegate's Tekton tasks and pipeline (tekton/, in
// Artifact Hub's Tekton layout) and Argo Workflows templates (argo/, in
// Artifact Hub's Argo layout). It has no Go code of its own: its tests
// validate every file with Tekton's and Argo's own Go code, lint the
// security conventions, run every step's command on this machine through
// Tekton's and Argo's own parameter substitution, and check the params and
// results against the typed definitions in tasks/. The image the catalog
// pins is built by ./image (make image).
package catalog
