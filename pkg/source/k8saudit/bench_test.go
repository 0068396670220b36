package k8saudit

import (
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/pulsegate/pulsegate/pkg/source"
	"github.com/pulsegate/pulsegate/pkg/source/sourcetest"
)

// benchRecords are the records of testdata, the shared samples' shapes.
func benchRecords(b *testing.B) ([][]byte, int64) {
	files, _ := filepath.Glob("testdata/*.json*")
	recs := sourcetest.Records(b, Spec, files...)
	var n int64
	for _, r := range recs {
		n += int64(len(r))
	}
	return recs, n
}

// BenchmarkParse reports MB/s and allocations per record batch; the
// "encoding-json" case is Parse without its fast path, and the "map" case
// a plain encoding/json decode of the same bytes into map[string]any, for
// the ratios.
func BenchmarkParse(b *testing.B) {
	recs, size := benchRecords(b)
	b.Run("parse", func(b *testing.B) {
		p := Spec.New()
		b.SetBytes(size)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			for _, r := range recs {
				p.Parse(source.Record{Data: r, File: "bench", Line: 1})
			}
		}
		b.ReportMetric(float64(b.N*len(recs))/b.Elapsed().Seconds(), "records/s")
	})
	// The same parser with encoding/json only (the fast path off): what
	// Parse cost before the fast path.
	b.Run("encoding-json", func(b *testing.B) {
		p := &Parser{slow: true}
		b.SetBytes(size)
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			for _, r := range recs {
				p.Parse(source.Record{Data: r, File: "bench", Line: 1})
			}
		}
	})
	b.Run("map", func(b *testing.B) {
		b.SetBytes(size)
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			for _, r := range recs {
				var m map[string]any
				_ = json.Unmarshal(r, &m)
			}
		}
	})
}
