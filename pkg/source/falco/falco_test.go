package falco

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

// alertJSON builds a syscall alert changed by overrides (nil deletes).
func alertJSON(t *testing.T, overrides map[string]any) []byte {
	t.Helper()
	a := map[string]any{
		"hostname": "node-1",
		"output":   "A shell was spawned",
		"priority": "Warning",
		"rule":     "Terminal shell in container",
		"source":   "syscall",
		"tags":     []string{"shell", "container"},
		"time":     "2025-03-01T10:00:00.123456789Z",
		"output_fields": map[string]any{
			"k8s.ns.name": "shop", "k8s.pod.name": "web-0", "container.name": "web", "container.id": "0123456789ab",
			"container.image.repository": "registry.example/shop/web", "container.image.tag": "1.2",
			"container.image.digest": "sha256:abcd", "proc.cmdline": "bash -i", "user.name": "root",
		},
	}
	for k, v := range overrides {
		if v == nil {
			delete(a, k)
		} else {
			a[k] = v
		}
	}
	b, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func parse(t *testing.T, data []byte) signal.Signal {
	t.Helper()
	sigs, err := sourcetest.CheckRecord(t, Spec, data)
	if err != nil {
		t.Fatalf("rejected: %v\n%s", err, data)
	}
	if len(sigs) != 1 {
		t.Fatalf("%d signals, want 1", len(sigs))
	}
	return sigs[0]
}

func TestPriority(t *testing.T) {
	for prio, want := range map[string]signal.Severity{
		"Debug": signal.SeverityInformational, "Informational": signal.SeverityInformational, "Info": signal.SeverityInformational,
		"Notice": signal.SeverityLow, "Warning": signal.SeverityMedium, "WARNING": signal.SeverityMedium,
		"Error": signal.SeverityHigh, "Critical": signal.SeverityCritical, "Alert": signal.SeverityFatal, "Emergency": signal.SeverityFatal,
	} {
		t.Run(prio, func(t *testing.T) {
			s := parse(t, alertJSON(t, map[string]any{"priority": prio}))
			if s.Severity != want || s.Native != prio || s.Score != want.Score() || s.ClassUID != signal.ClassDetectionFinding {
				t.Errorf("got %v native %q score %v class %d, want %v", s.Severity, s.Native, s.Score, s.ClassUID, want)
			}
		})
	}
}

func TestTime(t *testing.T) {
	// 1739178957508657123 > 2^53 (9007199254740992): a float64 would round it.
	const ns = int64(1739178957508657123)
	tests := []struct {
		name      string
		overrides map[string]any
		want      int64
	}{
		{"RFC 3339 with nanoseconds", nil, time.Date(2025, 3, 1, 10, 0, 0, 123456789, time.UTC).UnixNano()},
		{"evt.time integer nanoseconds", map[string]any{"time": nil, "output_fields": map[string]any{"evt.time": json.Number("1739178957508657123")}}, ns},
		{"evt.time as a string", map[string]any{"time": nil, "output_fields": map[string]any{"evt.time": "1739178957508657123"}}, ns},
		{"time wins over evt.time", map[string]any{"output_fields": map[string]any{"evt.time": json.Number("1")}}, time.Date(2025, 3, 1, 10, 0, 0, 123456789, time.UTC).UnixNano()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := parse(t, alertJSON(t, tt.overrides))
			if got := s.Time.UnixNano(); got != tt.want {
				t.Errorf("time %d, want %d (off by %d ns)", got, tt.want, got-tt.want)
			}
		})
	}
}

