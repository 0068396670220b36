// Package v1 is pkg/store as it was before blocks (format pulsegate-store/1:
// one bbolt key per Signal, index keys per asset then minute), copied
// unchanged from commit 69fdfb8 but for this comment and the package name,
// as the peer of bench/store. Not for use elsewhere.
//
// Original comment: pulsegate's local cache of Signals, indexed by asset and
// time, and the record of how fresh each source is. This file holds the
// freshness rules; the rest of the package the cache itself.
package v1

import (
	"fmt"
	"time"
)

// State is a source's state at evaluation time.
type State string

// Source states. They are distinct on purpose: a quiet source is not a
// broken one.
const (
	// Fresh: alive within its maximum age, and it has records about the
	// release's targets.
	Fresh State = "fresh"
	// NoData: alive within its maximum age, but nothing it reported
	// concerns the release's targets. Not a reason to block.
	NoData State = "no_data"
	// Stale: the newest evidence that the source is alive is older than
	// its maximum age.
	Stale State = "stale"
	// Unavailable: it could not be read at all (error, timeout, missing).
	Unavailable State = "unavailable"
)

// DefaultMaxAge is a source's maximum age unless configured.
const DefaultMaxAge = 15 * time.Minute

// Health is what is known about a source's liveness.
type Health struct {
	// LastRecord is the newest record time (heartbeats included) at or
	// before the evaluation time.
	LastRecord time.Time
	// Written is when the source last wrote its file, or the time of the
	// last successful poll; zero when unknown.
	Written time.Time
	// Err is why the source could not be read; nil when it was.
	Err error
}

// Evaluate returns the source's liveness state at now (Fresh or Stale or
// Unavailable; NoData is decided later by matching), the age of the newest
// evidence, and a sentence that explains it. A file written after now (a
// replay of older telemetry) is no evidence for now and is ignored.
func (h Health) Evaluate(now time.Time, maxAge time.Duration) (State, time.Duration, string) {
	if h.Err != nil {
		return Unavailable, 0, h.Err.Error()
	}
	if maxAge <= 0 {
		maxAge = DefaultMaxAge
	}
	last, what := h.LastRecord, "newest record"
	if !h.Written.IsZero() && !h.Written.After(now) && h.Written.After(last) {
		last, what = h.Written, "last write"
	}
	if last.IsZero() {
		return Stale, 0, "no record and no write time: nothing shows the source is alive"
	}
	age := now.Sub(last)
	if age < 0 {
		age = 0
	}
	if age > maxAge {
		return Stale, age, fmt.Sprintf("%s %s ago, older than the maximum age %s", what, round(age), maxAge)
	}
	return Fresh, age, fmt.Sprintf("%s %s ago (maximum age %s)", what, round(age), maxAge)
}

func round(d time.Duration) time.Duration {
	if d > time.Minute {
		return d.Round(time.Second)
	}
	return d.Round(time.Millisecond)
}
