package correlate

import (
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"
	"sort"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/kubernetes/scheme"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	"k8s.io/klog/v2"

	"github.com/pulsegate/pulsegate/bench"
	"github.com/pulsegate/pulsegate/pkg/correlate"
	"github.com/pulsegate/pulsegate/pkg/inventory"
	"github.com/pulsegate/pulsegate/pkg/release"
)

// Sizes: a tenth of the target and the target itself.
var shapes = []struct {
	name string
	s    Shape
}{
	{"nodes=500,pods=15000,workloads=20", Shape{Nodes: 500, Pods: 15000, Namespaces: 10, PodsPerDeployment: 30, Pools: 20, Workloads: 20, DaemonSets: 1}},
	{"nodes=5000,pods=150000,workloads=200", Large},
}

var (
	fixtures   = map[string]*fixture{}
	fixturesMu sync.Mutex
)

type fixture struct {
	inv      *inventory.Inventory
	rel      *release.Release
	snapshot []byte
	parsed   *inventory.Inventory // inv as Parse reads it from snapshot
}

func get(b *testing.B, name string, s Shape) *fixture {
	b.Helper()
	fixturesMu.Lock()
	defer fixturesMu.Unlock()
	if f := fixtures[name]; f != nil {
		return f
	}
	inv := Cluster(s)
	f := &fixture{inv: inv, rel: Release(inv, s)}
	fixtures[name] = f
	return f
}

// snapshot writes f's inventory once, on first use.
func (f *fixture) snap() []byte {
	fixturesMu.Lock()
	defer fixturesMu.Unlock()
	if f.snapshot == nil {
		f.snapshot = Snapshot(f.inv)
	}
	return f.snapshot
}

// parsedInv parses f's snapshot once, on first use: the inventory the gate
// correlates against.
func (f *fixture) parsedInv(b *testing.B) *inventory.Inventory {
	snap := f.snap()
	fixturesMu.Lock()
	defer fixturesMu.Unlock()
	if f.parsed == nil {
		inv, err := inventory.Parse(snap, "snapshot.json")
		if err != nil {
			b.Fatal(err)
		}
		f.parsed = inv
	}
	return f.parsed
}

// cpu reports the CPU time per op beside the wall clock: on a shared
// machine it is the steadier of the two.
func cpu(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(bench.CPUTime()-start)/float64(b.N)/1e6, "cpu-ms/op")
}

// BenchmarkCorrelate correlates against the generator's inventory; with
// PULSEGATE_BENCH_PARSED set, also against that inventory as Parse reads it
// from the snapshot (the gate's path; off by default, as writing and
// parsing the 362 MB snapshot takes a while).
func BenchmarkCorrelate(b *testing.B) {
	for _, sh := range shapes {
		f := get(b, sh.name, sh.s)
		b.Run(sh.name+"/impl=pulsegate", func(b *testing.B) { benchCorrelate(b, f.rel, f.inv) })
		if os.Getenv("PULSEGATE_BENCH_PARSED") != "" {
			inv := f.parsedInv(b)
			b.Run(sh.name+"/impl=pulsegate-parsed", func(b *testing.B) { benchCorrelate(b, f.rel, inv) })
		}
		b.Run(sh.name+"/impl=pairwise", func(b *testing.B) {
			b.ReportAllocs()
			b.ResetTimer()
			start := bench.CPUTime()
			var n int
			for i := 0; i < b.N; i++ {
				n = pairwise(f.rel, f.inv)
			}
			cpu(b, start)
			b.ReportMetric(float64(n), "targets")
		})
	}
}

func benchCorrelate(b *testing.B, rel *release.Release, inv *inventory.Inventory) {
	b.ReportAllocs()
	var ls *correlate.LandingSet
	b.ResetTimer()
	start := bench.CPUTime()
	for i := 0; i < b.N; i++ {
		var err error
		if ls, err = correlate.Correlate(rel, inv); err != nil {
			b.Fatal(err)
		}
	}
	cpu(b, start)
	b.ReportMetric(float64(len(ls.Targets)), "targets")
	b.ReportMetric(float64(len(ls.Excluded)), "excluded")
}

