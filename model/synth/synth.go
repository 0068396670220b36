// Package synth generates seeded telemetry histories for the tests of
// training and promotion: the Signals a small cluster's Tetragon, Hubble,
// audit log and Falco would produce, with the attrs those adapters write,
// so that the histories go through pkg/feature like real ones.
package synth

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/pulsegate/pulsegate/pkg/signal"
)

// Options shapes a history.
type Options struct {
	Seed  uint64
	Start time.Time
	// Hours of history; Pods on Nodes nodes.
	Hours, Pods, Nodes int
	// Shift makes every pod busier (more processes, more and more varied
	// connections, some to the world): 0 is the ordinary cluster.
	Shift float64
}

var binaries = []string{"/app/server", "/bin/sh", "/usr/bin/python3", "/usr/local/bin/healthcheck"}

// History returns the Signals of opts' history, in time order.
func History(o Options) []signal.Signal {
	rng := rand.New(rand.NewPCG(o.Seed, 0x5eed))
	var out []signal.Signal
	step := 2 * time.Minute
	steps := int(time.Duration(o.Hours) * time.Hour / step)
	for k := range steps {
		t := o.Start.Add(time.Duration(k) * step)
		for p := range o.Pods {
			a := signal.Asset{Namespace: fmt.Sprintf("team-%d", p%3), Pod: fmt.Sprintf("app-%d", p), Node: fmt.Sprintf("node-%d", p%o.Nodes)}
			at := t.Add(time.Duration(rng.IntN(int(step))))
			// A process now and then, mostly the usual ones.
			if rng.Float64() < 0.3+0.5*o.Shift {
				b := binaries[rng.IntN(len(binaries))]
				if rng.Float64() < 0.3*o.Shift {
					b = fmt.Sprintf("/tmp/tool-%d", rng.IntN(50))
				}
				out = append(out, signal.Signal{Time: at, ClassUID: signal.ClassProcessActivity, Severity: signal.SeverityInformational,
					Rule: "tetragon: process_exec", Asset: a, Attrs: map[string]string{"binary": b}})
			}
			// Flows to a couple of services, more and wider when shifted.
			for range rng.IntN(3 + int(6*o.Shift)) {
				dst := fmt.Sprintf("team-%d/db-%d", p%3, rng.IntN(2+int(20*o.Shift)))
				attrs := map[string]string{"direction": "EGRESS", "dst": dst}
				sev := signal.SeverityInformational
				if rng.Float64() < 0.2*o.Shift {
					attrs = map[string]string{"direction": "EGRESS", "egress_world": "true", "dst_ip": fmt.Sprintf("203.0.113.%d", rng.IntN(200)), "dst_port": "443"}
					sev = signal.SeverityLow
				}
				out = append(out, signal.Signal{Time: at, ClassUID: signal.ClassNetworkActivity, Severity: sev, Rule: "hubble: flow", Asset: a, Attrs: attrs})
			}
			// A rare medium Falco finding.
			if rng.Float64() < 0.01 {
				out = append(out, signal.Signal{Time: at, ClassUID: signal.ClassDetectionFinding, Severity: signal.SeverityMedium,
					Rule: "Contact K8S API Server From Container", Asset: a, Attrs: map[string]string{"process": "server", "remote": "10.96.0.1:443"}})
			}
		}
		// Falco's heartbeat on every node.
		for n := range o.Nodes {
			out = append(out, signal.Signal{Time: t, ClassUID: signal.ClassApplicationLifecycle, Heartbeat: true, Asset: signal.Asset{Node: fmt.Sprintf("node-%d", n)}})
		}
	}
	for i := range out {
		out[i].ID = fmt.Sprintf("synth-%d-%d", o.Seed, i)
		out[i].Source = signal.SourceRef{Name: "synth", Type: "synth"}
	}
	return out
}
