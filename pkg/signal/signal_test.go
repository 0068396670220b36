package signal

import (
	"encoding/json"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// ref is 2026-11-30T09:59:59.123456789Z. Its Unix time, 1796032799 s, was
// computed independently with `date -u -d 2026-11-30T09:59:59Z +%s`.
var ref = time.Date(2026, 11, 30, 9, 59, 59, 123456789, time.UTC)

const refUnixMS = 1796032799*1000 + 123

func TestJSONRoundTrip(t *testing.T) {
	cet := time.FixedZone("CET", 3600)
	tests := []struct {
		name   string
		time   time.Time
		wantMS int64
		wantDT string
	}{
		{"utc with nanoseconds", ref, refUnixMS, "2026-11-30T09:59:59.123456789Z"},
		// The same instant written in another zone: time_dt is always UTC.
		{"other zone", ref.In(cet), refUnixMS, "2026-11-30T09:59:59.123456789Z"},
		{"whole second", ref.Truncate(time.Second), 1796032799000, "2026-11-30T09:59:59Z"},
		{"before 1970", time.Date(1969, 12, 31, 23, 59, 59, 500_000_000, time.UTC), -500, "1969-12-31T23:59:59.5Z"},
		{"zero time", time.Time{}, 0, ""},
		// RFC 3339 cannot write year 33658 (found by FuzzUnmarshal): only
		// the milliseconds are written, and they read back.
		{"year beyond 9999", time.UnixMilli(1e15).UTC(), 1e15, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := Signal{
				ID: "abc", Time: tt.time, Source: SourceRef{Name: "falco-prod", Type: "falco"},
				Product: "Falco", ClassUID: ClassDetectionFinding, Severity: SeverityHigh, Score: 0.75,
				Native: "Critical", Asset: Asset{Cluster: "c1", Namespace: "payments", Pod: "api-1"},
				Rule: "Terminal shell in container", CVEs: []string{"CVE-2024-3094"},
				Attrs: map[string]string{"process": "bash"}, Raw: RawRef{File: "f.jsonl", Line: 3},
			}
			b, err := json.Marshal(in)
			if err != nil {
				t.Fatal(err)
			}
			var fields map[string]any
			if err := json.Unmarshal(b, &fields); err != nil {
				t.Fatal(err)
			}
			if got := int64(fields["time"].(float64)); got != tt.wantMS {
				t.Errorf("time = %d, want %d (OCSF milliseconds)", got, tt.wantMS)
			}
			if got := fields["time_dt"]; got != tt.wantDT {
				t.Errorf("time_dt = %v, want %q", got, tt.wantDT)
			}
			for _, k := range []string{"class_uid", "severity_id", "severity_score", "asset", "source"} {
				if _, ok := fields[k]; !ok {
					t.Errorf("field %q missing in %s", k, b)
				}
			}
			if _, ok := fields["Time"]; ok {
				t.Errorf("the Go field Time leaked into JSON: %s", b)
			}
			var out Signal
			if err := json.Unmarshal(b, &out); err != nil {
				t.Fatal(err)
			}
			if !out.Time.Equal(in.Time) {
				t.Errorf("time after round trip = %v, want %v (nanoseconds kept)", out.Time, in.Time)
			}
			out.Time, in.Time = time.Time{}, time.Time{}
			if !reflect.DeepEqual(out, in) {
				t.Errorf("round trip changed the signal:\n got %+v\nwant %+v", out, in)
			}
		})
	}
}

func TestUnmarshalTime(t *testing.T) {
	tests := []struct {
		name    string
		json    string
		want    time.Time
		wantErr string
	}{
		{"time_dt wins over time", `{"time": 1000, "time_dt": "2026-11-30T09:59:59.123456789Z"}`, ref, ""},
		{"time only, milliseconds", `{"time": 1796032799123}`, ref.Truncate(time.Millisecond), ""},
		{"time_dt with offset", `{"time_dt": "2026-11-30T10:59:59.123456789+01:00"}`, ref, ""},
		{"neither", `{"id": "x"}`, time.Time{}, ""},
		{"bad time_dt", `{"time_dt": "yesterday"}`, time.Time{}, "time_dt"},
		{"time of the wrong type", `{"time": "1000"}`, time.Time{}, "cannot unmarshal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s Signal
			err := json.Unmarshal([]byte(tt.json), &s)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !s.Time.Equal(tt.want) {
				t.Errorf("Time = %v, want %v", s.Time, tt.want)
			}
		})
	}
}

