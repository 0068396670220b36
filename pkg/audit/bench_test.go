package audit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkVerify compares Verify (parse, own hash, seq, prev) with the
// floor for any JSON-lines reader: bufio.Scanner and json.Unmarshal of each
// line into the same Record.
func BenchmarkVerify(b *testing.B) {
	for _, n := range []int{100, 10000} {
		var log bytes.Buffer
		prev, seq := Genesis, int64(0)
		for i := range n {
			r := record(i)
			seq++
			r.Seq, r.Prev = seq, prev
			line, h, err := seal(r)
			if err != nil {
				b.Fatal(err)
			}
			prev = h
			log.Write(line)
			log.WriteByte('\n')
		}
		data := log.Bytes()
		b.Run(fmt.Sprintf("records=%d/audit.Verify", n), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				s, err := Verify(bytes.NewReader(data))
				if err != nil || s.Records != n {
					b.Fatal(s, err)
				}
			}
		})
		b.Run(fmt.Sprintf("records=%d/scanner+unmarshal", n), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				sc := bufio.NewScanner(bytes.NewReader(data))
				for sc.Scan() {
					var r Record
					if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

// BenchmarkAppend measures one locked, fsynced append beside a plain
// O_APPEND write with fsync of the same line (the peer: what any durable
// log pays).
func BenchmarkAppend(b *testing.B) {
	dir := b.TempDir()
	r := record(1)
	b.Run("audit.Append", func(b *testing.B) {
		path := filepath.Join(dir, "audit.log")
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Append(path, r); err != nil {
				b.Fatal(err)
			}
		}
	})
	line, _, _ := seal(r)
	line = append(line, '\n')
	b.Run("write+fsync", func(b *testing.B) {
		path := filepath.Join(dir, "plain.log")
		b.ReportAllocs()
		for b.Loop() {
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := f.Write(line); err != nil {
				b.Fatal(err)
			}
			if err := f.Sync(); err != nil {
				b.Fatal(err)
			}
			f.Close()
		}
	})
}
