package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/pulsegate/pulsegate/pkg/signal"
)

// Blocks.
//
// Signals are stored in blocks: one bbolt value holds up to
// maxBlockSignals Signals of one minute, written by one batch. A block's
// key is the minute (8 bytes, as timeKey) and a sequence number within the
// minute (4 bytes, big-endian), so that the blocks bucket is in time order
// and a batch of fresh telemetry appends a few large values at its end
// instead of one key per Signal. Within a block the Signals are sorted by
// time and id; each has a slot number, and the index refers to it as
// (sequence, slot) under the minute of its own key.
//
// A block's value:
//
//	version byte (2)
//	uvarint slots, uvarint live (slots not yet expired), uvarint strings
//	strings × uint32 little-endian: end of each string in the string table
//	the string table
//	slots × uint32 little-endian: end of each slot in the slot bytes
//	the slot bytes
//
// Repeated strings (source, rule, title, cluster, node, namespace, image,
// attribute keys and values, raw file) are written once per block in the
// string table and referred to by number: a batch of telemetry repeats
// them on almost every Signal, and writing them once makes a block about a
// fifth of the size of the Signals encoded one by one (bench/store).
//
// A slot: the time (8 bytes, as timeKey), the id, then the fields in a fixed
// order as in appendSignal. A string is a uvarint x: x odd, the next x>>1
// bytes are the string; x even, it is string number x>>1 of the table. An
// empty slot is a Signal that expiry removed from a block it kept.
const blockVersion = 2

// maxBlockSignals and maxBlockBytes bound a block: a query for one Signal
// reads only its slot, but expiry rewrites a block it keeps in part.
const (
	maxBlockSignals = 4096
	maxBlockBytes   = 4 << 20
)

var errBadBlock = errors.New("malformed block")

// blockWriter encodes the Signals of one block. Its buffers and table are
// reused from block to block.
type blockWriter struct {
	dict    map[string]uint32
	last    [lastRefs]lastRef // by field position: the last string and its number
	dictB   []byte
	dictEnd []uint32
	slots   []byte
	slotEnd []uint32
	keys    []string
}

func (w *blockWriter) reset() {
	if w.dict == nil {
		w.dict = make(map[string]uint32, 1024)
	}
	clear(w.dict)
	w.last = [lastRefs]lastRef{}
	w.dictB, w.dictEnd = w.dictB[:0], w.dictEnd[:0]
	w.slots, w.slotEnd = w.slots[:0], w.slotEnd[:0]
}

func (w *blockWriter) n() int { return len(w.slotEnd) }
func (w *blockWriter) size() int {
	return len(w.dictB) + len(w.slots) + 4*(len(w.dictEnd)+len(w.slotEnd))
}

func (w *blockWriter) inline(s string) {
	w.slots = binary.AppendUvarint(w.slots, uint64(len(s))<<1|1)
	w.slots = append(w.slots, s...)
}

// lastRefs is how many field positions remember their last string: a
// batch of telemetry repeats most fields from one Signal to the next, and
// comparing with the last costs less than a look-up in the table.
const lastRefs = 48

type lastRef struct {
	s  string
	i  uint32
	ok bool
}

// ref writes s, the field at position pos, as a reference to the string
// table, adding it there first when it is new; strings of up to 2 bytes
// are cheaper inline.
func (w *blockWriter) ref(pos int, s string) {
	if len(s) <= 2 {
		w.inline(s)
		return
	}
	var c *lastRef
	if pos < lastRefs {
		c = &w.last[pos]
		if c.ok && c.s == s {
			w.slots = binary.AppendUvarint(w.slots, uint64(c.i)<<1)
			return
		}
	}
	i, ok := w.dict[s]
	if !ok {
		i = uint32(len(w.dictEnd))
		w.dict[s] = i
		w.dictB = append(w.dictB, s...)
		w.dictEnd = append(w.dictEnd, uint32(len(w.dictB)))
	}
	if c != nil {
		*c = lastRef{s, i, true}
	}
	w.slots = binary.AppendUvarint(w.slots, uint64(i)<<1)
}

