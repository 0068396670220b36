package signal

import (
	"encoding/json"
	"testing"
)

// FuzzParseSeverity: any text either parses to a known severity that
// prints back to itself, or is an error.
func FuzzParseSeverity(f *testing.F) {
	for _, s := range []string{"high", " Critical ", "4", "99", "7", "-1", "4abc", "", "0x4", "+4", "04"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		s, err := ParseSeverity(in)
		if err != nil {
			return
		}
		if _, known := severityNames[s]; !known {
			t.Fatalf("ParseSeverity(%q) = %d, not an OCSF severity", in, s)
		}
		if back, err := ParseSeverity(s.String()); err != nil || back != s {
			t.Errorf("%q: %v does not parse back: %v, %v", in, s, back, err)
		}
	})
}

// FuzzUnmarshal: a Signal read from untrusted JSON never panics, and one
// that reads writes back to JSON that reads to the same time.
func FuzzUnmarshal(f *testing.F) {
	f.Add([]byte(`{"id":"a","time":1796032799123,"time_dt":"2026-11-30T09:59:59.123456789Z","source":{"name":"f","type":"falco"},"class_uid":2004,"severity_id":4,"severity_score":0.75,"asset":{"namespace":"shop","pod":"api-1"},"attrs":{"process":"bash"},"raw":{"file":"x","line":3}}`))
	f.Add([]byte(`{"time":-1}`))
	f.Add([]byte(`{"time_dt":"0001-01-01T00:00:00Z"}`))
	f.Add([]byte(`{"time_dt":"9999-12-31T23:59:59.999999999+14:00"}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var s Signal
		if err := json.Unmarshal(data, &s); err != nil {
			return
		}
		b, err := json.Marshal(s)
		if err != nil {
			return // a time beyond what RFC 3339 can write
		}
		var back Signal
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("%s does not read back: %v", b, err)
		}
		if !back.Time.Equal(s.Time) {
			t.Errorf("time %v became %v through %s", s.Time, back.Time, b)
		}
	})
}