func TestAsset(t *testing.T) {
	tests := []struct {
		name      string
		overrides map[string]any
		want      signal.Asset
		attrs     map[string]string
	}{
		{"container in a pod", nil, signal.Asset{Node: "node-1", Namespace: "shop", Pod: "web-0", Container: "web", ContainerID: "0123456789ab",
			Image: "registry.example/shop/web:1.2", ImageDigest: "sha256:abcd"}, map[string]string{"cmdline": "bash -i", "user": "root", "tags": "shell,container"}},
		{"full id wins", map[string]any{"output_fields": map[string]any{"container.id": "0123456789ab", "container.full_id": "0123456789abcdef"}},
			signal.Asset{Node: "node-1", ContainerID: "0123456789abcdef"}, nil},
		{"host is not a container", map[string]any{"output_fields": map[string]any{"container.id": "host", "fd.rip": "203.0.113.5", "fd.rport": 4444}},
			signal.Asset{Node: "node-1"}, map[string]string{"remote": "203.0.113.5:4444"}},
		{"no hostname: evt.hostname", map[string]any{"hostname": nil, "output_fields": map[string]any{"evt.hostname": "node-7"}}, signal.Asset{Node: "node-7"}, nil},
		{"cluster from a sidekick custom field", map[string]any{"output_fields": map[string]any{"cluster": "prod-eu"}}, signal.Asset{Cluster: "prod-eu", Node: "node-1"}, nil},
		{"k8s_audit pod target", map[string]any{"source": "k8s_audit", "hostname": "falco-0", "output_fields": map[string]any{
			"ka.target.namespace": "shop", "ka.target.resource": "pods", "ka.target.name": "web-0", "ka.user.name": "alice", "ka.verb": "create"}},
			signal.Asset{Namespace: "shop", Pod: "web-0"}, map[string]string{"user": "alice", "verb": "create", "falco.hostname": "falco-0"}},
		{"k8s_audit other target", map[string]any{"source": "k8s_audit", "output_fields": map[string]any{
			"ka.target.namespace": "shop", "ka.target.resource": "secrets", "ka.target.name": "db"}},
			signal.Asset{Namespace: "shop", Resource: "secrets/db"}, nil},
		{"uuid is the raw id", map[string]any{"uuid": "3f5bd2c4"}, signal.Asset{Node: "node-1", Namespace: "shop", Pod: "web-0", Container: "web", ContainerID: "0123456789ab",
			Image: "registry.example/shop/web:1.2", ImageDigest: "sha256:abcd"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := parse(t, alertJSON(t, tt.overrides))
			if s.Asset != tt.want {
				t.Errorf("asset\n got  %+v\n want %+v", s.Asset, tt.want)
			}
			for k, v := range tt.attrs {
				if s.Attrs[k] != v {
					t.Errorf("attr %s = %q, want %q", k, s.Attrs[k], v)
				}
			}
			if u, _ := tt.overrides["uuid"].(string); s.Raw.ID != u {
				t.Errorf("raw id %q, want %q", s.Raw.ID, u)
			}
		})
	}
}

func TestHeartbeat(t *testing.T) {
	s := parse(t, alertJSON(t, map[string]any{"rule": MetricsRule, "source": "internal", "priority": "Informational",
		"output_fields": map[string]any{"falco.version": "0.40.0"}}))
	if !s.Heartbeat || s.Finding() || s.ClassUID != signal.ClassApplicationLifecycle || s.Attrs["falco.version"] != "0.40.0" || s.Asset.Node != "node-1" {
		t.Errorf("heartbeat %+v", s)
	}
}

