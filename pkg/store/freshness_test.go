package store

import (
	"errors"
	"testing"
	"time"
)

func TestEvaluate(t *testing.T) {
	now := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	tests := []struct {
		name       string
		h          Health
		maxAge     time.Duration
		wantState  State
		wantAge    time.Duration
		wantDetail string
	}{
		{"fresh record", Health{LastRecord: ago(5 * time.Minute)}, 15 * time.Minute,
			Fresh, 5 * time.Minute, "newest record 5m0s ago (maximum age 15m0s)"},
		{"stale record, age in the detail", Health{LastRecord: ago(20 * time.Minute)}, 15 * time.Minute,
			Stale, 20 * time.Minute, "newest record 20m0s ago, older than the maximum age 15m0s"},
		{"exactly the maximum age is fresh", Health{LastRecord: ago(15 * time.Minute)}, 15 * time.Minute,
			Fresh, 15 * time.Minute, "newest record 15m0s ago (maximum age 15m0s)"},
		{"a nanosecond over is stale", Health{LastRecord: ago(15*time.Minute + 1)}, 15 * time.Minute,
			Stale, 15*time.Minute + 1, "newest record 15m0s ago, older than the maximum age 15m0s"},
		{"unavailable", Health{Err: errors.New("cannot read falco.jsonl: permission denied")}, 15 * time.Minute,
			Unavailable, 0, "cannot read falco.jsonl: permission denied"},
		{"unavailable even with records", Health{LastRecord: ago(time.Minute), Err: errors.New("timeout")}, 15 * time.Minute,
			Unavailable, 0, "timeout"},
		{"a later write time wins over older records", Health{LastRecord: ago(40 * time.Minute), Written: ago(2 * time.Minute)}, 15 * time.Minute,
			Fresh, 2 * time.Minute, "last write 2m0s ago (maximum age 15m0s)"},
		{"newer records win over an older write time", Health{LastRecord: ago(3 * time.Minute), Written: ago(30 * time.Minute)}, 15 * time.Minute,
			Fresh, 3 * time.Minute, "newest record 3m0s ago (maximum age 15m0s)"},
		{"write time alone", Health{Written: ago(20 * time.Minute)}, 15 * time.Minute,
			Stale, 20 * time.Minute, "last write 20m0s ago, older than the maximum age 15m0s"},
		// A replay: the file was written after the evaluation time, so its
		// write time proves nothing about then.
		{"write after now ignored", Health{LastRecord: ago(20 * time.Minute), Written: now.Add(time.Hour)}, 15 * time.Minute,
			Stale, 20 * time.Minute, "newest record 20m0s ago, older than the maximum age 15m0s"},
		{"write at now counts", Health{LastRecord: ago(20 * time.Minute), Written: now}, 15 * time.Minute,
			Fresh, 0, "last write 0s ago (maximum age 15m0s)"},
		{"write after now and no records", Health{Written: now.Add(time.Second)}, 15 * time.Minute,
			Stale, 0, "no record and no write time: nothing shows the source is alive"},
		{"no evidence at all", Health{}, 15 * time.Minute,
			Stale, 0, "no record and no write time: nothing shows the source is alive"},
		{"default maximum age, fresh", Health{LastRecord: ago(14 * time.Minute)}, 0,
			Fresh, 14 * time.Minute, "newest record 14m0s ago (maximum age 15m0s)"},
		{"default maximum age, stale", Health{LastRecord: ago(16 * time.Minute)}, 0,
			Stale, 16 * time.Minute, "newest record 16m0s ago, older than the maximum age 15m0s"},
		{"negative maximum age means the default", Health{LastRecord: ago(16 * time.Minute)}, -time.Minute,
			Stale, 16 * time.Minute, "newest record 16m0s ago, older than the maximum age 15m0s"},
		{"record in the future counts as now", Health{LastRecord: now.Add(time.Minute)}, 15 * time.Minute,
			Fresh, 0, "newest record 0s ago (maximum age 15m0s)"},
		{"under a minute: milliseconds", Health{LastRecord: ago(1234567 * time.Microsecond)}, time.Minute,
			Fresh, 1234567 * time.Microsecond, "newest record 1.235s ago (maximum age 1m0s)"},
		{"over a minute: seconds", Health{LastRecord: ago(time.Hour + 2*time.Minute + 3456*time.Millisecond)}, time.Hour,
			Stale, time.Hour + 2*time.Minute + 3456*time.Millisecond, "newest record 1h2m3s ago, older than the maximum age 1h0m0s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			state, age, detail := tt.h.Evaluate(now, tt.maxAge)
			if state != tt.wantState || age != tt.wantAge || detail != tt.wantDetail {
				t.Errorf("Evaluate = %s, %v, %q\n        want %s, %v, %q", state, age, detail, tt.wantState, tt.wantAge, tt.wantDetail)
			}
		})
	}
}

func TestEvaluateNeverNoData(t *testing.T) {
	// NoData is decided by matching, later; Evaluate never returns it.
	now := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	for _, d := range []time.Duration{0, time.Second, time.Hour, 1000 * time.Hour} {
		for _, h := range []Health{{LastRecord: now.Add(-d)}, {Written: now.Add(-d)}, {}} {
			if s, age, _ := h.Evaluate(now, 0); s == NoData || age < 0 {
				t.Errorf("%+v: state %s, age %v", h, s, age)
			}
		}
	}
}