// add appends s as the next slot; tk is timeKey(s.Time).
func (w *blockWriter) add(s *signal.Signal, tk [8]byte) {
	w.slots = append(w.slots, tk[:]...)
	w.inline(s.ID)
	w.ref(0, s.Source.Name)
	w.ref(1, s.Source.Type)
	w.ref(2, s.Product)
	w.slots = binary.AppendVarint(w.slots, int64(s.ClassUID))
	w.slots = append(w.slots, byte(s.Severity))
	w.slots = binary.BigEndian.AppendUint64(w.slots, math.Float64bits(s.Score))
	w.ref(3, s.Native)
	if s.Heartbeat {
		w.slots = append(w.slots, 1)
	} else {
		w.slots = append(w.slots, 0)
	}
	a := &s.Asset
	for i, f := range [...]string{a.Cluster, a.Node, a.Namespace, a.WorkloadKind, a.Workload, a.Pod,
		a.Container, a.ContainerID, a.Image, a.ImageDigest, a.CloudResource, a.Resource} {
		w.ref(4+i, f)
	}
	w.ref(16, s.Rule)
	w.ref(17, s.Title)
	w.slots = binary.AppendUvarint(w.slots, uint64(len(s.CVEs)))
	for i, c := range s.CVEs {
		w.ref(20+i, c) // CVEs and attributes share positions: both rarely long
	}
	w.slots = binary.AppendUvarint(w.slots, uint64(len(s.Attrs)))
	if len(s.Attrs) > 0 {
		w.keys = w.keys[:0]
		for k := range s.Attrs {
			w.keys = append(w.keys, k)
		}
		slices.Sort(w.keys)
		for i, k := range w.keys {
			w.ref(20+2*i, k)
			w.ref(21+2*i, s.Attrs[k])
		}
	}
	w.ref(18, s.Raw.File)
	w.slots = binary.AppendVarint(w.slots, int64(s.Raw.Line))
	w.inline(s.Raw.ID)
	w.slotEnd = append(w.slotEnd, uint32(len(w.slots)))
}

// bytes returns the block's value, in a new slice of its own.
func (w *blockWriter) bytes() []byte {
	n := len(w.slotEnd)
	out := make([]byte, 0, 3*binary.MaxVarintLen64+w.size())
	out = append(out, blockVersion)
	out = binary.AppendUvarint(out, uint64(n))
	out = binary.AppendUvarint(out, uint64(n))
	out = binary.AppendUvarint(out, uint64(len(w.dictEnd)))
	for _, e := range w.dictEnd {
		out = binary.LittleEndian.AppendUint32(out, e)
	}
	out = append(out, w.dictB...)
	for _, e := range w.slotEnd {
		out = binary.LittleEndian.AppendUint32(out, e)
	}
	return append(out, w.slots...)
}

// block is a parsed block value. It refers to the value's memory (bbolt's,
// valid only within the transaction).
type block struct {
	slots, live int
	dictEnd     []byte
	dict        []byte
	slotEnd     []byte
	data        []byte
}

// parseBlock checks a block's layout; slots and strings are checked when
// read. It never panics.
func parseBlock(v []byte) (block, error) {
	var b block
	if len(v) < 1 || v[0] != blockVersion {
		if len(v) > 0 {
			return b, fmt.Errorf("%w: version %d", errBadBlock, v[0])
		}
		return b, errBadBlock
	}
	v = v[1:]
	var nums [3]uint64
	for i := range nums {
		x, w := binary.Uvarint(v)
		if w <= 0 || x > uint64(len(v)) {
			return b, errBadBlock
		}
		nums[i], v = x, v[w:]
	}
	slots, live, nd := nums[0], nums[1], nums[2]
	if live > slots || 4*nd > uint64(len(v)) {
		return b, errBadBlock
	}
	b.slots, b.live = int(slots), int(live)
	b.dictEnd, v = v[:4*nd], v[4*nd:]
	dl := uint64(0)
	if nd > 0 {
		dl = uint64(binary.LittleEndian.Uint32(b.dictEnd[4*(nd-1):]))
	}
	if dl > uint64(len(v)) {
		return b, errBadBlock
	}
	b.dict, v = v[:dl], v[dl:]
	if 4*slots > uint64(len(v)) {
		return b, errBadBlock
	}
	b.slotEnd, b.data = v[:4*slots], v[4*slots:]
	if slots > 0 && uint64(binary.LittleEndian.Uint32(b.slotEnd[4*(slots-1):])) != uint64(len(b.data)) {
		return b, errBadBlock
	}
	return b, nil
}

