// Package store benchmarks pulsegate's signal store (pkg/store) on one core:
// batched writes, and a query for one asset over one hour among up to
// 1,000,000 stored Signals, each beside a peer measured in the same run
// (writes: the previous design of the store, package v1, and the same
// Signals JSON-encoded into one bbolt bucket keyed by id;
// queries: a scan of the same Signals held in memory, as the gate does with
// files, and a full scan of the store). See ../README.md for figures. The
// 1,000,000-Signal store is built only by the benchmarks; TestQuerySmall
// checks the query against the scan on a small store.
package store

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/pulsegate/pulsegate/bench/store/v1"
	"github.com/pulsegate/pulsegate/pkg/signal"
	"github.com/pulsegate/pulsegate/pkg/store"
)

var t0 = time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)

// The synthetic cluster: 200 nodes, 10 pods each, 20 namespaces; Signals
// spread evenly over 24 hours from 3 sources. 60% are about a pod on its
// node, 20% about a node, 15% about a workload, 5% heartbeats. Attributes
// follow a Falco alert's (process, user, container, file).
const (
	nodes  = 200
	perPod = 10
	spread = 24 * time.Hour
)

func gen(n int, seed uint64, from time.Time, span time.Duration) []signal.Signal {
	rng := rand.New(rand.NewPCG(seed, 42))
	out := make([]signal.Signal, n)
	srcs := []signal.SourceRef{{Name: "falco", Type: "falco"}, {Name: "tetragon", Type: "tetragon"}, {Name: "k8s-audit", Type: "k8s-audit"}}
	for i := range out {
		node := rng.IntN(nodes)
		ns := fmt.Sprintf("team-%02d", rng.IntN(20))
		s := signal.Signal{
			ID:       fmt.Sprintf("%016x%08x", seed, i),
			Time:     from.Add(time.Duration(rng.Int64N(int64(span)))),
			Source:   srcs[rng.IntN(3)],
			Product:  "Falco",
			ClassUID: signal.ClassDetectionFinding, Severity: signal.Severity(1 + rng.IntN(5)), Score: 0.45,
			Native: "Warning", Rule: "Terminal shell in container",
			Title: "A shell was spawned in a container with an attached terminal",
			Attrs: map[string]string{"proc.cmdline": "bash -il", "proc.pname": "runc", "user.name": "root",
				"container.name": "app", "fd.name": "/etc/shadow", "evt.type": "execve"},
			Raw: signal.RawRef{File: "/var/log/falco/events.jsonl", Line: i + 1},
		}
		switch r := rng.IntN(100); {
		case r < 60:
			s.Asset = signal.Asset{Cluster: "prod-eu-1", Node: fmt.Sprintf("ip-10-0-%d-%d", node/250, node%250),
				Namespace: ns, Pod: fmt.Sprintf("app-%d-%d", node, rng.IntN(perPod)), Container: "app",
				ContainerID: "3f2a9c1b7d4e", Image: "registry.example/app:1.4.2", ImageDigest: "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}
		case r < 80:
			s.Asset = signal.Asset{Cluster: "prod-eu-1", Node: fmt.Sprintf("ip-10-0-%d-%d", node/250, node%250)}
		case r < 95:
			s.Asset = signal.Asset{Cluster: "prod-eu-1", Namespace: ns, WorkloadKind: "Deployment", Workload: "api"}
		default:
			s.Heartbeat, s.Attrs = true, nil
		}
		out[i] = s
	}
	return out
}

// The queried asset: one node, over one hour in the middle of the day.
var (
	qNode  = "ip-10-0-0-17"
	qSince = t0.Add(12 * time.Hour)
	qUntil = qSince.Add(time.Hour)
)

// scan is the in-memory peer: what the gate does with Signals read from
// files.
func scan(all []signal.Signal) int {
	n := 0
	for i := range all {
		s := &all[i]
		if s.Asset.Node == qNode && !s.Time.Before(qSince) && !s.Time.After(qUntil) {
			n++
		}
	}
	return n
}

type fixture struct {
	path string
	st   *store.Store
	all  []signal.Signal
}

var (
	fixMu    sync.Mutex
	fixtures = map[int]*fixture{}
	tmpRoot  string
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "pulsegate-bench-store-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	tmpRoot = dir
	code := m.Run()
	for _, f := range fixtures {
		_ = f.st.Close()
	}
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// stored returns a store holding n generated Signals, built once per
// process in batches of 10,000.
func stored(tb testing.TB, n int) *fixture {
	fixMu.Lock()
	defer fixMu.Unlock()
	if f, ok := fixtures[n]; ok {
		return f
	}
	path := filepath.Join(tmpRoot, fmt.Sprintf("store-%d.db", n))
	st, err := store.Open(path, store.NoSync())
	if err != nil {
		tb.Fatal(err)
	}
	all := gen(n, 1, t0, spread)
	for i := 0; i < n; i += 10000 {
		if err := st.Put(all[i:min(i+10000, n)]); err != nil {
			tb.Fatal(err)
		}
	}
	f := &fixture{path: path, st: st, all: all}
	fixtures[n] = f
	return f
}

func TestQuerySmall(t *testing.T) {
	f := stored(t, 20000)
	got, err := f.st.Find(store.Query{Asset: store.Asset{Kind: store.KindNode, Name: qNode}, Since: qSince, Until: qUntil})
	if err != nil {
		t.Fatal(err)
	}
	if want := scan(f.all); len(got) != want || want == 0 {
		t.Fatalf("store found %d, the scan %d", len(got), want)
	}
	for _, s := range got {
		if s.Asset.Node != qNode || s.Time.Before(qSince) || s.Time.After(qUntil) {
			t.Fatalf("wrong signal %+v", s)
		}
	}
}

// BenchmarkQuery: one node over one hour. "store" is store.Find (the index
// range, then each Signal decoded), "memory-scan" a loop over the same
// Signals in a slice, "store-full-scan" every stored Signal decoded and
// filtered. Run with -cpu 1.
func BenchmarkQuery(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		f := stored(b, n)
		want := scan(f.all)
		q := store.Query{Asset: store.Asset{Kind: store.KindNode, Name: qNode}, Since: qSince, Until: qUntil}
		b.Run(fmt.Sprintf("n=%d/store", n), func(b *testing.B) {
			measure(b, func() {
				got, err := f.st.Find(q)
				if err != nil || len(got) != want {
					b.Fatalf("found %d (want %d): %v", len(got), want, err)
				}
			})
			b.ReportMetric(float64(want), "signals/query")
		})
		b.Run(fmt.Sprintf("n=%d/memory-scan", n), func(b *testing.B) {
			measure(b, func() {
				if got := scan(f.all); got != want {
					b.Fatal(got)
				}
			})
		})
		if n <= 100_000 || testing.Short() {
			continue
		}
		b.Run(fmt.Sprintf("n=%d/store-full-scan", n), func(b *testing.B) {
			measure(b, func() {
				got := 0
				err := f.st.Each(store.Query{}, func(s *signal.Signal) error {
					if s.Asset.Node == qNode && !s.Time.Before(qSince) && !s.Time.After(qUntil) {
						got++
					}
					return nil
				})
				if err != nil || got != want {
					b.Fatalf("found %d (want %d): %v", got, want, err)
				}
			})
		})
	}
}

// BenchmarkWrite writes batches of new Signals into a store that already
// holds 100,000. "store" is store.Put (blocks and index entries, one
// transaction per batch); "store-v1" the previous design, format
// pulsegate-store/1 (package v1: one bbolt key per Signal, index keys per
// asset then minute), the same way; "bbolt-json" the same Signals
// JSON-encoded into one bbolt bucket keyed by id, one transaction per
// batch, no index. "sync" commits with fsync (the store's default),
// "nosync" without.
func BenchmarkWrite(b *testing.B) {
	for _, batch := range []int{1_000, 10_000, 50_000} {
		for _, sync := range []bool{true, false} {
			mode := "nosync"
			if sync {
				mode = "sync"
			}
			b.Run(fmt.Sprintf("batch=%d/%s/store", batch, mode), func(b *testing.B) {
				dir := b.TempDir()
				opts := []store.Option{}
				if !sync {
					opts = append(opts, store.NoSync())
				}
				st, err := store.Open(filepath.Join(dir, "s.db"), opts...)
				if err != nil {
					b.Fatal(err)
				}
				defer st.Close()
				if err := st.Put(gen(100_000, 2, t0, spread)); err != nil {
					b.Fatal(err)
				}
				batches := fresh(batch)
				k := 0
				measureN(b, batch, func() {
					next := batches[k%len(batches)]
					k++
					if err := st.Put(next); err != nil {
						b.Fatal(err)
					}
					advance(next, len(batches))
				})
			})
			b.Run(fmt.Sprintf("batch=%d/%s/store-v1", batch, mode), func(b *testing.B) {
				opts := []v1.Option{}
				if !sync {
					opts = append(opts, v1.NoSync())
				}
				st, err := v1.Open(filepath.Join(b.TempDir(), "v1.db"), opts...)
				if err != nil {
					b.Fatal(err)
				}
				defer st.Close()
				if err := st.Put(gen(100_000, 2, t0, spread)); err != nil {
					b.Fatal(err)
				}
				batches := fresh(batch)
				k := 0
				measureN(b, batch, func() {
					next := batches[k%len(batches)]
					k++
					if err := st.Put(next); err != nil {
						b.Fatal(err)
					}
					advance(next, len(batches))
				})
			})
			b.Run(fmt.Sprintf("batch=%d/%s/bbolt-json", batch, mode), func(b *testing.B) {
				db, err := bolt.Open(filepath.Join(b.TempDir(), "j.db"), 0o600, &bolt.Options{NoSync: !sync})
				if err != nil {
					b.Fatal(err)
				}
				defer db.Close()
				bucket := []byte("signals")
				put := func(sigs []signal.Signal) {
					err := db.Update(func(tx *bolt.Tx) error {
						bk, err := tx.CreateBucketIfNotExists(bucket)
						if err != nil {
							return err
						}
						for i := range sigs {
							v, err := json.Marshal(&sigs[i])
							if err != nil {
								return err
							}
							if err := bk.Put([]byte(sigs[i].ID), v); err != nil {
								return err
							}
						}
						return nil
					})
					if err != nil {
						b.Fatal(err)
					}
				}
				put(gen(100_000, 2, t0, spread))
				batches := fresh(batch)
				k := 0
				measureN(b, batch, func() {
					next := batches[k%len(batches)]
					k++
					put(next)
					advance(next, len(batches))
				})
			})
		}
	}
}

// fresh returns 8 batches of n new Signals, each from one minute of
// telemetry after the prefilled day, as polls bring them.
func fresh(n int) [][]signal.Signal {
	out := make([][]signal.Signal, 8)
	for i := range out {
		out[i] = gen(n, uint64(10+i), t0.Add(spread+time.Duration(i)*time.Minute), time.Minute)
	}
	return out
}

// advance moves a written batch k minutes on, so that it is new again the
// next time round (the same ids at later times: new keys for the store;
// the JSON peer, keyed by id, overwrites).
func advance(sigs []signal.Signal, k int) {
	for j := range sigs {
		sigs[j].Time = sigs[j].Time.Add(time.Duration(k) * time.Minute)
	}
}

func measure(b *testing.B, pass func()) { measureN(b, 0, pass) }

// measureN runs pass b.N times and reports, besides ns/op, the CPU time per
// pass (cpu-us/op) and, when perPass is set, Signals per second by the wall
// clock and by CPU time.
func measureN(b *testing.B, perPass int, pass func()) {
	b.ReportAllocs()
	runtime.GC()
	b.ResetTimer()
	cpu := cpuTime()
	for b.Loop() {
		pass()
	}
	cpu = cpuTime() - cpu
	b.StopTimer()
	if b.N == 0 {
		return
	}
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-us/op")
	if perPass > 0 {
		n := float64(b.N) * float64(perPass)
		b.ReportMetric(n/b.Elapsed().Seconds(), "signals/s")
		if cpu > 0 {
			b.ReportMetric(n/cpu.Seconds(), "cpu-signals/s")
		}
	}
}

// cpuTime is the process's user and system CPU time (as bench.CPUTime,
// not imported to stay clear of golearn's dependencies).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
