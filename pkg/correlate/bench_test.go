package correlate

import (
	"fmt"
	"math/rand/v2"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/pulsegate/pulsegate/pkg/release"
	"github.com/pulsegate/pulsegate/pkg/signal"
)

var benchSizes = []struct{ nodes, pods int }{
	{100, 3000},
	{1000, 30000},
}

// benchCluster is a generated cluster of the given size with 20
// namespaces and 300 apps (about 10 pods each at 3000 pods), and a release
// of four workloads with the usual placement rules.
func benchCluster(nodes, pods int) (cluster, *release.Release) {
	r := rand.New(rand.NewPCG(uint64(nodes), uint64(pods)))
	var nss, apps []string
	for i := range 20 {
		nss = append(nss, fmt.Sprintf("ns-%02d", i))
	}
	for i := range 300 {
		apps = append(apps, fmt.Sprintf("app-%03d", i))
	}
	c := genClusterOf(r, nodes, pods, nss, apps)
	rl := rel(
		workload("Deployment", "ns-00", "app-001", nodeSelector("pool", "payments"),
			tolerate("dedicated", corev1.TolerationOpEqual, "a", corev1.TaintEffectNoSchedule)),
		workload("StatefulSet", "ns-01", "app-002", serviceAccount("app-002")),
		workload("DaemonSet", "ns-02", "app-003", tolerate("", corev1.TolerationOpExists, "", "")),
		workload("Deployment", "ns-03", "app-004", requireNode("zone", corev1.NodeSelectorOpIn, "z1", "z2")),
	)
	return c, rl
}

func BenchmarkCorrelate(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(fmt.Sprintf("nodes=%d/pods=%d", size.nodes, size.pods), func(b *testing.B) {
			c, rl := benchCluster(size.nodes, size.pods)
			inv := c.inventory()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := Correlate(rl, inv); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkMatchAll matches 10000 signals (assets naming pods, container
// ids, nodes and namespaces of the cluster, or things it lacks).
func BenchmarkMatchAll(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(fmt.Sprintf("nodes=%d/pods=%d", size.nodes, size.pods), func(b *testing.B) {
			c, rl := benchCluster(size.nodes, size.pods)
			inv := c.inventory()
			ls, err := Correlate(rl, inv)
			if err != nil {
				b.Fatal(err)
			}
			r := rand.New(rand.NewPCG(3, 3))
			sigs := make([]signal.Signal, 10000)
			for i := range sigs {
				sigs[i].Asset = genAsset(r, c)
			}
			m := NewMatcher(ls, inv, "prod")
			b.ReportAllocs()
			b.ResetTimer()
			n := 0
			for b.Loop() {
				n = len(m.MatchAll(sigs))
			}
			b.ReportMetric(float64(n), "matches")
			b.ReportMetric(float64(len(ls.Targets)), "targets")
		})
	}
}
