package hubble

import (
	"encoding/json"
	"flag"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pulsegate/pulsegate/pkg/signal"
	"github.com/pulsegate/pulsegate/pkg/source"
	"github.com/pulsegate/pulsegate/pkg/source/sourcetest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

func TestFlows(t *testing.T) {
	b, err := source.ReadFile("testdata/flows.jsonl", Spec, signal.SourceRef{Name: "hubble", Type: "hubble"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Signals) != 3 || b.Rejected != 3 {
		t.Fatalf("%d signals, %d rejected: %+v", len(b.Signals), b.Rejected, b.Rejects)
	}
	drop, cidr, in := b.Signals[0], b.Signals[1], b.Signals[2]
	tests := []struct {
		name  string
		s     signal.Signal
		asset signal.Asset
		sev   signal.Severity
		rule  string
		attrs map[string]string
	}{
		{"dropped egress to the world", drop,
			signal.Asset{Cluster: "prod-eu-1", Node: "prod-eu-1/ip-10-0-2-22", Namespace: "payments", WorkloadKind: "Deployment", Workload: "payments-worker", Pod: "payments-worker-6b7f9c-x2x4q"},
			signal.SeverityLow, "hubble: egress to world",
			map[string]string{"egress_world": "true", "verdict": "DROPPED", "drop_reason": "POLICY_DENIED", "dst_names": "evil.example", "dst_port": "4444", "protocol": "TCP", "dst": "reserved:world"}},
		{"world-ipv4 CIDR identity", cidr, signal.Asset{Cluster: "prod-eu-1", Node: "ip-10-0-2-22", Namespace: "payments", Pod: "payments-api-0"},
			signal.SeverityLow, "hubble: egress to world", map[string]string{"egress_world": "true", "protocol": "UDP", "dst_port": "53"}},
		{"ingress from the world", in, signal.Asset{Node: "ip-10-0-2-22", Namespace: "payments", Pod: "payments-api-0"},
			signal.SeverityInformational, "hubble: flow", map[string]string{"egress_world": "", "src": "reserved:world", "direction": "INGRESS"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.s.Asset != tt.asset {
				t.Errorf("asset\n got  %+v\n want %+v", tt.s.Asset, tt.asset)
			}
			if tt.s.Severity != tt.sev || tt.s.Rule != tt.rule || tt.s.ClassUID != signal.ClassNetworkActivity {
				t.Errorf("severity %v rule %q class %d", tt.s.Severity, tt.s.Rule, tt.s.ClassUID)
			}
			for k, v := range tt.attrs {
				if tt.s.Attrs[k] != v {
					t.Errorf("attr %s = %q, want %q", k, tt.s.Attrs[k], v)
				}
			}
		})
	}
	if drop.Time.Nanosecond() != 123456789 || !drop.Time.Equal(time.Date(2026, 11, 30, 9, 41, 7, 123456789, time.UTC)) {
		t.Errorf("time %v", drop.Time)
	}
	for i, w := range []string{`missing field "flow.time"`, `field "flow.time"`, "not a Hubble flow"} {
		if !strings.Contains(b.Rejects[i].Reason, w) {
			t.Errorf("reject %d: %q, want %q", i, b.Rejects[i].Reason, w)
		}
	}
}

// The shared samples: every flow is used, and exactly the two flows to a
// reserved:world endpoint that is no pod are marked.
func TestSharedWorldEgress(t *testing.T) {
	world := 0
	for _, f := range sourcetest.Samples(t, "hubble", "*.jsonl") {
		b, err := source.ReadFile(f, Spec, signal.SourceRef{Name: "hubble", Type: "hubble"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if b.Rejected != 0 {
			t.Errorf("%s: %d rejected: %+v", f, b.Rejected, b.Rejects)
		}
		for _, s := range b.Signals {
			if s.Attrs["egress_world"] == "true" {
				world++
			}
			if s.Asset.Node == "" {
				t.Errorf("%s:%d: no node", f, s.Raw.Line)
			}
		}
	}
	if world != 2 {
		t.Errorf("%d flows marked egress_world, want 2", world)
	}
}

func testdata(t testing.TB) []string {
	files, err := filepath.Glob("testdata/*.jsonl")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata: %v", err)
	}
	return files
}

func TestConformanceShared(t *testing.T) {
	sourcetest.Run(t, Spec, sourcetest.Samples(t, "hubble", "*.jsonl")...)
}

func TestConformanceTestdata(t *testing.T) {
	sourcetest.Run(t, Spec, testdata(t)...)
}

func TestGolden(t *testing.T) {
	for _, in := range testdata(t) {
		name := strings.TrimSuffix(filepath.Base(in), filepath.Ext(in))
		t.Run(name, func(t *testing.T) {
			sourcetest.Golden(t, Spec, in, filepath.Join("testdata", "golden", name+".json"), *update)
		})
	}
}

// tricky are records where a fast reader could part from encoding/json:
// keys in another case, repeated keys, escapes, nulls, odd values.
var tricky = []string{
	`{"flow":{"time":"2021-06-16T16:52:13Z","IP":{"source":"10.0.0.1"}},"Flow":null}`,
	`{"flow":{"time":"2021-06-16T16:52:13Z","ip":{"source":"10.0.0.1"}}}`,
	`{"flow":{"time":"2021-06-16T16:52:13Z","IP":{"source":"10.0.0.1"},"IP":{"destination":"10.0.0.2"}}}`,
	`{"flow":{"time":"2021-06-16T16:52:13Z","IP":{"source":"10.0.0.1"},"IP":null}}`,
	`{"flow":{"time":"2021-06-16T16:52:13Z","IP":{"source":"10.0.0.1"}},"flow":{"verdict":"DROPPED"}}`,
	`{"flow":null,"time":"2021-06-16T16:52:13Z","IP":{"source":"10.0.0.1","Source":"x"},"type":"L7"}`,
	`{"time":"2021-06-16T16:52:13Z","node_name":"n","source":{"identity":2,"labels":null},"destination":{"identity":"2"}}`,
	`{"time":"2021-06-16T16:52:13Z","source":{"identity":1.0},"destination":{"identity":2,"pod_name":null}}`,
	`{"time":"2021-06-16T16:52:13Z","source":{"identity":9223372036854775808}}`,
	`{"time":"2021-06-16T16:52:13Z","source":{"pod_name":"p","namespace":"n","workloads":[null,{"name":"w","kind":"Deployment","Kind":"x"}]}}`,
	`{"time":"2021-06-16T16:52:13Z","source":{"pod_name":"p","workloads":[{"name":"w"},1]}}`,
	`{"time":"2021-06-16T16:52:13Z","destination":{"pod_name":"p\u00e9","labels":["k8s:io.cilium.k8s.policy.cluster=c\"x","reserved:world"]}}`,
	`{"time":"2021-06-16T16:52:13Z","destination":{"labels":"reserved:world-ipv4"},"IP":{"source":"` + "\xff" + `"}}`,
	`{"time":"2021-06-16T16:52:13Z","IP":{},"l4":{"ICMPv4":null},"is_reply":true,"destination_names":[null,"a.example"]}`,
	`{"time":"2021-06-16T16:52:13Z","IP":{},"l4":{"TCP":null,"UDP":{"source_port":53,"destination_port":5.3}}}`,
	`{"time":"2021-06-16T16:52:13Z","IP":{},"l4":{"TCP":{"source_port":1},"tcp":{}},"is_reply":"yes"}`,
	`{"time":"2021-06-16T16:52:13Z","IP":{},"l4":{"SCTP":{"source_port":-1,"destination_port":0}},"is_reply":null}`,
	`{"time":"2021-06-16T16:52:13Z","IP":{},"l7":{"type":"REQUEST","dns":{"query":"a.","query":"b."},"http":{"method":"GET","url":"/","code":200}}}`,
	`{"time":"2021-06-16T16:52:13Z","IP":{},"l7":{"dns":null,"http":{"code":null,"URL":"/x"}},"event_type":{"type":4,"sub_type":3}}`,
	`{"time":"2021-06-16T16:52:13Z","IP":{},"event_type":{"type":"4"}}`,
	`{"time":"2021-06-16T16:52:13Z","IP":{},"event_type":null,"Summary":null,"verdict":"DROPPED","drop_reason_desc":"POLICY_DENIED"}`,
	`{"tıme":"2021-06-16T16:52:13Z","IP":{}}`,
	`{"ſource":{},"IP":{},"time":"2021-06-16T16:52:13Z"}`,
	`{"time":"2021-06-16T16:52:13Z","IP":{},"extra":[{"deep":[1,{"a":null}]}],"traffic_direction":"INGRESS"}`,
	`{"time":"2021-06-16T16:52:13+02:00","IP":{}} `,
	`{"time":"2021-06-16T16:52:13Z","IP":{}}}`,
	`{"time":"2021-06-16T16:52:13Z","IP":{},}`,
	`{"time":"yesterday","IP":{}}`,
	`{"time":"0001-01-01T00:00:00Z","IP":{}}`, `{"time":"0000-06-01T00:00:00Z","IP":{}}`,
	`{"time":"2024-02-29T23:59:59.999999999Z","IP":{}}`, `{"time":"2023-02-29T00:00:00Z","IP":{}}`,
	`{"time":"2021-06-16T16:52:13.1234567891Z","IP":{}}`, `{"time":"2021-06-16T1:52:13Z","IP":{}}`,
	`{"IP":{}}`, `{}`, `null`, `[]`, `"flow"`, ``,
}

// Parse gives what the adapter gave before the scanner, on every sample
// and every tricky record.
func TestSameAsReference(t *testing.T) {
	files := append(testdata(t), sourcetest.SeedFiles("hubble", "*.jsonl")...)
	recs := sourcetest.Records(t, Spec, files...)
	// The samples take the fast path (the scanner), not the fallback.
	for _, r := range recs {
		var p Parser
		if json.Valid(r) && !p.scan(string(r), new(record)) {
			t.Errorf("the scanner gave up on %s", r)
		}
	}
	for _, r := range tricky {
		recs = append(recs, []byte(r))
	}
	for _, r := range recs {
		sameAsReference(t, r)
	}
	// One parser for all of them, twice over (its buffers and caches are
	// reused from record to record), and a record's buffer overwritten
	// after Parse, as the reader does.
	sourcetest.SameAsReference(t, func() source.Parser { return new(Parser) }, new(refParser), recs, func(s string) string { return strings.ReplaceAll(s, "refFlow.", "flow.") })
}

func sameAsReference(t *testing.T, data []byte) {
	t.Helper()
	var p Parser
	var ref refParser
	rec := source.Record{Data: data, File: "f", Line: 1}
	got, err := p.Parse(rec)
	want, wantErr := ref.Parse(rec)
	// encoding/json names the embedded struct's type in a field's path:
	// the reference's is refFlow.
	if fmt.Sprint(err) != strings.ReplaceAll(fmt.Sprint(wantErr), "refFlow.", "flow.") || !reflect.DeepEqual(got, want) {
		t.Fatalf("%s\n got  %+v %v\n want %+v %v", data, got, err, want, wantErr)
	}
}

func FuzzParse(f *testing.F) {
	files := append(testdata(f), sourcetest.SeedFiles("hubble", "*-5-*.jsonl", "*-10-*.jsonl")...)
	for _, r := range sourcetest.Records(f, Spec, files...) {
		f.Add(r)
	}
	for _, r := range tricky {
		f.Add([]byte(r))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		sourcetest.CheckRecord(t, Spec, data)
		sameAsReference(t, data)
	})
}