// bounds returns [start, end) of entry i of an ends table over n bytes.
func bounds(ends []byte, i, n int) (int, int, bool) {
	if i < 0 || i >= len(ends)/4 {
		return 0, 0, false
	}
	end := int(binary.LittleEndian.Uint32(ends[4*i:]))
	start := 0
	if i > 0 {
		start = int(binary.LittleEndian.Uint32(ends[4*(i-1):]))
	}
	if start > end || end > n {
		return 0, 0, false
	}
	return start, end, true
}

// slot returns slot i's bytes: empty for an expired Signal.
func (b *block) slot(i int) ([]byte, error) {
	s, e, ok := bounds(b.slotEnd, i, len(b.data))
	if !ok {
		return nil, fmt.Errorf("%w: slot %d of %d", errBadBlock, i, b.slots)
	}
	return b.data[s:e], nil
}

func (b *block) str(i uint64) ([]byte, bool) {
	if i > math.MaxInt32 {
		return nil, false
	}
	s, e, ok := bounds(b.dictEnd, int(i), len(b.dict))
	if !ok {
		return nil, false
	}
	return b.dict[s:e], true
}

// slotHead returns a slot's time key and id (bytes of the slot); ok is
// false for an empty or malformed slot.
func slotHead(s []byte) (tk, id []byte, ok bool) {
	if len(s) < 9 {
		return nil, nil, false
	}
	x, w := binary.Uvarint(s[8:])
	if w <= 0 || x&1 == 0 || x>>1 > uint64(len(s)-8-w) {
		return nil, nil, false
	}
	return s[:8], s[8+w : 8+w+int(x>>1)], true
}

// slotDecoder decodes slots into Signals, with one allocation for all of a
// Signal's strings. Its buffers are reused.
type slotDecoder struct {
	blk   *block
	b     []byte
	buf   []byte
	spans [][2]int
	err   error
}

func (d *slotDecoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
	d.b = nil
}

