// Package admission holds example admission policies that admit only images
// with a fresh, signed pulsegate "proceed" attestation; its test validates
// them against the policy engine's CRD in a real kube-apiserver.
package admission