func BenchmarkLoadSnapshot(b *testing.B) {
	for _, sh := range shapes {
		f := get(b, sh.name, sh.s)
		f.snap()
		b.Run(sh.name+"/impl=pulsegate", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(f.snapshot)))
			// The live heap an inventory takes, measured once, untimed.
			before := heapInUse()
			inv, err := inventory.Parse(f.snapshot, "snapshot.json")
			if err != nil {
				b.Fatal(err)
			}
			heap := heapInUse() - before
			if len(inv.Pods) != len(f.inv.Pods) {
				b.Fatalf("%d pods, want %d", len(inv.Pods), len(f.inv.Pods))
			}
			goruntime.KeepAlive(inv)
			inv = nil
			b.ResetTimer()
			start := bench.CPUTime()
			for i := 0; i < b.N; i++ {
				if _, err := inventory.Parse(f.snapshot, "snapshot.json"); err != nil {
					b.Fatal(err)
				}
			}
			cpu(b, start)
			b.ReportMetric(float64(heap)/1e6, "heap-MB")
		})
		// Load, the path the gate takes: the snapshot read from a file (in
		// the page cache after the first read) and kept for WriteList
		// instead of copied.
		b.Run(sh.name+"/impl=pulsegate-load-file", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(f.snapshot)))
			path := filepath.Join(b.TempDir(), "snapshot.json")
			if err := os.WriteFile(path, f.snapshot, 0o600); err != nil {
				b.Fatal(err)
			}
			before := heapInUse()
			inv, err := inventory.Load(path)
			if err != nil {
				b.Fatal(err)
			}
			heap := heapInUse() - before
			if len(inv.Pods) != len(f.inv.Pods) {
				b.Fatalf("%d pods, want %d", len(inv.Pods), len(f.inv.Pods))
			}
			goruntime.KeepAlive(inv)
			inv = nil
			b.ResetTimer()
			start := bench.CPUTime()
			for i := 0; i < b.N; i++ {
				if _, err := inventory.Load(path); err != nil {
					b.Fatal(err)
				}
			}
			cpu(b, start)
			b.ReportMetric(float64(heap)/1e6, "heap-MB")
		})
		b.Run(sh.name+"/impl=client-go-deserializer", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(f.snapshot)))
			dec := serializer.NewCodecFactory(scheme.Scheme).UniversalDeserializer()
			before := heapInUse()
			objs, n, err := deserialize(dec, f.snapshot)
			if err != nil {
				b.Fatal(err)
			}
			heap := heapInUse() - before
			if n != len(f.inv.Pods) {
				b.Fatalf("%d pods, want %d", n, len(f.inv.Pods))
			}
			goruntime.KeepAlive(objs)
			objs = nil
			b.ResetTimer()
			start := bench.CPUTime()
			for i := 0; i < b.N; i++ {
				if _, _, err := deserialize(dec, f.snapshot); err != nil {
					b.Fatal(err)
				}
			}
			cpu(b, start)
			b.ReportMetric(float64(heap)/1e6, "heap-MB")
		})
	}
}

// heapInUse is the live heap after a collection.
func heapInUse() uint64 {
	goruntime.GC()
	var m goruntime.MemStats
	goruntime.ReadMemStats(&m)
	return m.HeapAlloc
}

// deserialize decodes the List and every item into its typed object, as
// kubectl does with client-go's scheme, and keeps them as an inventory
// would; it returns them and the number of pods.
func deserialize(dec runtime.Decoder, b []byte) ([]runtime.Object, int, error) {
	obj, _, err := dec.Decode(b, nil, nil)
	if err != nil {
		return nil, 0, err
	}
	list, ok := obj.(*corev1.List)
	if !ok {
		return nil, 0, fmt.Errorf("decoded %T, want *v1.List", obj)
	}
	objs := make([]runtime.Object, 0, len(list.Items))
	pods := 0
	for _, it := range list.Items {
		o, _, err := dec.Decode(it.Raw, nil, nil)
		if err != nil {
			return nil, 0, err
		}
		if _, ok := o.(*corev1.Pod); ok {
			pods++
		}
		objs = append(objs, o)
	}
	return objs, pods, nil
}

// pairwise is the straightforward landing set: every workload checked
// against every node with the scheduler's helpers (as the first version of
// pkg/correlate did), replaced pods found by scanning the namespace's pods
// with the selector, targets de-duplicated in a map.
func pairwise(rel *release.Release, inv *inventory.Inventory) int {
	targets := map[string][]string{}
	var excluded []string
	for _, w := range rel.Workloads {
		ref := w.Ref()
		targets["Namespace//"+w.Namespace] = append(targets["Namespace//"+w.Namespace], ref)
		sel, _ := metav1.LabelSelectorAsSelector(w.Selector)
		for _, p := range inv.PodsInNamespace(w.Namespace) {
			if sel != nil && !sel.Empty() && sel.Matches(labels.Set(p.Labels)) {
				if k, _ := inv.Controller(p); k == w.Kind {
					targets["Pod/"+p.Namespace+"/"+p.Name] = append(targets["Pod/"+p.Namespace+"/"+p.Name], ref)
					targets["Node//"+p.Spec.NodeName] = append(targets["Node//"+p.Spec.NodeName], ref)
				}
			}
		}
		pod := &corev1.Pod{ObjectMeta: w.Template.ObjectMeta, Spec: w.Template.Spec}
		req := nodeaffinity.GetRequiredNodeAffinity(pod)
		for _, name := range inv.NodeNames() {
			n := inv.Nodes[name]
			reason := ""
			if ok, err := req.Match(n); err != nil || !ok {
				reason = "nodeSelector or required node affinity of " + ref + " does not match"
			} else if n.Spec.Unschedulable && w.Kind != "DaemonSet" {
				reason = "cordoned (unschedulable)"
			} else if !inventory.NodeReady(n) && w.Kind != "DaemonSet" {
				reason = "not Ready"
			} else if t, bad := corev1helpers.FindMatchingUntoleratedTaint(klog.Background(), n.Spec.Taints, pod.Spec.Tolerations, func(t *corev1.Taint) bool {
				return t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute
			}, false); bad {
				reason = fmt.Sprintf("taint %s=%s:%s not tolerated", t.Key, t.Value, t.Effect)
			}
			if reason != "" {
				excluded = append(excluded, name+"\x00"+ref+"\x00"+reason)
				continue
			}
			targets["Node//"+name] = append(targets["Node//"+name], ref)
		}
	}
	keys := make([]string, 0, len(targets))
	for k := range targets {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	sort.Strings(excluded)
	return len(keys)
}
