// Package normalize benchmarks pulsegate's parse-and-normalize path on one
// core for the high-volume sources (Falco lines, Kubernetes audit lines and
// Hubble flows) beside a plain encoding/json decode of the same bytes into
// map[string]any, measured in the same run. See ../README.md for figures.
package normalize

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/pulsegate/pulsegate/pkg/signal"
	"github.com/pulsegate/pulsegate/pkg/source"
	"github.com/pulsegate/pulsegate/pkg/source/falco"
	"github.com/pulsegate/pulsegate/pkg/source/hubble"
	"github.com/pulsegate/pulsegate/pkg/source/k8saudit"
	"github.com/pulsegate/pulsegate/pkg/source/sourcetest"
)

// corpus is one source's records as JSON lines.
type corpus struct {
	spec    source.Spec
	lines   []byte
	records int
}

func glob(b *testing.B, patterns ...string) []string {
	var out []string
	for _, p := range patterns {
		m, err := filepath.Glob(p)
		if err != nil {
			b.Fatal(err)
		}
		out = append(out, m...)
	}
	return out
}

// load reads the package testdata and the shared samples of a source,
// compacts every record onto one line, and repeats the lot until it holds
// at least minBytes, so that each pass does a steady amount of work.
func load(b *testing.B, spec source.Spec, files []string, minBytes int) corpus {
	recs := sourcetest.Records(b, spec, files...)
	var one bytes.Buffer
	for _, r := range recs {
		if err := json.Compact(&one, r); err != nil {
			continue // a record the reader splits but that is not JSON: not benchmark input
		}
		one.WriteByte('\n')
	}
	n := bytes.Count(one.Bytes(), []byte{'\n'})
	if n == 0 {
		b.Fatalf("%s: no records in %v", spec.Type, files)
	}
	c := corpus{spec: spec}
	for len(c.lines) < minBytes {
		c.lines = append(c.lines, one.Bytes()...)
		c.records += n
	}
	return c
}

func corpora(b *testing.B) map[string]corpus {
	shared, _ := sourcetest.FindShared()
	const min = 4 << 20
	return map[string]corpus{
		"falco": load(b, falco.Spec, append(glob(b, "../../pkg/source/falco/testdata/*.jsonl"),
			glob(b, filepath.Join(shared, "falco", "*.jsonl"))...), min),
		"k8s-audit": load(b, k8saudit.Spec, append(glob(b, "../../pkg/source/k8saudit/testdata/*.jsonl"),
			glob(b, filepath.Join(shared, "k8s-audit", "falco-trace-files", "*"))...), min),
		"hubble": load(b, hubble.Spec, append(glob(b, "../../pkg/source/hubble/testdata/*.jsonl"),
			glob(b, filepath.Join(shared, "hubble", "*.jsonl"))...), min),
	}
}

// BenchmarkNormalize runs, per source, "pulsegate": source.Read over the
// JSON lines in memory (split, parse, normalize, batch), "pulsegate-file":
// source.ReadFile of the same lines in a file, and "map": the same lines
// split and decoded with encoding/json into map[string]any. Run it with
// -cpu 1. Besides MB/s it reports records/s and allocs/record, and the
// same rates over the process's CPU time (cpu-MB/s, cpu-records/s).
func BenchmarkNormalize(b *testing.B) {
	cs := corpora(b)
	for _, name := range []string{"falco", "k8s-audit", "hubble"} {
		c := cs[name]
		b.Run(name+"/pulsegate", func(b *testing.B) {
			run(b, c, func() {
				batch, err := source.Read(bytes.NewReader(c.lines), "bench", c.spec, signal.SourceRef{Name: name, Type: name}, nil)
				if err != nil || len(batch.Signals) == 0 {
					b.Fatalf("read: %v", err)
				}
			})
		})
		// The same lines from a file (ReadFile: read through the reader's
		// buffer, as the gate reads its inputs), where bytes in memory are
		// split where they lie.
		file := filepath.Join(b.TempDir(), name+".jsonl")
		if err := os.WriteFile(file, c.lines, 0o600); err != nil {
			b.Fatal(err)
		}
		b.Run(name+"/pulsegate-file", func(b *testing.B) {
			run(b, c, func() {
				batch, err := source.ReadFile(file, c.spec, signal.SourceRef{Name: name, Type: name}, nil)
				if err != nil || len(batch.Signals) == 0 {
					b.Fatalf("read: %v", err)
				}
			})
		})
		b.Run(name+"/map", func(b *testing.B) {
			run(b, c, func() {
				rest := c.lines
				for len(rest) > 0 {
					i := bytes.IndexByte(rest, '\n')
					var m map[string]any
					if err := json.Unmarshal(rest[:i], &m); err != nil {
						b.Fatal(err)
					}
					rest = rest[i+1:]
				}
			})
		})
	}
}

func run(b *testing.B, c corpus, pass func()) {
	b.SetBytes(int64(len(c.lines)))
	b.ReportAllocs()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	cpu := cpuTime()
	for i := 0; i < b.N; i++ {
		pass()
	}
	cpu = cpuTime() - cpu
	b.StopTimer()
	runtime.ReadMemStats(&after)
	recs := float64(b.N) * float64(c.records)
	b.ReportMetric(recs/b.Elapsed().Seconds(), "records/s")
	// On a shared machine the wall clock also counts other processes'
	// time; CPU time (user + system, GC included) is the steadier measure.
	if cpu > 0 {
		b.ReportMetric(float64(b.N)*float64(len(c.lines))/1e6/cpu.Seconds(), "cpu-MB/s")
		b.ReportMetric(recs/cpu.Seconds(), "cpu-records/s")
	}
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/recs, "allocs/record")
}

// cpuTime is the process's user and system CPU time so far (as
// bench.CPUTime, which this package does not import to stay clear of
// golearn's dependencies).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