func TestParseSeverity(t *testing.T) {
	// Names and numbers from the OCSF 1.1 severity_id enum.
	tests := []struct {
		in      string
		want    Severity
		wantErr bool
	}{
		{"unknown", SeverityUnknown, false},
		{"Informational", SeverityInformational, false},
		{"low", SeverityLow, false},
		{"MEDIUM", SeverityMedium, false},
		{"High", SeverityHigh, false},
		{" critical\n", SeverityCritical, false},
		{"fatal", SeverityFatal, false},
		{"other", SeverityOther, false},
		{"0", SeverityUnknown, false},
		{"1", SeverityInformational, false},
		{"4", SeverityHigh, false},
		{" 5 ", SeverityCritical, false},
		{"6", SeverityFatal, false},
		{"99", SeverityOther, false},
		{"7", 0, true},
		{"98", 0, true},
		{"100", 0, true},
		{"256", 0, true}, // would wrap to 0 as a uint8
		{"355", 0, true}, // would wrap to 99 as a uint8
		{"-1", 0, true},
		{"", 0, true},
		{"severe", 0, true},
		{"4abc", 0, true},
		{"4.5", 0, true},
		{"4 high", 0, true},
	}
	for _, tt := range tests {
		t.Run(strconv.Quote(tt.in), func(t *testing.T) {
			got, err := ParseSeverity(tt.in)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ParseSeverity(%q) = %v, want an error", tt.in, got)
				}
				if !strings.Contains(err.Error(), "unknown severity") {
					t.Errorf("error %q does not say what is wrong", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("ParseSeverity(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestSeverityStringParses(t *testing.T) {
	for s := range 256 {
		sev := Severity(s)
		name := sev.String()
		if _, known := severityNames[sev]; !known {
			if name != "severity("+strconv.Itoa(s)+")" {
				t.Errorf("Severity(%d).String() = %q", s, name)
			}
			continue
		}
		if got, err := ParseSeverity(name); err != nil || got != sev {
			t.Errorf("ParseSeverity(%q) = %v, %v; want %v", name, got, err, sev)
		}
	}
}

func TestAtLeast(t *testing.T) {
	tests := []struct {
		name string
		s    Severity
		min  Severity
		want bool
	}{
		{"high reaches medium", SeverityHigh, SeverityMedium, true},
		{"high reaches high", SeverityHigh, SeverityHigh, true},
		{"medium misses high", SeverityMedium, SeverityHigh, false},
		{"fatal reaches critical", SeverityFatal, SeverityCritical, true},
		{"informational reaches unknown", SeverityInformational, SeverityUnknown, true},
		// Unknown and Other never reach a threshold, not even the lowest,
		// although Other (99) is numerically the largest.
		{"unknown misses unknown", SeverityUnknown, SeverityUnknown, false},
		{"unknown misses informational", SeverityUnknown, SeverityInformational, false},
		{"other misses critical", SeverityOther, SeverityCritical, false},
		{"other misses informational", SeverityOther, SeverityInformational, false},
		{"other misses other", SeverityOther, SeverityOther, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.s.AtLeast(tt.min); got != tt.want {
				t.Errorf("%v.AtLeast(%v) = %v, want %v", tt.s, tt.min, got, tt.want)
			}
		})
	}
}

func TestScoreMonotonic(t *testing.T) {
	prev := -1.0
	for s := SeverityInformational; s <= SeverityFatal; s++ {
		sc := s.Score()
		if sc <= prev || sc < 0 || sc > 1 {
			t.Errorf("%v.Score() = %v after %v: want increasing within 0..1", s, sc, prev)
		}
		prev = sc
	}
	if SeverityUnknown.Score() != 0.1 || SeverityOther.Score() != 0.1 {
		t.Errorf("Unknown and Other score %v and %v, want 0.1 (documented)", SeverityUnknown.Score(), SeverityOther.Score())
	}
}

func TestSetAttr(t *testing.T) {
	t.Run("empty value skipped", func(t *testing.T) {
		var s Signal
		if s.SetAttr("k", "") {
			t.Error("SetAttr kept an empty value")
		}
		if len(s.Attrs) != 0 {
			t.Errorf("Attrs = %v", s.Attrs)
		}
	})
	t.Run("at most MaxAttrs keys", func(t *testing.T) {
		var s Signal
		for i := range MaxAttrs {
			if !s.SetAttr("k"+strconv.Itoa(i), "v") {
				t.Fatalf("attribute %d of %d refused", i+1, MaxAttrs)
			}
		}
		if s.SetAttr("one-too-many", "v") {
			t.Error("attribute MaxAttrs+1 kept")
		}
		if len(s.Attrs) != MaxAttrs {
			t.Errorf("len(Attrs) = %d, want %d", len(s.Attrs), MaxAttrs)
		}
		// Replacing an existing key is still allowed when full.
		if !s.SetAttr("k0", "new") || s.Attrs["k0"] != "new" {
			t.Errorf("replacing k0 when full: Attrs[k0] = %q", s.Attrs["k0"])
		}
	})
	tests := []struct {
		name, in string
		wantLen  int
	}{
		{"short value kept", "bash", 4},
		{"exactly MaxAttrLen kept", strings.Repeat("a", MaxAttrLen), MaxAttrLen},
		{"one byte over cut", strings.Repeat("a", MaxAttrLen+1), MaxAttrLen},
		{"long value cut", strings.Repeat("abc", 1000), MaxAttrLen},
		// 511 ASCII bytes then a 3-byte rune across the limit: the cut must
		// not split the rune (the value would change on a JSON round trip).
		{"cut at a rune boundary", strings.Repeat("a", MaxAttrLen-1) + "€€", MaxAttrLen - 1},
		{"multibyte throughout", strings.Repeat("é", MaxAttrLen), MaxAttrLen},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s Signal
			if !s.SetAttr("k", tt.in) {
				t.Fatal("SetAttr refused")
			}
			got := s.Attrs["k"]
			if len(got) != tt.wantLen {
				t.Errorf("len = %d, want %d", len(got), tt.wantLen)
			}
			if !strings.HasPrefix(tt.in, got) {
				t.Error("the kept value is not a prefix of the given one")
			}
			if !utf8.ValidString(got) {
				t.Errorf("the kept value is not valid UTF-8: ...%q", got[len(got)-4:])
			}
		})
	}
}

func TestMakeID(t *testing.T) {
	// Reference values: printf 'falco\0{"rule":"x"}' | sha256sum | cut -c1-24,
	// and the same for 'tetragon\0' (empty record).
	tests := []struct {
		name, typ, raw, want string
	}{
		{"falco record", "falco", `{"rule":"x"}`, "f1b121eb118ef334b68572e6"},
		{"empty record", "tetragon", "", "cd0fc7681a45e0009a570a63"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := MakeID(tt.typ, []byte(tt.raw)); got != tt.want {
				t.Errorf("MakeID = %s, want %s", got, tt.want)
			}
			if MakeID(tt.typ, []byte(tt.raw)) != MakeID(tt.typ, []byte(tt.raw)) {
				t.Error("MakeID is not stable")
			}
		})
	}
	// The separator keeps the type and the record apart.
	if MakeID("ab", []byte("c")) == MakeID("a", []byte("bc")) {
		t.Error("MakeID(ab, c) == MakeID(a, bc)")
	}
	if MakeID("falco", []byte("x")) == MakeID("tetragon", []byte("x")) {
		t.Error("the same record from two source types has one id")
	}
	// A hot path (every record of every source): one allocation, the id.
	raw := []byte(strings.Repeat(`{"rule":"x"}`, 50))
	if n := testing.AllocsPerRun(100, func() { MakeID("falco", raw) }); n != 1 {
		t.Errorf("MakeID allocates %v times, want 1", n)
	}
}

func TestAssetString(t *testing.T) {
	tests := []struct {
		name string
		a    Asset
		want string
	}{
		{"pod", Asset{Namespace: "payments", Pod: "api-7d9"}, "pod payments/api-7d9"},
		{"pod on node in cluster", Asset{Cluster: "prod", Node: "node-3", Namespace: "payments", Pod: "api-7d9", Container: "api"},
			"pod payments/api-7d9 on node node-3 in cluster prod"},
		{"pod without namespace", Asset{Pod: "api-7d9"}, "pod api-7d9"},
		{"workload", Asset{Namespace: "payments", WorkloadKind: "Deployment", Workload: "api"}, "deployment payments/api"},
		{"workload of unknown kind", Asset{Namespace: "payments", Workload: "api"}, "workload payments/api"},
		{"resource", Asset{Namespace: "payments", Resource: "secrets/db-password"}, "payments/secrets/db-password"},
		{"cluster-scoped resource", Asset{Cluster: "prod", Resource: "clusterroles/admin"}, "clusterroles/admin in cluster prod"},
		{"node", Asset{Cluster: "prod", Node: "node-3"}, "node node-3 in cluster prod"},
		{"namespace", Asset{Namespace: "payments"}, "namespace payments"},
		{"cloud resource", Asset{CloudResource: "arn:aws:s3:::bucket"}, "arn:aws:s3:::bucket"},
		{"image", Asset{Image: "nginx:1.27"}, "image nginx:1.27"},
		{"zero", Asset{}, "unknown asset"},
		{"cluster only", Asset{Cluster: "prod"}, "unknown asset"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.a.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
		})
	}
	if !(Asset{}).IsZero() || (Asset{Node: "n"}).IsZero() {
		t.Error("IsZero is wrong")
	}
}

func TestFinding(t *testing.T) {
	if !(Signal{}).Finding() || (Signal{Heartbeat: true}).Finding() {
		t.Error("Finding should be true for anything but a heartbeat")
	}
}

// TestImportsStandardLibraryOnly keeps pkg/signal the leaf that DESIGN.md
// says it is.
func TestImportsStandardLibraryOnly(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		af, err := parser.ParseFile(fset, f, src, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, im := range af.Imports {
			p, _ := strconv.Unquote(im.Path.Value)
			if first, _, _ := strings.Cut(p, "/"); strings.Contains(first, ".") {
				t.Errorf("%s imports %s: pkg/signal may import only the standard library", f, p)
			}
		}
	}
}
