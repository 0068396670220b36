package v1

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/pulsegate/pulsegate/pkg/signal"
)

// The value format of a stored Signal: a version byte, then the fields in a
// fixed order. Strings are a uvarint length and the bytes; integers are
// varints; the score is 8 bytes of IEEE 754 bits. Attributes are written in
// key order so that the same Signal always encodes to the same bytes.
// encoding/json would cost several times as much on both the write and the
// query path (see bench/store).
const codecVersion = 1

// maxCount bounds the CVE and attribute counts a decoder accepts, so that a
// corrupt length cannot make it allocate without bound.
const maxCount = 1 << 16

var errShort = errors.New("truncated value")

type encoder struct{ b []byte }

func (e *encoder) str(s string) {
	e.b = binary.AppendUvarint(e.b, uint64(len(s)))
	e.b = append(e.b, s...)
}

func (e *encoder) uvarint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *encoder) varint(v int64)   { e.b = binary.AppendVarint(e.b, v) }

// appendSignal appends the encoding of s to dst.
func appendSignal(dst []byte, s *signal.Signal) []byte {
	e := encoder{b: append(dst, codecVersion)}
	e.str(s.ID)
	e.varint(timeNanos(s.Time))
	e.str(s.Source.Name)
	e.str(s.Source.Type)
	e.str(s.Product)
	e.varint(int64(s.ClassUID))
	e.b = append(e.b, byte(s.Severity))
	e.b = binary.BigEndian.AppendUint64(e.b, math.Float64bits(s.Score))
	e.str(s.Native)
	if s.Heartbeat {
		e.b = append(e.b, 1)
	} else {
		e.b = append(e.b, 0)
	}
	a := &s.Asset
	for _, f := range [...]string{a.Cluster, a.Node, a.Namespace, a.WorkloadKind, a.Workload, a.Pod,
		a.Container, a.ContainerID, a.Image, a.ImageDigest, a.CloudResource, a.Resource} {
		e.str(f)
	}
	e.str(s.Rule)
	e.str(s.Title)
	e.uvarint(uint64(len(s.CVEs)))
	for _, c := range s.CVEs {
		e.str(c)
	}
	e.uvarint(uint64(len(s.Attrs)))
	if len(s.Attrs) > 0 {
		keys := make([]string, 0, len(s.Attrs))
		for k := range s.Attrs {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			e.str(k)
			e.str(s.Attrs[k])
		}
	}
	e.str(s.Raw.File)
	e.varint(int64(s.Raw.Line))
	e.str(s.Raw.ID)
	return e.b
}

// decoder reads a value. Its strings are substrings of whole, one copy of
// the value: one allocation for all of a Signal's strings.
type decoder struct {
	b     []byte
	whole string
	err   error
}

func (d *decoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
	d.b = nil
}

func (d *decoder) byte() byte {
	if len(d.b) < 1 {
		d.fail(errShort)
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail(errShort)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail(errShort)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) str() string {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail(errShort)
		return ""
	}
	if n == 0 {
		return ""
	}
	at := len(d.whole) - len(d.b)
	s := d.whole[at : at+int(n)]
	d.b = d.b[n:]
	return s
}

func (d *decoder) count(what string) int {
	n := d.uvarint()
	if n > maxCount || n > uint64(len(d.b)) {
		d.fail(fmt.Errorf("%s count %d out of range", what, n))
		return 0
	}
	return int(n)
}

// decodeSignal decodes what appendSignal wrote. It never keeps b (bbolt's
// memory is valid only inside the transaction) and never panics.
func decodeSignal(b []byte, s *signal.Signal) error {
	d := decoder{b: b, whole: string(b)}
	if v := d.byte(); d.err == nil && v != codecVersion {
		return fmt.Errorf("unknown value version %d", v)
	}
	s.ID = d.str()
	s.Time = nanosTime(d.varint())
	s.Source.Name = d.str()
	s.Source.Type = d.str()
	s.Product = d.str()
	s.ClassUID = int(d.varint())
	s.Severity = signal.Severity(d.byte())
	if len(d.b) < 8 {
		d.fail(errShort)
	} else {
		s.Score = math.Float64frombits(binary.BigEndian.Uint64(d.b))
		d.b = d.b[8:]
	}
	s.Native = d.str()
	s.Heartbeat = d.byte() == 1
	a := &s.Asset
	for _, f := range [...]*string{&a.Cluster, &a.Node, &a.Namespace, &a.WorkloadKind, &a.Workload, &a.Pod,
		&a.Container, &a.ContainerID, &a.Image, &a.ImageDigest, &a.CloudResource, &a.Resource} {
		*f = d.str()
	}
	s.Rule = d.str()
	s.Title = d.str()
	s.CVEs = nil
	if n := d.count("cve"); n > 0 {
		s.CVEs = make([]string, n)
		for i := range s.CVEs {
			s.CVEs[i] = d.str()
		}
	}
	s.Attrs = nil
	if n := d.count("attribute"); n > 0 {
		s.Attrs = make(map[string]string, n)
		for range n {
			k := d.str()
			s.Attrs[k] = d.str()
		}
	}
	s.Raw.File = d.str()
	s.Raw.Line = int(d.varint())
	s.Raw.ID = d.str()
	if d.err != nil {
		return d.err
	}
	if len(d.b) != 0 {
		return fmt.Errorf("%d bytes after the value", len(d.b))
	}
	return nil
}

// Times are stored as nanoseconds since 1970 UTC. time.Time.UnixNano is
// undefined outside 1678..2262; such times are clamped to those bounds.
var (
	minTime = time.Unix(0, math.MinInt64).UTC()
	maxTime = time.Unix(0, math.MaxInt64).UTC()
)

func timeNanos(t time.Time) int64 {
	switch {
	case t.IsZero():
		return math.MinInt64
	case t.Before(minTime):
		return math.MinInt64
	case t.After(maxTime):
		return math.MaxInt64
	}
	return t.UnixNano()
}

func nanosTime(n int64) time.Time {
	if n == math.MinInt64 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}
