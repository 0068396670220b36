package feature_test

import (
	"fmt"
	"slices"
	"time"

	"github.com/pulsegate/pulsegate/pkg/feature"
	"github.com/pulsegate/pulsegate/pkg/signal"
)

// Cut a small history into 10-minute windows: a pod's signals count for
// the pod and for its node.
func ExampleWindows() {
	at := func(min int) time.Time { return time.Date(2026, 11, 30, 9, min, 0, 0, time.UTC) }
	pod := signal.Asset{Namespace: "shop", Pod: "api-1", Node: "n1"}
	sigs := []signal.Signal{
		{Time: at(1), ClassUID: signal.ClassProcessActivity, Asset: pod, Attrs: map[string]string{"binary": "/app/server"}},
		{Time: at(12), ClassUID: signal.ClassProcessActivity, Asset: pod, Attrs: map[string]string{"binary": "/app/server"}},
		{Time: at(13), ClassUID: signal.ClassProcessActivity, Asset: pod, Attrs: map[string]string{"binary": "/usr/bin/curl"}},
		{Time: at(14), ClassUID: signal.ClassNetworkActivity, Asset: pod, Attrs: map[string]string{"direction": "EGRESS", "egress_world": "true", "dst_ip": "203.0.113.7", "dst_port": "443"}},
	}
	ws, err := feature.Windows(sigs, feature.WindowOptions{Size: 10 * time.Minute})
	if err != nil {
		panic(err)
	}
	col := func(name string) int { return slices.Index(feature.Names, name) }
	for _, w := range ws {
		fmt.Printf("%s %s: binaries %v, new %v, world egress %v\n", w.Start.Format("15:04"), w.Asset,
			w.Vector[col("distinct_binaries")], w.Vector[col("new_binaries")], w.Vector[col("egress_world")])
	}
	// Output:
	// 09:00 Node n1: binaries 1, new 1, world egress 0
	// 09:00 Pod shop/api-1: binaries 1, new 1, world egress 0
	// 09:10 Node n1: binaries 2, new 1, world egress 1
	// 09:10 Pod shop/api-1: binaries 2, new 1, world egress 1
}
