// Package feature turns the signals that concern each target into a
// numeric feature vector over a time window, for the anomaly model. Names
// and order are stable: a model records them and refuses vectors of another
// schema.
package feature

import (
	"strings"
	"time"

	"github.com/pulsegate/pulsegate/pkg/correlate"
	"github.com/pulsegate/pulsegate/pkg/signal"
)

// Names are the features, in vector order.
var Names = []string{
	"signals",            // findings about the target in the window
	"severity_max",       // highest OCSF severity_id among them (0 when none)
	"findings_medium",    // count at severity 3
	"findings_high",      // count at severity 4 or more
	"distinct_rules",     // distinct rule names
	"distinct_processes", // distinct process names or binaries
	"process_events",     // OCSF 1007 Process Activity records
	"network_events",     // OCSF 4001 Network Activity records
	"api_events",         // OCSF 6003 API Activity records (audit)
	"exec_into_pod",      // audit exec/attach into pods
}

// Vectors returns one vector per target (indexed like targets), counting
// the matched signals with now-window <= time <= now (a signal exactly a
// window old counts, as it does for the policy and the gate).
func Vectors(targets []correlate.Target, sigs []signal.Signal, matches []correlate.Match, now time.Time, window time.Duration) [][]float64 {
	out := make([][]float64, len(targets))
	rules := make([]map[string]bool, len(targets))
	procs := make([]map[string]bool, len(targets))
	for i := range out {
		out[i] = make([]float64, len(Names))
		rules[i], procs[i] = map[string]bool{}, map[string]bool{}
	}
	for _, m := range matches {
		s := &sigs[m.Signal]
		if s.Heartbeat || s.Time.After(now) || now.Sub(s.Time) > window {
			continue
		}
		v := out[m.Target]
		v[0]++
		if f := float64(s.Severity); s.Severity != signal.SeverityOther && f > v[1] {
			v[1] = f
		}
		switch {
		case s.Severity == signal.SeverityMedium:
			v[2]++
		case s.Severity.AtLeast(signal.SeverityHigh):
			v[3]++
		}
		if s.Rule != "" && !rules[m.Target][s.Rule] {
			rules[m.Target][s.Rule] = true
			v[4]++
		}
		if p := firstNonEmpty(s.Attrs["process"], s.Attrs["binary"], s.Attrs["exe"]); p != "" && !procs[m.Target][p] {
			procs[m.Target][p] = true
			v[5]++
		}
		switch s.ClassUID {
		case signal.ClassProcessActivity:
			v[6]++
		case signal.ClassNetworkActivity:
			v[7]++
		case signal.ClassAPIActivity:
			v[8]++
			if sub := s.Attrs["subresource"]; sub == "exec" || sub == "attach" || strings.Contains(strings.ToLower(s.Rule), "exec") {
				v[9]++
			}
		}
	}
	return out
}

func firstNonEmpty(v ...string) string {
	for _, s := range v {
		if s != "" {
			return s
		}
	}
	return ""
}