func (d *slotDecoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail(errShort)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *slotDecoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail(errShort)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *slotDecoder) byte() byte {
	if len(d.b) < 1 {
		d.fail(errShort)
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

// str reads a string into buf and records its span.
func (d *slotDecoder) str() {
	x := d.uvarint()
	var s []byte
	if x&1 == 1 {
		n := x >> 1
		if n > uint64(len(d.b)) {
			d.fail(errShort)
		} else {
			s, d.b = d.b[:n], d.b[n:]
		}
	} else if d.err == nil {
		var ok bool
		if s, ok = d.blk.str(x >> 1); !ok {
			d.fail(fmt.Errorf("%w: string %d", errBadBlock, x>>1))
		}
	}
	at := len(d.buf)
	d.buf = append(d.buf, s...)
	d.spans = append(d.spans, [2]int{at, len(d.buf)})
}

func (d *slotDecoder) count(what string) int {
	n := d.uvarint()
	if n > maxCount || n > uint64(len(d.b)) {
		d.fail(fmt.Errorf("%s count %d out of range", what, n))
		return 0
	}
	return int(n)
}

// decode decodes slot bytes s of d.blk into sg. It never keeps s.
func (d *slotDecoder) decode(s []byte, sg *signal.Signal) error {
	if len(s) < 8 {
		return fmt.Errorf("%w: slot of %d bytes", errBadBlock, len(s))
	}
	*sg = signal.Signal{Time: keyTime(s[:8])}
	d.b, d.buf, d.spans, d.err = s[8:], d.buf[:0], d.spans[:0], nil
	// First every string into buf, then one string for all of them.
	d.str() // id
	d.str()
	d.str()
	d.str() // source name, type, product
	sg.ClassUID = int(d.varint())
	sg.Severity = signal.Severity(d.byte())
	if len(d.b) < 8 {
		d.fail(errShort)
	} else {
		sg.Score = math.Float64frombits(binary.BigEndian.Uint64(d.b))
		d.b = d.b[8:]
	}
	d.str() // native
	sg.Heartbeat = d.byte() == 1
	for range 12 {
		d.str() // asset
	}
	d.str()
	d.str() // rule, title
	ncve := d.count("cve")
	for range ncve {
		d.str()
	}
	nattr := d.count("attribute")
	for range 2 * nattr {
		d.str()
	}
	d.str() // raw file
	sg.Raw.Line = int(d.varint())
	d.str() // raw id
	if d.err != nil {
		return d.err
	}
	if len(d.b) != 0 {
		return fmt.Errorf("%d bytes after the slot", len(d.b))
	}
	whole := string(d.buf)
	i := 0
	next := func() string {
		sp := d.spans[i]
		i++
		return whole[sp[0]:sp[1]]
	}
	sg.ID = next()
	sg.Source.Name, sg.Source.Type, sg.Product = next(), next(), next()
	sg.Native = next()
	a := &sg.Asset
	for _, f := range [...]*string{&a.Cluster, &a.Node, &a.Namespace, &a.WorkloadKind, &a.Workload, &a.Pod,
		&a.Container, &a.ContainerID, &a.Image, &a.ImageDigest, &a.CloudResource, &a.Resource} {
		*f = next()
	}
	sg.Rule, sg.Title = next(), next()
	if ncve > 0 {
		sg.CVEs = make([]string, ncve)
		for k := range sg.CVEs {
			sg.CVEs[k] = next()
		}
	}
	if nattr > 0 {
		sg.Attrs = make(map[string]string, nattr)
		for range nattr {
			k := next()
			sg.Attrs[k] = next()
		}
	}
	sg.Raw.File = next()
	sg.Raw.ID = next()
	return nil
}

// without returns a copy of b's value in which the slots gone[i] are
// empty; the string table is kept as it is.
func (b *block) without(gone []bool) []byte {
	live := 0
	size := 0
	for i := range b.slots {
		if s, _ := b.slot(i); len(s) > 0 && !gone[i] {
			live++
			size += len(s)
		}
	}
	out := make([]byte, 0, 1+3*binary.MaxVarintLen64+len(b.dictEnd)+len(b.dict)+len(b.slotEnd)+size)
	out = append(out, blockVersion)
	out = binary.AppendUvarint(out, uint64(b.slots))
	out = binary.AppendUvarint(out, uint64(live))
	out = binary.AppendUvarint(out, uint64(len(b.dictEnd)/4))
	out = append(out, b.dictEnd...)
	out = append(out, b.dict...)
	end := uint32(0)
	for i := range b.slots {
		if s, _ := b.slot(i); !gone[i] {
			end += uint32(len(s))
		}
		out = binary.LittleEndian.AppendUint32(out, end)
	}
	for i := range b.slots {
		if s, _ := b.slot(i); !gone[i] {
			out = append(out, s...)
		}
	}
	return out
}

// blockKey is the key of block seq of the minute mk.
func blockKey(mk []byte, seq uint32) [12]byte {
	var k [12]byte
	copy(k[:8], mk)
	binary.BigEndian.PutUint32(k[8:], seq)
	return k
}

// appendRef appends an index entry: a Signal's block sequence and slot.
func appendRef(b []byte, seq uint32, slot int) []byte {
	return binary.AppendUvarint(binary.AppendUvarint(b, uint64(seq)), uint64(slot))
}

// eachRef calls fn with every entry of an index value; false stops.
func eachRef(v []byte, fn func(seq uint32, slot int) bool) error {
	for len(v) > 0 {
		seq, w := binary.Uvarint(v)
		if w <= 0 || seq > math.MaxUint32 {
			return errBadKey
		}
		v = v[w:]
		slot, w := binary.Uvarint(v)
		if w <= 0 || slot > math.MaxInt32 {
			return errBadKey
		}
		v = v[w:]
		if !fn(uint32(seq), int(slot)) {
			return nil
		}
	}
	return nil
}