func TestReject(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"no rule", alertJSON(t, map[string]any{"rule": nil}), `missing field "rule"`},
		{"no priority", alertJSON(t, map[string]any{"priority": nil}), `missing field "priority"`},
		{"unknown priority", alertJSON(t, map[string]any{"priority": "Severe"}), `field "priority": unknown Falco priority "Severe"`},
		{"no time", alertJSON(t, map[string]any{"time": nil}), `missing field "time"`},
		{"bad time", alertJSON(t, map[string]any{"time": "today"}), `field "time": "today" is not an RFC 3339 time`},
		{"zero time", alertJSON(t, map[string]any{"time": "0001-01-01T00:00:00Z"}), `field "time"`},
		{"time past year 9999 in UTC", alertJSON(t, map[string]any{"time": "9999-12-31T23:59:59-23:59"}), `field "time"`},
		{"bad evt.time", alertJSON(t, map[string]any{"time": nil, "output_fields": map[string]any{"evt.time": json.Number("1.5e18")}}), `field "output_fields.evt.time"`},
		{"Talon's capital Rule", []byte(`{"Rule":"x","Priority":"Warning"}`), `missing field "time"`},
		{"output_fields is a list", alertJSON(t, map[string]any{"output_fields": []int{1}}), `field "output_fields" has a JSON array`},
		{"not an object", []byte(`"just a string"`), "not a Falco alert"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := sourcetest.CheckRecord(t, Spec, tt.data)
			if err == nil {
				t.Fatalf("accepted %s", tt.data)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("reason %q does not contain %q", err, tt.want)
			}
		})
	}
}

func TestConformanceShared(t *testing.T) {
	sourcetest.Run(t, Spec, sourcetest.Samples(t, "falco", "*")...)
}

func TestConformanceTestdata(t *testing.T) {
	sourcetest.Run(t, Spec, testdata(t)...)
}

// The upstream golden output keeps every nanosecond of its evt.time values.
func TestSharedNanoseconds(t *testing.T) {
	f := sourcetest.Samples(t, "falco", "website_all_alert_lines.jsonl")[0]
	b, err := source.ReadFile(f, Spec, signal.SourceRef{Name: Spec.Type, Type: Spec.Type}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if b.Rejected != 0 || len(b.Signals) != 14 {
		t.Fatalf("%d signals, rejects %+v", len(b.Signals), b.Rejects)
	}
	// Line 1: "time":"2025-02-10T09:15:40.698757000Z", evt.time 1739178940698757000.
	if got := b.Signals[0].Time.UnixNano(); got != 1739178940698757000 {
		t.Errorf("line 1 time %d", got)
	}
}

func testdata(t testing.TB) []string {
	files, err := filepath.Glob("testdata/*.jsonl")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata: %v", err)
	}
	return files
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
	`{"Rule":"x","priority":"Warning","time":"2025-03-01T10:00:00Z"}`,
	`{"rule":"x","RULE":"y","priority":"Warning","time":"2025-03-01T10:00:00Z"}`,
	`{"rule":"x","rule":"y","priority":"Warning","time":"2025-03-01T10:00:00Z"}`,
	`{"rule":"x","priority":"Warning","time":"2025-03-01T10:00:00Z","output_fields":{"proc.name":"a"},"output_fields":{"user.name":"b"}}`,
	`{"rule":"x","priority":"Warning","time":"2025-03-01T10:00:00Z","output_fields":{"proc.name":"a","proc.name":"b","Proc.name":"c"}}`,
	`{"rule":"x","priority":"Warning","time":"2025-03-01T10:00:00Z","output_fields":{"proc\u002ename":"a\tb","user.name":"\u00e9","fd.name":"` + "\xff" + `"}}`,
	`{"r\u0075le":"x","priority":"WARNING","time":"2025-03-01T10:00:00Z"}`,
	`{"rule":"x","priority":"\u0057arning","time":"2025-03-01T10:00:00Z","tags":null,"output_fields":null}`,
	`{"rule":"x","priority":"Warning","time":"2025-03-01T10:00:00Z","tags":[null,"a",null],"uuid":null}`,
	`{"rule":"x","priority":"Warning","time":"2025-03-01T10:00:00Z","tags":[]}`,
	`{"rule":"x","priority":"Warning","time":"2025-03-01T10:00:00Z","tags":[1]}`,
	`{"rule":"x","priority":"Warning","time":1}`,
	`{"rule":"x","priority":"cr\u0130tical","time":"2025-03-01T10:00:00Z"}`,
	`{"rule":"x","priority":"Crıtical","time":"2025-03-01T10:00:00Z"}`,
	`{"rule":"x","priority":"Warning","output_fields":{"evt.time":"1739178957508657123","fd.rip":"1.2.3.4","fd.rport":null}}`,
	`{"rule":"x","priority":"Warning","output_fields":{"evt.time":null}}`,
	`{"rule":"x","priority":"Warning","output_fields":{"evt.time":1.5e18,"container.id":true,"proc.name":[1],"user.name":{"a":1}}}`,
	`{"rule":"x","priority":"Warning","time":"2025-03-01T10:00:00+02:00","source":"k8saudit","output_fields":{"ka.target.resource":"pods"}}`,
	` {"rule":"x","priority":"Warning","time":"2025-03-01T10:00:00Z"} `,
	`{"rule":"x","priority":"Warning","time":"2025-03-01T10:00:00Z"}x`,
	`{"rule":"x","priority":"Warning","time":"2025-03-01T10:00:00Z",}`,
	`{"rule":"x","priority":"Warning","time":"2025-03-01T10:00:00Z","ſource":"internal"}`,
	`{"rule":"x","priority":"Warning","time":"2025-03-01T10:00:00Z","other":[{"deep":[1,2,{"a":null}]}]}`,
	`{"rule":"x","priority":"Warning","time":"0001-01-01T00:00:00Z"}`,
	`{"rule":"x","priority":"Warning","time":"0000-06-01T00:00:00Z"}`,
	`{"rule":"x","priority":"Warning","time":"2024-02-29T23:59:59.999999999Z"}`,
	`{"rule":"x","priority":"Warning","time":"2023-02-29T00:00:00Z"}`,
	`{"rule":"x","priority":"Warning","time":"2025-03-01T10:00:00.1234567891Z"}`,
	`{"rule":"x","priority":"Warning","time":"2025-03-01T1:00:00Z"}`,
	`null`, `[]`, `{}`, `"x"`, ``,
}

