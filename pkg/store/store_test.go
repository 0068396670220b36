package store

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/pulsegate/pulsegate/pkg/signal"
	"github.com/pulsegate/pulsegate/pkg/source"
	"github.com/pulsegate/pulsegate/pkg/source/builtin"
)

var t0 = time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)

func openTemp(t testing.TB, opts ...Option) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "store.db")
	s, err := Open(path, append([]Option{NoSync()}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, path
}

// demoBatches reads the demo's real telemetry.
func demoBatches(t *testing.T) []*source.Batch {
	t.Helper()
	reg := builtin.Registry()
	var out []*source.Batch
	for _, typ := range []string{"falco", "k8s-audit", "tetragon"} {
		spec, err := reg.Lookup(typ)
		if err != nil {
			t.Fatal(err)
		}
		b, err := source.ReadFile(filepath.Join("..", "..", "examples", "demo", "telemetry", typ+".jsonl"), spec, signal.SourceRef{Name: typ, Type: typ}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(b.Signals) == 0 {
			t.Fatalf("%s: no signals in the demo file", typ)
		}
		out = append(out, b)
	}
	return out
}

func record(t testing.TB, s *Store, b *source.Batch, at time.Time) SourceRecord {
	t.Helper()
	rec, err := s.Record(Read{Source: b.Source, At: at, Signals: b.Signals, Records: b.Records, Rejected: b.Rejected, LastRecord: b.LastRecord, Written: b.Written, MaxAge: 15 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// canon makes Signals comparable: UTC times, nil for empty maps and slices,
// sorted by time and id.
func canon(in []signal.Signal) []signal.Signal {
	out := make([]signal.Signal, len(in))
	for i, s := range in {
		s.Time = s.Time.UTC()
		if len(s.Attrs) == 0 {
			s.Attrs = nil
		}
		if len(s.CVEs) == 0 {
			s.CVEs = nil
		}
		out[i] = s
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].Time.Equal(out[j].Time) {
			return out[i].Time.Before(out[j].Time)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

func dedupe(in []signal.Signal) []signal.Signal {
	seen := map[string]bool{}
	var out []signal.Signal
	for _, s := range in {
		k := s.Time.UTC().String() + s.ID
		if !seen[k] {
			seen[k] = true
			out = append(out, s)
		}
	}
	return out
}

func diffSignals(t *testing.T, what string, got, want []signal.Signal) {
	t.Helper()
	got, want = canon(got), canon(want)
	if len(got) != len(want) {
		t.Fatalf("%s: %d signals, want %d", what, len(got), len(want))
	}
	for i := range got {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Fatalf("%s: signal %d differs\n got %+v\nwant %+v", what, i, got[i], want[i])
		}
	}
}

// unlend undoes what the store adds to a pod's Signal, the node learned from
// another Signal, and returns how many it undid.
func unlend(sigs []signal.Signal) int {
	n := 0
	for i := range sigs {
		if sigs[i].Attrs["node_from"] == "store" {
			delete(sigs[i].Attrs, "node_from")
			sigs[i].Asset.Node = ""
			n++
		}
	}
	return n
}

func TestRoundTripDemo(t *testing.T) {
	s, _ := openTemp(t)
	lent := 0
	for _, b := range demoBatches(t) {
		rec := record(t, s, b, t0)
		want := dedupe(b.Signals)
		if rec.Signals != len(b.Signals) || rec.Stored != len(want) || rec.Records != b.Records {
			t.Errorf("%s: record %+v, want %d signals, %d stored, %d records", b.Source.Name, rec, len(b.Signals), len(want), b.Records)
		}
		got, err := s.Find(Query{Source: b.Source.Name})
		if err != nil {
			t.Fatal(err)
		}
		lent += unlend(got)
		diffSignals(t, b.Source.Name, got, want)
		// Reading the same file again stores nothing new.
		if rec := record(t, s, b, t0.Add(time.Minute)); rec.Stored != 0 || rec.Reads != 2 {
			t.Errorf("%s: second read stored %d, reads %d", b.Source.Name, rec.Stored, rec.Reads)
		}
	}
	// The demo's audit events name the exec'd pod but not its node; Falco
	// named both before them.
	if lent == 0 {
		t.Error("no audit event about a pod got its node from Falco's Signals")
	}
}

func TestCodecRoundTrip(t *testing.T) {
	tests := []signal.Signal{
		{},
		{ID: "a", Time: t0.Add(123456789), ClassUID: 2004, Severity: signal.SeverityCritical, Score: 0.95},
		{ID: "ü", Time: time.Unix(0, 1796029197014376799).UTC(), Heartbeat: true, Native: "Critical",
			Asset: signal.Asset{Cluster: "c", Node: "n", Namespace: "ns", WorkloadKind: "Deployment", Workload: "w", Pod: "p", Container: "x", ContainerID: "cid", Image: "img", ImageDigest: "sha256:ab", CloudResource: "arn:aws:x", Resource: "secrets/s"},
			Rule:  "r\x00nul", Title: strings.Repeat("t", 300), CVEs: []string{"CVE-2024-1", "CVE-2024-2"},
			Attrs:  map[string]string{"b": "2", "a": "1", "": "empty key"},
			Raw:    signal.RawRef{File: "f.jsonl", Line: 12, ID: "rid"},
			Source: signal.SourceRef{Name: "falco-prod", Type: "falco"}, Product: "Falco"},
		{ID: "neg", Time: time.Date(1969, 12, 31, 23, 59, 59, 1, time.UTC), Raw: signal.RawRef{Line: -1}},
		{ID: "far", Time: time.Date(2261, 1, 1, 0, 0, 0, 0, time.UTC)},
	}
	for i, want := range tests {
		b := appendSignal(nil, &want)
		var got signal.Signal
		if err := decodeSignal(b, &got); err != nil {
			t.Fatalf("%d: %v", i, err)
		}
		diffSignals(t, fmt.Sprint(i), []signal.Signal{got}, []signal.Signal{want})
		// Deterministic: attribute order does not matter.
		if b2 := appendSignal(nil, &got); string(b2) != string(b) {
			t.Errorf("%d: encoding not stable", i)
		}
		// Every truncation is an error, never a panic.
		for n := range len(b) {
			if err := decodeSignal(b[:n], &got); err == nil {
				t.Errorf("%d: truncated to %d bytes decoded without error", i, n)
			}
		}
		if err := decodeSignal(append(b, 0), &got); err == nil {
			t.Errorf("%d: trailing byte accepted", i)
		}
	}
}

func FuzzDecodeSignal(f *testing.F) {
	s := signal.Signal{ID: "x", Time: t0, Attrs: map[string]string{"k": "v"}, CVEs: []string{"CVE-1"}}
	f.Add(appendSignal(nil, &s))
	f.Add([]byte{1})
	f.Add([]byte{2, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		var s signal.Signal
		if err := decodeSignal(b, &s); err != nil {
			return
		}
		// What decodes re-encodes to a value that decodes the same.
		var s2 signal.Signal
		if err := decodeSignal(appendSignal(nil, &s), &s2); err != nil {
			t.Fatal(err)
		}
		if a, b := appendSignal(nil, &s), appendSignal(nil, &s2); string(a) != string(b) {
			t.Fatalf("%+v != %+v", s, s2) // bytes: a NaN score is not DeepEqual to itself
		}
	})
}

// synth makes n Signals over the hours after t0: pods on nodes in two
// clusters, some with the node, some without, some with no asset at all.
func synth(n int, seed uint64) []signal.Signal {
	rng := rand.New(rand.NewPCG(seed, 1))
	out := make([]signal.Signal, n)
	for i := range out {
		c := []string{"prod-eu-1", "prod-us-1", ""}[rng.IntN(3)]
		node := fmt.Sprintf("node-%d", rng.IntN(8))
		ns := fmt.Sprintf("ns-%d", rng.IntN(4))
		pod := fmt.Sprintf("pod-%s-%d", node, rng.IntN(5)) // a pod stays on its node
		s := signal.Signal{
			ID: fmt.Sprintf("id-%d", i), Time: t0.Add(time.Duration(rng.Int64N(int64(10 * time.Hour)))),
			Source:   signal.SourceRef{Name: []string{"falco", "tetragon"}[rng.IntN(2)], Type: "falco"},
			ClassUID: 2004, Severity: signal.Severity(1 + rng.IntN(5)), Rule: "rule",
		}
		switch rng.IntN(4) {
		case 0:
			s.Asset = signal.Asset{Cluster: c, Node: node}
		case 1:
			s.Asset = signal.Asset{Cluster: c, Node: node, Namespace: ns, Pod: pod, ImageDigest: "sha256:" + ns}
		case 2:
			s.Asset = signal.Asset{Cluster: c, Namespace: ns, WorkloadKind: "Deployment", Workload: "w-" + ns}
		default:
			s.Heartbeat = true
		}
		out[i] = s
	}
	return out
}

// matches is the reference: what Find must return, by brute force.
func matches(s *signal.Signal, q Query) bool {
	if !q.Since.IsZero() && s.Time.Before(q.Since) || !q.Until.IsZero() && s.Time.After(q.Until) {
		return false
	}
	if q.Source != "" && s.Source.Name != q.Source {
		return false
	}
	a, x := q.Asset, s.Asset
	if a.Kind == 0 {
		return true
	}
	if a.Cluster != "" && x.Cluster != a.Cluster {
		return false
	}
	switch a.Kind {
	case KindNode:
		return x.Node == a.Name
	case KindPod:
		return x.Namespace == a.Namespace && x.Pod == a.Name
	case KindNamespace:
		return x.Namespace == a.Namespace
	case KindWorkload:
		return x.Namespace == a.Namespace && x.WorkloadKind == a.WorkloadKind && x.Workload == a.Name
	case KindImage:
		return x.ImageDigest == a.Name
	}
	return false
}

func TestQueryByAssetAndTime(t *testing.T) {
	s, _ := openTemp(t)
	all := synth(2500, 1)
	for i := 0; i < len(all); i += 400 { // several batches
		if err := s.Put(all[i:min(i+400, len(all))]); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := s.Count(); err != nil || n != len(all) {
		t.Fatalf("Count = %d, %v; want %d", n, err, len(all))
	}
	rng := rand.New(rand.NewPCG(2, 2))
	assets := []Asset{{}, {Kind: KindNode, Name: "node-3"}, {Kind: KindNode, Name: "node-3", Cluster: "prod-eu-1"},
		{Kind: KindPod, Namespace: "ns-1", Name: "pod-node-2-4"}, {Kind: KindPod, Namespace: "ns-1", Name: "pod-node-2-4", Cluster: "prod-us-1"},
		{Kind: KindNamespace, Namespace: "ns-0"}, {Kind: KindWorkload, Namespace: "ns-2", WorkloadKind: "Deployment", Name: "w-ns-2"},
		{Kind: KindImage, Name: "sha256:ns-3"}, {Kind: KindNode, Name: "no-such-node"}, {Kind: KindNode, Name: "node-1", Cluster: "nowhere"}}
	for i := 0; i < 120; i++ {
		q := Query{Asset: assets[i%len(assets)]}
		if rng.IntN(3) > 0 {
			q.Since = t0.Add(time.Duration(rng.Int64N(int64(10 * time.Hour))))
			q.Until = q.Since.Add(time.Duration(rng.Int64N(int64(2 * time.Hour))))
		}
		if i%5 == 0 {
			q.Source = "tetragon"
		}
		if i%7 == 0 && !q.Since.IsZero() {
			q.Until = time.Time{} // open end
		}
		var want []signal.Signal
		for k := range all {
			if matches(&all[k], q) {
				want = append(want, all[k])
			}
		}
		got, err := s.Find(q)
		if err != nil {
			t.Fatal(err)
		}
		diffSignals(t, fmt.Sprintf("query %d %+v", i, q), got, want)
		for k := 1; k < len(got); k++ {
			if got[k].Time.Before(got[k-1].Time) {
				t.Fatalf("query %d: not in time order", i)
			}
		}
	}
	// Both bounds are inclusive, to the nanosecond.
	x := all[42]
	got, err := s.Find(Query{Asset: Asset{Kind: KindSource, Name: x.Source.Name}, Since: x.Time, Until: x.Time})
	if err != nil || len(got) == 0 || !got[0].Time.Equal(x.Time) {
		t.Errorf("exact-time query: %v, %v", got, err)
	}
	// Limit keeps the newest.
	got, _ = s.Find(Query{Limit: 3})
	if len(got) != 3 || !got[2].Time.Equal(canon(all)[len(all)-1].Time) {
		t.Errorf("Limit 3: %d signals, last %v", len(got), got)
	}
}

func TestPodFoundByItsNode(t *testing.T) {
	s, _ := openTemp(t)
	withNode := signal.Signal{ID: "1", Time: t0, Source: signal.SourceRef{Name: "falco"},
		Asset: signal.Asset{Cluster: "c", Node: "ip-10-0-2-22", Namespace: "payments", Pod: "worker-1"}}
	// A later Signal (an audit event) names only the pod.
	podOnly := signal.Signal{ID: "2", Time: t0.Add(time.Minute), Source: signal.SourceRef{Name: "k8s-audit"},
		Asset: signal.Asset{Cluster: "c", Namespace: "payments", Pod: "worker-1"}}
	other := signal.Signal{ID: "3", Time: t0.Add(time.Minute), Source: signal.SourceRef{Name: "k8s-audit"},
		Asset: signal.Asset{Cluster: "other", Namespace: "payments", Pod: "worker-1"}}
	if err := s.Put([]signal.Signal{withNode}); err != nil {
		t.Fatal(err)
	}
	if err := s.Put([]signal.Signal{podOnly, other}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Find(Query{Asset: Asset{Kind: KindNode, Name: "ip-10-0-2-22"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[1].ID != "2" || got[1].Attrs["node_from"] != "store" {
		t.Fatalf("by node: %+v", got)
	}
	if podOnly.Asset.Node != "" || podOnly.Attrs != nil {
		t.Error("Put changed the caller's Signal")
	}
	got, _ = s.Find(Query{Asset: Asset{Kind: KindPod, Namespace: "payments", Name: "worker-1"}})
	if len(got) != 3 {
		t.Fatalf("by pod in any cluster: %d signals, want 3", len(got))
	}
	got, _ = s.Find(Query{Asset: Asset{Kind: KindPod, Cluster: "other", Namespace: "payments", Name: "worker-1"}})
	if len(got) != 1 || got[0].Asset.Node != "" {
		t.Fatalf("the same pod name in another cluster borrowed a node: %+v", got)
	}
}

func TestRestartKeepsEverything(t *testing.T) {
	s, path := openTemp(t)
	batches := demoBatches(t)
	var want []signal.Signal
	for _, b := range batches {
		record(t, s, b, t0)
		want = append(want, dedupe(b.Signals)...)
	}
	if _, err := s.Record(Read{Source: signal.SourceRef{Name: "prometheus", Type: "prometheus"}, At: t0, Err: errors.New("connection refused")}); err != nil {
		t.Fatal(err)
	}
	recs, _ := s.Sources()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Find(Query{}); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("query after Close: %v", err)
	}
	s2, err := Open(path, ReadOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	got, err := s2.Find(Query{})
	if err != nil {
		t.Fatal(err)
	}
	unlend(got)
	diffSignals(t, "after restart", got, want)
	recs2, err := s2.Sources()
	if err != nil || !reflect.DeepEqual(recs, recs2) || len(recs2) != 4 {
		t.Errorf("source records after restart:\n%+v\nwant\n%+v (%v)", recs2, recs, err)
	}
	if err := s2.Put(want[:1]); err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Errorf("Put on a read-only store: %v", err)
	}
}

// indexSize counts index keys, to show that expiry leaves none behind.
func indexSize(t *testing.T, s *Store) int {
	n := 0
	if err := s.view(func(tx *bolt.Tx) error { n = tx.Bucket(bucketIndex).Stats().KeyN; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestExpire(t *testing.T) {
	s, _ := openTemp(t)
	defer func(n int) { expireChunk = n }(expireChunk)
	expireChunk = 500 // several expiry transactions
	all := synth(4000, 3)
	if err := s.Put(all); err != nil {
		t.Fatal(err)
	}
	cut := t0.Add(9 * time.Hour)
	var keep []signal.Signal
	for _, x := range all {
		if !x.Time.Before(cut) {
			keep = append(keep, x)
		}
	}
	n, err := s.Expire(cut)
	if err != nil {
		t.Fatal(err)
	}
	if n != len(all)-len(keep) {
		t.Errorf("expired %d, want %d", n, len(all)-len(keep))
	}
	got, _ := s.Find(Query{})
	diffSignals(t, "after expiry", got, keep)
	// The index holds exactly the entries of what is left.
	s2, _ := openTemp(t)
	if err := s2.Put(keep); err != nil {
		t.Fatal(err)
	}
	if a, b := indexSize(t, s), indexSize(t, s2); a != b {
		t.Errorf("index after expiry: %d keys, a fresh store of the same signals %d", a, b)
	}
	got, _ = s.Find(Query{Asset: Asset{Kind: KindNode, Name: "node-1"}, Until: cut.Add(-time.Nanosecond)})
	if len(got) != 0 {
		t.Errorf("an expired signal is still found by its node: %+v", got[0])
	}
	if n, err := s.Expire(cut); n != 0 || err != nil {
		t.Errorf("second Expire: %d, %v", n, err)
	}
}

func TestCompact(t *testing.T) {
	s, path := openTemp(t)
	all := synth(8000, 4)
	if err := s.Put(all); err != nil {
		t.Fatal(err)
	}
	rec := record(t, s, &source.Batch{Source: signal.SourceRef{Name: "falco", Type: "falco"}, Records: 1}, t0)
	cut := t0.Add(9 * time.Hour)
	if _, err := s.Expire(cut); err != nil {
		t.Fatal(err)
	}
	want, _ := s.Find(Query{})
	before, after, err := s.Compact()
	if err != nil {
		t.Fatal(err)
	}
	if after <= 0 || after >= before/2 {
		t.Errorf("compaction: %d bytes before, %d after; want under half", before, after)
	}
	if st, _ := os.Stat(path); st.Size() != after {
		t.Errorf("file size %d, Compact said %d", st.Size(), after)
	}
	if m, _ := filepath.Glob(path + ".compact-*"); len(m) != 0 {
		t.Errorf("left behind: %v", m)
	}
	got, err := s.Find(Query{})
	if err != nil {
		t.Fatal(err)
	}
	diffSignals(t, "after compaction", got, want)
	if r, ok, _ := s.Source("falco"); !ok || !reflect.DeepEqual(r, rec) {
		t.Errorf("source record after compaction: %+v", r)
	}
	// Still writable, and still the same file after a restart.
	if err := s.Put(synth(10, 5)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(path, ReadOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if n, _ := s2.Count(); n != len(want)+10 {
		t.Errorf("after reopening: %d signals, want %d", n, len(want)+10)
	}
	if _, _, err := s2.Compact(); err == nil {
		t.Error("compacting a read-only store succeeded")
	}
}

func TestConcurrentReadersAndWriter(t *testing.T) {
	s, _ := openTemp(t)
	all := synth(3000, 6)
	node := Asset{Kind: KindNode, Name: "node-2"}
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Go(func() {
		defer close(done)
		for i := 0; i < len(all); i += 300 {
			if err := s.Put(all[i : i+300]); err != nil {
				t.Error(err)
				return
			}
		}
	})
	for r := range 4 {
		wg.Go(func() {
			last := 0
			for {
				select {
				case <-done:
					return
				default:
				}
				got, err := s.Find(Query{Asset: node})
				if err != nil {
					t.Error(err)
					return
				}
				if len(got) < last {
					t.Errorf("reader %d: %d signals after %d: a read saw a write undone", r, len(got), last)
					return
				}
				last = len(got)
				for k := range got {
					if got[k].Asset.Node != "node-2" {
						t.Errorf("reader %d: %+v", r, got[k])
						return
					}
				}
			}
		})
	}
	wg.Wait()
	var want []signal.Signal
	for k := range all {
		if all[k].Asset.Node == "node-2" {
			want = append(want, all[k])
		}
	}
	got, _ := s.Find(Query{Asset: node})
	diffSignals(t, "after the writes", got, want)
}

func TestLocked(t *testing.T) {
	s, path := openTemp(t)
	_ = s
	for _, opts := range [][]Option{{LockTimeout(100 * time.Millisecond)}, {ReadOnly(), LockTimeout(100 * time.Millisecond)}} {
		start := time.Now()
		_, err := Open(path, opts...)
		if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "locked by another process") || !strings.Contains(err.Error(), "100ms") {
			t.Errorf("second open: %v", err)
		}
		if d := time.Since(start); d < 40*time.Millisecond || d > 5*time.Second { // bbolt gives up one 50ms retry early
			t.Errorf("gave up after %s", d)
		}
	}
	if _, err := Open(path, LockTimeout(0)); err == nil {
		t.Error("a zero lock timeout was accepted")
	}
}

func TestBadFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	rng := rand.New(rand.NewPCG(7, 7))
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	// A real store, to damage.
	good := filepath.Join(dir, "good.db")
	s, err := Open(good)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(synth(3000, 8)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	goodBytes, _ := os.ReadFile(good)

	foreign := filepath.Join(dir, "foreign.db")
	db, err := bolt.Open(foreign, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("widgets")); return err })
	db.Close()

	tests := []struct {
		name, path string
		opts       []Option
		want       string
	}{
		{"text file", write("text.db", []byte("hello, this is not a database\n")), nil, "not a pulsegate store, or corrupt"},
		{"json file", write("json.db", []byte(strings.Repeat(`{"a":1}`, 2000))), nil, "not a pulsegate store, or corrupt"},
		{"random 5000 bytes", write("random.db", random(5000)), nil, "not a pulsegate store, or corrupt"},
		{"random 64 KiB", write("random64.db", random(64<<10)), nil, "not a pulsegate store, or corrupt"},
		{"another program's bbolt file", foreign, nil, `a bbolt file of something else (buckets ["widgets"])`},
		{"missing, read-only", filepath.Join(dir, "missing.db"), []Option{ReadOnly()}, "no such file"},
		{"empty, read-only", write("empty.db", nil), []Option{ReadOnly()}, "empty file"},
		{"a folder", dir, nil, "is a directory"},
		{"truncated store", write("trunc.db", goodBytes[:len(goodBytes)/3]), []Option{ReadOnly()}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(tt.path, append(tt.opts, LockTimeout(time.Second))...)
			if err == nil {
				// Opening may succeed on a damaged file; reading must then
				// fail or work, never panic.
				_, err = s.Find(Query{})
				s.Close()
			}
			if tt.want == "" {
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), tt.path) {
				t.Errorf("error %v, want one naming %s and saying %q", err, tt.path, tt.want)
			}
		})
	}
	// Damaged data pages: every outcome but a panic is acceptable.
	for i := range 30 {
		b := append([]byte(nil), goodBytes...)
		for range 20 {
			off := 2*4096 + rng.IntN(len(b)-2*4096)
			b[off] = byte(rng.Uint32())
		}
		p := write(fmt.Sprintf("damaged-%d.db", i), b)
		s, err := Open(p, ReadOnly())
		if err != nil {
			continue
		}
		_, _ = s.Find(Query{})
		_, _ = s.Find(Query{Asset: Asset{Kind: KindNode, Name: "node-1"}})
		_, _ = s.Sources()
		s.Close()
	}
}

func TestHealth(t *testing.T) {
	s, _ := openTemp(t)
	ref := signal.SourceRef{Name: "prometheus", Type: "prometheus"}
	sig := signal.Signal{ID: "1", Time: t0, Source: ref}
	read := func(at time.Time, err error, sigs ...signal.Signal) {
		t.Helper()
		r := Read{Source: ref, At: at, Err: err, Signals: sigs, Records: len(sigs)}
		for _, x := range sigs {
			if x.Time.After(r.LastRecord) {
				r.LastRecord = x.Time
			}
		}
		if _, err := s.Record(r); err != nil {
			t.Fatal(err)
		}
	}
	read(t0.Add(time.Minute), nil, sig)                                                                    // poll at 9:01 found a 9:00 record
	read(t0.Add(30*time.Minute), errors.New("connection refused"))                                         // 9:30 failed
	read(t0.Add(40*time.Minute), nil, signal.Signal{ID: "2", Time: t0.Add(39 * time.Minute), Source: ref}) // 9:40 ok

	tests := []struct {
		now    time.Time
		state  State
		detail string
	}{
		{t0.Add(-time.Minute), Stale, "no record and no write time"},
		{t0.Add(5 * time.Minute), Fresh, "newest record 5m0s ago"},
		{t0.Add(20 * time.Minute), Stale, "newest record 20m0s ago"},
		{t0.Add(35 * time.Minute), Unavailable, "last read failed 2026-11-30T09:30:00Z: connection refused"},
		{t0.Add(45 * time.Minute), Fresh, "last write 5m0s ago"},
	}
	for _, tt := range tests {
		h, _, err := s.Health("prometheus", tt.now)
		if err != nil {
			t.Fatal(err)
		}
		state, _, detail := h.Evaluate(tt.now, 15*time.Minute)
		if state != tt.state || !strings.Contains(detail, tt.detail) {
			t.Errorf("as of %s: %s %q, want %s %q", tt.now.Format("15:04"), state, detail, tt.state, tt.detail)
		}
	}
	h, _, _ := s.Health("never-fetched", t0)
	if st, _, d := h.Evaluate(t0, 0); st != Unavailable || !strings.Contains(d, `no record of source "never-fetched"`) {
		t.Errorf("unknown source: %s %q", st, d)
	}
	// LastRecord survives the expiry of the Signals it came from.
	if _, err := s.Expire(t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	h, _, _ = s.Health("prometheus", t0.Add(45*time.Minute))
	if !h.LastRecord.Equal(t0.Add(39 * time.Minute)) {
		t.Errorf("LastRecord after expiry: %v", h.LastRecord)
	}
}

func TestParseAsset(t *testing.T) {
	tests := []struct {
		in   string
		want Asset
		err  string
	}{
		{"node=ip-10-0-2-22", Asset{Kind: KindNode, Name: "ip-10-0-2-22"}, ""},
		{"pod=payments/api-1", Asset{Kind: KindPod, Namespace: "payments", Name: "api-1"}, ""},
		{"namespace=payments", Asset{Kind: KindNamespace, Namespace: "payments"}, ""},
		{"workload=payments/Deployment/api", Asset{Kind: KindWorkload, Namespace: "payments", WorkloadKind: "Deployment", Name: "api"}, ""},
		{"image=sha256:abc", Asset{Kind: KindImage, Name: "sha256:abc"}, ""},
		{"resource=/nodes/n1", Asset{Kind: KindResource, Name: "nodes/n1"}, ""},
		{"source=falco", Asset{Kind: KindSource, Name: "falco"}, ""},
		{"pod=api-1", Asset{}, "want pod=NAMESPACE/NAME"},
		{"host=x", Asset{}, `unknown kind "host"`},
		{"node", Asset{}, "want KIND=VALUE"},
		{"node=", Asset{}, "want KIND=VALUE"},
	}
	for _, tt := range tests {
		got, err := ParseAsset(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s: error %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%s: %+v, %v", tt.in, got, err)
		}
		if back, _ := ParseAsset(got.String()); back != got {
			t.Errorf("%s: String %q does not parse back", tt.in, got.String())
		}
	}
}

func TestHugeAssetName(t *testing.T) {
	s, _ := openTemp(t)
	huge := strings.Repeat("n", 40<<10) // over bbolt's key limit
	sigs := []signal.Signal{{ID: "1", Time: t0, Source: signal.SourceRef{Name: "falco"}, Asset: signal.Asset{Node: huge, Pod: "p", Namespace: "ns"}}}
	if err := s.Put(sigs); err != nil {
		t.Fatal(err)
	}
	got, err := s.Find(Query{Source: "falco"})
	if err != nil || len(got) != 1 || got[0].Asset.Node != huge {
		t.Fatalf("%d signals, %v", len(got), err)
	}
	if got, _ := s.Find(Query{Asset: Asset{Kind: KindPod, Namespace: "ns", Name: "p"}}); len(got) != 1 {
		t.Errorf("by pod: %d signals", len(got))
	}
}

func FuzzParseAsset(f *testing.F) {
	for _, s := range []string{"node=n", "pod=a/b", "workload=a/Deployment/b", "resource=/nodes/n", "namespace=x", "x=y", "pod=/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAsset(s)
		if err != nil {
			return
		}
		if _, err := a.prefix(); err != nil {
			t.Fatalf("%q parsed to %+v without a prefix: %v", s, a, err)
		}
	})
}

// TestMigrateFormat1 opens testdata/format1.db, the demo's telemetry as
// pulsegate-store/1 (one key per Signal) wrote it: read-only, it is refused
// with what to do; for writing, it is converted in place and holds the
// same Signals and source records.
func TestMigrateFormat1(t *testing.T) {
	orig, err := os.ReadFile(filepath.Join("testdata", "format1.db"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "old.db")
	if err := os.WriteFile(path, orig, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Open(path, ReadOnly())
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), `format "pulsegate-store/1"`) ||
		!strings.Contains(err.Error(), "pulsegate fetch --store "+path) {
		t.Fatalf("read-only open of a format 1 store: %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != string(orig) {
		t.Fatal("a read-only open changed the file")
	}
	s, err := Open(path, NoSync())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// The reference: the same telemetry recorded into a new store.
	ref, _ := openTemp(t)
	batches := demoBatches(t)
	for _, b := range batches {
		record(t, ref, b, t0)
	}
	want, err := ref.Find(Query{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Find(Query{})
	if err != nil {
		t.Fatal(err)
	}
	diffSignals(t, "converted", got, want)
	for _, b := range batches {
		g, _ := s.Find(Query{Source: b.Source.Name})
		w, _ := ref.Find(Query{Source: b.Source.Name})
		diffSignals(t, "converted, by source "+b.Source.Name, g, w)
	}
	node := Asset{Kind: KindNode, Name: "ip-10-0-2-22"}
	g, _ := s.Find(Query{Asset: node})
	w, _ := ref.Find(Query{Asset: node})
	if len(w) == 0 {
		t.Fatal("the demo has no signals about ip-10-0-2-22")
	}
	diffSignals(t, "converted, by node", g, w)
	recs, err := s.Sources()
	if err != nil || len(recs) != 4 {
		t.Fatalf("source records: %+v, %v", recs, err)
	}
	// Reading the same files again stores nothing new.
	for _, b := range batches {
		if rec := record(t, s, b, t0.Add(time.Minute)); rec.Stored != 0 {
			t.Errorf("%s: stored %d again after conversion", b.Source.Name, rec.Stored)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(path, ReadOnly())
	if err != nil {
		t.Fatalf("after conversion: %v", err)
	}
	defer s2.Close()
	if n, _ := s2.Count(); n != len(want) {
		t.Errorf("after conversion: %d signals, want %d", n, len(want))
	}
}

// decodeBlock decodes every Signal of a block value (expired slots left
// out).
func decodeBlock(v []byte) ([]signal.Signal, error) {
	b, err := parseBlock(v)
	if err != nil {
		return nil, err
	}
	d := slotDecoder{blk: &b}
	var out []signal.Signal
	for i := range b.slots {
		sl, err := b.slot(i)
		if err != nil {
			return nil, err
		}
		if len(sl) == 0 {
			continue
		}
		var sg signal.Signal
		if err := d.decode(sl, &sg); err != nil {
			return nil, err
		}
		out = append(out, sg)
	}
	return out, nil
}

func encodeBlock(sigs []signal.Signal) []byte {
	var w blockWriter
	w.reset()
	for i := range sigs {
		w.add(&sigs[i], timeKey(sigs[i].Time))
	}
	return w.bytes()
}

func TestBlockRoundTrip(t *testing.T) {
	var sigs []signal.Signal
	for _, b := range demoBatches(t) {
		sigs = append(sigs, b.Signals...)
	}
	sigs = append(sigs, synth(300, 9)...)
	sigs = append(sigs, signal.Signal{}, signal.Signal{ID: "ü", Time: time.Unix(0, 1796029197014376799).UTC(), Heartbeat: true,
		Rule: "r\x00nul", Title: strings.Repeat("t", 300), CVEs: []string{"CVE-2024-1", "CVE-2024-2", "CVE-2024-1"},
		Attrs: map[string]string{"b": "2", "a": "1", "": "empty key", "long": strings.Repeat("v", 70)},
		Raw:   signal.RawRef{File: "f.jsonl", Line: -12, ID: "rid"}, Score: 0.95, ClassUID: 2004})
	v := encodeBlock(sigs)
	got, err := decodeBlock(v)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(sigs) {
		t.Fatalf("%d signals, want %d", len(got), len(sigs))
	}
	for i := range got {
		diffSignals(t, fmt.Sprint(i), got[i:i+1], sigs[i:i+1])
	}
	// The same Signals one by one take more bytes (1.76 times here; about
	// 5 times bench/store's, which repeat more).
	one := 0
	for i := range sigs {
		one += len(appendSignal(nil, &sigs[i]))
	}
	if len(v)*3/2 > one {
		t.Errorf("block of %d bytes; one by one %d", len(v), one)
	}
	// Every truncation is an error, never a panic.
	for n := range len(v) {
		if _, err := decodeBlock(v[:n]); err == nil {
			t.Errorf("truncated to %d bytes decoded without error", n)
		}
	}
	// Expired slots.
	b, _ := parseBlock(v)
	gone := make([]bool, b.slots)
	for i := range gone {
		gone[i] = i%3 == 0
	}
	kept, err := decodeBlock(b.without(gone))
	if err != nil {
		t.Fatal(err)
	}
	var want []signal.Signal
	for i := range sigs {
		if !gone[i] {
			want = append(want, sigs[i])
		}
	}
	if b2, _ := parseBlock(b.without(gone)); b2.live != len(want) || b2.slots != len(sigs) {
		t.Errorf("after expiry: %d live of %d slots, want %d of %d", b2.live, b2.slots, len(want), len(sigs))
	}
	for i := range kept {
		diffSignals(t, fmt.Sprint("kept ", i), kept[i:i+1], want[i:i+1])
	}
}

func FuzzDecodeBlock(f *testing.F) {
	f.Add(encodeBlock([]signal.Signal{{ID: "x", Time: t0, Attrs: map[string]string{"key": "value"}, CVEs: []string{"CVE-1"}}}))
	f.Add(encodeBlock(synth(5, 1)))
	f.Add([]byte{2, 0, 0, 0})
	f.Add([]byte{2, 1, 1, 1, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, v []byte) {
		sigs, err := decodeBlock(v)
		if err != nil {
			return
		}
		// What decodes re-encodes to a block that decodes the same.
		again, err := decodeBlock(encodeBlock(sigs))
		if err != nil || len(again) != len(sigs) {
			t.Fatalf("%d signals, then %d: %v", len(sigs), len(again), err)
		}
		for i := range sigs {
			if a, b := appendSignal(nil, &sigs[i]), appendSignal(nil, &again[i]); string(a) != string(b) {
				t.Fatalf("%+v != %+v", sigs[i], again[i])
			}
		}
	})
}

// TestExpireMidMinute expires at a time within a minute: the blocks of that
// minute are rewritten without the older Signals, and the index keeps
// exactly the entries of what is left.
func TestExpireMidMinute(t *testing.T) {
	s, _ := openTemp(t)
	all := synth(3000, 12)
	for i := 0; i < len(all); i += 1000 { // several blocks per minute
		if err := s.Put(all[i : i+1000]); err != nil {
			t.Fatal(err)
		}
	}
	for _, cut := range []time.Time{t0.Add(3*time.Hour + 17*time.Second + 5), t0.Add(3*time.Hour + 41*time.Second)} {
		var keep []signal.Signal
		for _, x := range all {
			if !x.Time.Before(cut) {
				keep = append(keep, x)
			}
		}
		if _, err := s.Expire(cut); err != nil {
			t.Fatal(err)
		}
		got, _ := s.Find(Query{})
		diffSignals(t, "after expiry", got, keep)
		if n, _ := s.Count(); n != len(keep) {
			t.Errorf("Count %d, want %d", n, len(keep))
		}
		for _, a := range []Asset{{Kind: KindNode, Name: "node-1"}, {Kind: KindSource, Name: "falco"}} {
			got, _ := s.Find(Query{Asset: a, Since: cut.Add(-time.Minute), Until: cut.Add(time.Minute)})
			var want []signal.Signal
			for i := range keep {
				if q := (Query{Asset: a, Since: cut.Add(-time.Minute), Until: cut.Add(time.Minute)}); matches(&keep[i], q) || a.Kind == KindSource && keep[i].Source.Name == a.Name && matches(&keep[i], Query{Since: q.Since, Until: q.Until}) {
					want = append(want, keep[i])
				}
			}
			diffSignals(t, fmt.Sprint("by ", a), got, want)
		}
		s2, _ := openTemp(t)
		if err := s2.Put(keep); err != nil {
			t.Fatal(err)
		}
		if a, b := indexSize(t, s), indexSize(t, s2); a != b {
			t.Errorf("index after expiry at %s: %d keys, a fresh store of the same signals %d", cut, a, b)
		}
	}
}

// TestFullScanOrder: Each over the whole store is in time order, equal
// times by id, across the blocks of a minute written by several batches.
func TestFullScanOrder(t *testing.T) {
	s, _ := openTemp(t)
	mk := func(id string, d time.Duration) signal.Signal {
		return signal.Signal{ID: id, Time: t0.Add(d), Source: signal.SourceRef{Name: "falco"}}
	}
	for _, batch := range [][]signal.Signal{
		{mk("d", 2), mk("b", 1), mk("z", 5)},
		{mk("c", 1), mk("a", 1), mk("y", 0)},
		{mk("e", 2), mk("a", 3)},
	} {
		if err := s.Put(batch); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	if err := s.Each(Query{}, func(sg *signal.Signal) error {
		got = append(got, fmt.Sprint(sg.Time.Sub(t0).Nanoseconds(), sg.ID))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if want := "[0y 1a 1b 1c 2d 2e 3a 5z]"; fmt.Sprint(got) != want {
		t.Errorf("order %v, want %s", got, want)
	}
}
