package source

import (
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/pulsegate/pulsegate/pkg/signal"
)

// Batch is what one read of one source produced.
type Batch struct {
	Source   signal.SourceRef
	Signals  []signal.Signal
	Records  int      // records read, used or not
	Rejected int      // records that could not be used
	Rejects  []Reject // the first MaxRejects of them, in input order
	// LastRecord is the newest record time seen, heartbeats included.
	LastRecord time.Time
	// Written is the file's modification time (zero for stdin and pulls).
	Written time.Time
}

// MaxRejects bounds Batch.Rejects; Batch.Rejected still counts them all.
const MaxRejects = 100

// Add records one parsed record's result in b.
func (b *Batch) Add(rec Record, sigs []signal.Signal, err error) {
	b.Records++
	if err != nil {
		b.reject(Reject{File: rec.File, Line: rec.Line, Reason: err.Error()})
		return
	}
	for i := range sigs {
		b.stamp(rec, &sigs[i])
	}
	b.Signals = append(b.Signals, sigs...)
}

// stamp sets what the batch knows of a record's Signal: its source, its
// place in the input when the parser did not set one, and LastRecord.
func (b *Batch) stamp(rec Record, s *signal.Signal) {
	s.Source = b.Source
	if s.Raw.File == "" {
		s.Raw.File, s.Raw.Line = rec.File, rec.Line
	}
	if s.Time.After(b.LastRecord) {
		b.LastRecord = s.Time
	}
}

// Appender is a Parser that can also append a record's Signals to the
// caller's slice: Read then builds them in place in its batch, which spares
// a copy of every Signal. AppendParse must append exactly the Signals Parse
// returns; on error it returns dst as it was (what lies past len(dst) in
// its array is then unspecified).
type Appender interface {
	Parser
	AppendParse(dst []signal.Signal, rec Record) ([]signal.Signal, error)
}

// addAppended is Add for Signals that an Appender appended to b.Signals
// (all holds them from index from on).
func (b *Batch) addAppended(rec Record, all []signal.Signal, from int, err error) {
	if err != nil {
		b.Add(rec, nil, err)
		return
	}
	b.Records++
	for i := from; i < len(all); i++ {
		b.stamp(rec, &all[i])
	}
	b.Signals = all
}

func (b *Batch) reject(r Reject) {
	b.Rejected++
	if len(b.Rejects) < MaxRejects {
		b.Rejects = append(b.Rejects, r)
	}
}

// Read parses everything in r with spec's parser into a Batch. onReject,
// when set, sees every rejected record as it happens (for "FILE:LINE:
// reason" on stderr). Only an I/O error is returned; bad records are
// counted in the batch.
func Read(r io.Reader, file string, spec Spec, ref signal.SourceRef, onReject func(Reject)) (*Batch, error) {
	size := int64(-1)
	if l, ok := r.(interface{ Len() int }); ok { // bytes.Reader, strings.Reader, bytes.Buffer
		size = int64(l.Len())
	}
	return read(r, size, file, spec, ref, onReject)
}

// sizeAfter is how many records read shows the way to the rest of the
// input (see read).
const sizeAfter = 64

// read is Read with the input's size in bytes when it is known (else -1):
// after the first sizeAfter records it sizes Signals for the whole input
// by their signals per byte so far, rather than doubling the slice about
// log2(n) times (a Signal is over 400 bytes).
func read(r io.Reader, size int64, file string, spec Spec, ref signal.SourceRef, onReject func(Reject)) (*Batch, error) {
	b := &Batch{Source: ref}
	p := spec.New()
	var seen int64 // bytes of the records so far, a newline each
	n := 0
	rej := func(x Reject) {
		b.Records++
		b.reject(x)
		if onReject != nil {
			onReject(x)
		}
	}
	ap, _ := p.(Appender)
	err := spec.ReadRecords(r, file, func(rec Record) error {
		if n++; size > 0 && n <= sizeAfter {
			if n == sizeAfter && len(b.Signals) > 0 {
				b.Signals = presize(b.Signals, size, seen)
			}
			seen += int64(len(rec.Data)) + 1
		}
		var err error
		if ap != nil {
			var all []signal.Signal
			from := len(b.Signals)
			all, err = safeAppend(ap, b.Signals, rec)
			b.addAppended(rec, all, from, err)
		} else {
			var sigs []signal.Signal
			sigs, err = safeParse(p, rec)
			b.Add(rec, sigs, err)
		}
		if err != nil && onReject != nil {
			onReject(Reject{File: rec.File, Line: rec.Line, Reason: err.Error()})
		}
		return nil
	}, rej)
	return b, err
}

// ReadFile is Read on a file, or on standard input when path is "-". It
// records the file's modification time as evidence that the writer is alive.
func ReadFile(path string, spec Spec, ref signal.SourceRef, onReject func(Reject)) (*Batch, error) {
	if path == "-" {
		return Read(os.Stdin, "-", spec, ref, onReject)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return nil, fmt.Errorf("%s is a directory", path)
	}
	b, err := read(f, st.Size(), path, spec, ref, onReject)
	if b != nil {
		b.Written = st.ModTime()
	}
	return b, err
}

// presize returns sigs with room for the whole input, estimated from the
// signals per byte of the seen bytes out of size (plus a tenth), or sigs
// itself when the estimate is not larger. It never reserves more than one
// Signal per 256 bytes of input (a Signal is about 450 bytes: at most
// about twice the input), whatever the first records were like; inputs of
// smaller records grow the slice as before.
func presize(sigs []signal.Signal, size, seen int64) []signal.Signal {
	if seen <= 0 || seen >= size {
		return sigs
	}
	want := float64(len(sigs)) * float64(size) / float64(seen) * 1.1
	if lim := float64(size / 256); want > lim {
		want = lim
	}
	if int(want) <= cap(sigs) {
		return sigs
	}
	return slices.Grow(sigs, int(want)-len(sigs))
}

// safeParse turns a parser panic into a rejected record: untrusted input
// must never take the process down, even through an adapter bug.
func safeParse(p Parser, rec Record) (sigs []signal.Signal, err error) {
	defer func() {
		if v := recover(); v != nil {
			sigs, err = nil, fmt.Errorf("parser failed on this record: %v", v)
		}
	}()
	return p.Parse(rec)
}

// safeAppend is safeParse for an Appender.
func safeAppend(p Appender, dst []signal.Signal, rec Record) (all []signal.Signal, err error) {
	defer func() {
		if v := recover(); v != nil {
			all, err = dst, fmt.Errorf("parser failed on this record: %v", v)
		}
	}()
	return p.AppendParse(dst, rec)
}