// Parse gives what the adapter gave before the scanner, on every sample
// and every tricky record.
func TestSameAsReference(t *testing.T) {
	files := append(testdata(t), sourcetest.SeedFiles("falco", "*.json", "*.jsonl")...)
	recs := sourcetest.Records(t, Spec, files...)
	// The samples take the fast path (the scanner), not the fallback.
	for _, r := range recs {
		var p Parser
		if json.Valid(r) && !p.scan(string(r), new(alert)) {
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
	sourcetest.SameAsReference(t, func() source.Parser { return new(Parser) }, new(refParser), recs, nil)
}

func sameAsReference(t *testing.T, data []byte) {
	t.Helper()
	var p Parser
	var ref refParser
	rec := source.Record{Data: data, File: "f", Line: 1}
	got, err := p.Parse(rec)
	want, wantErr := ref.Parse(rec)
	if fmt.Sprint(err) != fmt.Sprint(wantErr) || !reflect.DeepEqual(got, want) {
		t.Fatalf("%s\n got  %+v %v\n want %+v %v", data, got, err, want, wantErr)
	}
}

func FuzzParse(f *testing.F) {
	files := append(testdata(f), sourcetest.SeedFiles("falco", "*.json", "*.jsonl")...)
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

// priority's ASCII switch and the priorities map agree.
func TestPriorityTable(t *testing.T) {
	for name, want := range priorities {
		for _, v := range []string{name, strings.ToUpper(name), strings.ToUpper(name[:1]) + name[1:]} {
			if got, ok := priority(v); !ok || got != want {
				t.Errorf("%q: %v %v, want %v", v, got, ok, want)
			}
		}
	}
	for _, v := range []string{"", "warn", "criticall", "debug ", "Crıtical", "ſ"} {
		if _, ok := priority(v); ok {
			t.Errorf("%q accepted", v)
		}
	}
}
