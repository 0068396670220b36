// Package builtin lists the source adapters compiled into pulsegate. Adding
// a source is one new package under pkg/source and one line here.
package builtin

import (
	"github.com/pulsegate/pulsegate/pkg/source"
	"github.com/pulsegate/pulsegate/pkg/source/alertmanager"
	"github.com/pulsegate/pulsegate/pkg/source/asff"
	"github.com/pulsegate/pulsegate/pkg/source/crowdstrike"
	"github.com/pulsegate/pulsegate/pkg/source/epss"
	"github.com/pulsegate/pulsegate/pkg/source/falco"
	"github.com/pulsegate/pulsegate/pkg/source/guardduty"
	"github.com/pulsegate/pulsegate/pkg/source/hubble"
	"github.com/pulsegate/pulsegate/pkg/source/k8saudit"
	"github.com/pulsegate/pulsegate/pkg/source/kev"
	"github.com/pulsegate/pulsegate/pkg/source/msgraph"
	"github.com/pulsegate/pulsegate/pkg/source/ocsf"
	"github.com/pulsegate/pulsegate/pkg/source/prometheus"
	"github.com/pulsegate/pulsegate/pkg/source/tetragon"
	"github.com/pulsegate/pulsegate/pkg/source/trivy"
	"github.com/pulsegate/pulsegate/pkg/source/wazuh"
)

// Specs are the built-in adapters.
var Specs = []source.Spec{
	alertmanager.Spec,
	asff.Spec,
	crowdstrike.Spec,
	epss.Spec,
	falco.Spec,
	guardduty.Spec,
	hubble.Spec,
	k8saudit.Spec,
	kev.Spec,
	msgraph.Spec,
	ocsf.Spec,
	prometheus.Spec,
	tetragon.Spec,
	trivy.Spec,
	wazuh.Spec,
}

// Registry returns a registry of the built-in adapters.
func Registry() *source.Registry {
	r, err := source.NewRegistry(Specs...)
	if err != nil {
		panic("builtin: " + err.Error()) // a programming error, caught by the package's test
	}
	return r
}
