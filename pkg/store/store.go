package store

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/pulsegate/pulsegate/pkg/signal"
)

// Bucket names. meta holds the format marker that tells a pulsegate store
// from any other bbolt file.
var (
	bucketMeta    = []byte("meta")
	bucketBlocks  = []byte("blocks")
	bucketIndex   = []byte("index")
	bucketSources = []byte("sources")
	bucketPodNode = []byte("podnode")
	keyFormat     = []byte("format")
)

// format is the value of meta/format. A store of formatV1 (one key per
// Signal, before blocks) is converted when opened for writing and refused
// with what to do when opened read-only; any other format is refused, not
// misread.
const (
	format   = "pulsegate-store/2"
	formatV1 = "pulsegate-store/1"
)

// bucketSignalsV1 is formatV1's bucket of Signals, one key per Signal.
var bucketSignalsV1 = []byte("signals")

// initialMmap is the writer's initial mapping of the file.
const initialMmap = 1 << 30

// DefaultLockTimeout is how long Open waits for another process's lock.
const DefaultLockTimeout = 5 * time.Second

// Store is the local cache. Reads run in bbolt read transactions and may
// run concurrently with each other and with one writer; each write call is
// one transaction. A Store is safe for concurrent use. Only one process may
// open a store for writing; readers in other processes share it with each
// other but not with a writer.
type Store struct {
	path string
	opt  options

	mu sync.RWMutex // held for writing only to swap or close db
	db *bolt.DB
}

type options struct {
	readOnly bool
	timeout  time.Duration
	noSync   bool
}

// Option configures Open.
type Option func(*options) error

// ReadOnly opens the store for reading only: with a shared lock, so that
// several readers (gates) can use it at once. The file must exist.
func ReadOnly() Option {
	return func(o *options) error { o.readOnly = true; return nil }
}

// LockTimeout sets how long Open waits for a lock held by another process
// (default DefaultLockTimeout). It must be positive.
func LockTimeout(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("lock timeout %s: must be positive", d)
		}
		o.timeout = d
		return nil
	}
}

// NoSync skips fsync after each write: faster, but a machine crash can lose
// the last writes (a process crash cannot). For tests and benchmarks.
func NoSync() Option {
	return func(o *options) error { o.noSync = true; return nil }
}

// Open opens or creates the store at path.
func Open(path string, opts ...Option) (*Store, error) {
	o := options{timeout: DefaultLockTimeout}
	for _, f := range opts {
		if err := f(&o); err != nil {
			return nil, fmt.Errorf("open store %s: %w", path, err)
		}
	}
	s := &Store{path: path, opt: o}
	db, err := s.open()
	if err != nil {
		return nil, err
	}
	s.db = db
	return s, nil
}

func (s *Store) open() (db *bolt.DB, err error) {
	path := s.path
	if st, err := os.Stat(path); err == nil {
		if st.IsDir() {
			return nil, fmt.Errorf("open store %s: is a directory", path)
		}
		if st.Size() == 0 && s.opt.readOnly {
			return nil, fmt.Errorf("open store %s: empty file, not a pulsegate store", path)
		}
	} else if errors.Is(err, fs.ErrNotExist) && s.opt.readOnly {
		return nil, fmt.Errorf("open store %s: no such file (pulsegate fetch --store %s writes one)", path, path)
	}
	// bbolt trusts its file: a damaged one can make it panic or fault.
	defer func() {
		if err != nil && db != nil {
			_ = db.Close()
			db = nil
		}
	}()
	defer guard(path, &err)()
	bo := &bolt.Options{Timeout: s.opt.timeout, ReadOnly: s.opt.readOnly, NoSync: s.opt.noSync}
	if !s.opt.readOnly {
		// Address space, not memory: when a write outgrows the mapping,
		// bbolt remaps and copies every page the transaction touched
		// (a quarter of the write time in bench/store before this).
		bo.InitialMmapSize = initialMmap
	}
	db, err = bolt.Open(path, 0o600, bo)
	if err != nil {
		return nil, openError(path, s.opt.timeout, err)
	}
	if err := s.checkFormat(db); err != nil {
		_ = db.Close()
		return nil, err
	}
	return db, nil
}

func openError(path string, timeout time.Duration, err error) error {
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return fmt.Errorf("open store %s: locked by another process (a running pulsegate fetch or serve?); gave up after %s", path, timeout)
	case errors.As(err, new(*fs.PathError)):
		return fmt.Errorf("open store %s: %w", path, err)
	}
	// ErrInvalid, ErrChecksum, ErrVersionMismatch, "file size too small":
	// whatever bbolt says about a file that is not its own.
	return fmt.Errorf("open store %s: not a pulsegate store, or corrupt: %w", path, err)
}

// checkFormat accepts a store of this format, and initializes an empty
// bbolt file; anything else is an error.
func (s *Store) checkFormat(db *bolt.DB) error {
	var found string
	var others []string
	err := db.View(func(tx *bolt.Tx) error {
		if m := tx.Bucket(bucketMeta); m != nil {
			found = string(m.Get(keyFormat))
		}
		return tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
			others = append(others, fmt.Sprintf("%q", name))
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("open store %s: %w", s.path, err)
	}
	switch {
	case found == format:
		return nil
	case found == formatV1 && s.opt.readOnly:
		return fmt.Errorf("open store %s: format %q, written by an earlier pulsegate: the next pulsegate fetch --store %s (any writer) converts it to %q in place; or delete the file (a cache: the next fetch fills it again)", s.path, found, s.path, format)
	case found == formatV1:
		if err := migrateV1(db); err != nil {
			return fmt.Errorf("open store %s: convert format %q to %q (the file is unchanged): %w", s.path, found, format, err)
		}
		return nil
	case found != "":
		return fmt.Errorf("open store %s: format %q, want %q", s.path, found, format)
	case len(others) > 0:
		return fmt.Errorf("open store %s: a bbolt file of something else (buckets %v), not a pulsegate store", s.path, others)
	case s.opt.readOnly:
		return fmt.Errorf("open store %s: empty, not yet written", s.path)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketBlocks, bucketIndex, bucketSources, bucketPodNode} {
			if _, err := tx.CreateBucket(b); err != nil {
				return err
			}
		}
		m, err := tx.CreateBucket(bucketMeta)
		if err != nil {
			return err
		}
		return m.Put(keyFormat, []byte(format))
	})
	if err != nil {
		return fmt.Errorf("initialize store %s: %w", s.path, err)
	}
	return nil
}

// migrateV1 converts a store of formatV1 in one transaction: a crash
// leaves the old store as it was. Sources and pods' nodes are kept as they
// are; the Signals move into blocks, as they were stored (no node lent
// anew).
func migrateV1(db *bolt.DB) error {
	return db.Update(func(tx *bolt.Tx) error {
		old := tx.Bucket(bucketSignalsV1)
		if old == nil || tx.Bucket(bucketIndex) == nil || tx.Bucket(bucketSources) == nil || tx.Bucket(bucketPodNode) == nil {
			return errors.New("buckets missing")
		}
		if err := tx.DeleteBucket(bucketIndex); err != nil {
			return err
		}
		for _, b := range [][]byte{bucketIndex, bucketBlocks} {
			if _, err := tx.CreateBucket(b); err != nil {
				return err
			}
		}
		const chunk = 50000
		batch := make([]signal.Signal, 0, chunk)
		c := old.Cursor()
		for k, v := c.First(); ; k, v = c.Next() {
			if k != nil {
				var sg signal.Signal
				if err := decodeSignal(v, &sg); err != nil {
					return fmt.Errorf("signal %x: %w", k, err)
				}
				batch = append(batch, sg)
			}
			if len(batch) == chunk || k == nil && len(batch) > 0 {
				if _, err := putTx(tx, batch, false); err != nil {
					return err
				}
				batch = batch[:0]
			}
			if k == nil {
				break
			}
		}
		if err := tx.DeleteBucket(bucketSignalsV1); err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Put(keyFormat, []byte(format))
	})
}

// Path returns the store's file name.
func (s *Store) Path() string { return s.path }

// Close closes the store. Later calls fail with a clear error.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db == nil {
		return nil
	}
	err := s.db.Close()
	s.db = nil
	if err != nil {
		return fmt.Errorf("close store %s: %w", s.path, err)
	}
	return nil
}

var errClosed = errors.New("store is closed")

// guard turns what a damaged file can do to bbolt, a panic or a memory
// fault in the mapped file, into an error: untrusted input never takes the
// process down. Use as defer guard(path, &err)().
func guard(path string, err *error) func() {
	old := debug.SetPanicOnFault(true)
	return func() {
		debug.SetPanicOnFault(old)
		if v := recover(); v != nil {
			*err = fmt.Errorf("store %s: corrupt (%v)", path, v)
		}
	}
}

// view runs fn in a read transaction, turning a bbolt panic on a damaged
// page into an error.
func (s *Store) view(fn func(tx *bolt.Tx) error) (err error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.db == nil {
		return fmt.Errorf("store %s: %w", s.path, errClosed)
	}
	defer guard(s.path, &err)()
	return s.db.View(fn)
}

func (s *Store) update(fn func(tx *bolt.Tx) error) (err error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.db == nil {
		return fmt.Errorf("store %s: %w", s.path, errClosed)
	}
	if s.opt.readOnly {
		return fmt.Errorf("store %s: opened read-only", s.path)
	}
	defer guard(s.path, &err)()
	return s.db.Update(fn)
}

// Put stores sigs in one transaction. A Signal already stored (same id and
// time) is left as it is, so that reading the same records twice stores
// them once. A Signal without an id gets one derived from its content. A
// Signal about a pod that names no node gets the node that an earlier
// Signal about the same pod named (Attrs "node_from": "store"), so that it
// is found by its node too.
func (s *Store) Put(sigs []signal.Signal) error {
	_, err := s.put(sigs)
	return err
}

// put returns the number of Signals newly stored.
func (s *Store) put(sigs []signal.Signal) (int, error) {
	if len(sigs) == 0 {
		return 0, nil
	}
	added := 0
	err := s.update(func(tx *bolt.Tx) error {
		n, err := putTx(tx, sigs, true)
		added = n
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("write %d signals to store %s: %w", len(sigs), s.path, err)
	}
	return added, nil
}

// putTx stores sigs within tx, in blocks (see block.go); learn lends pods
// the node learned from other Signals (not when migrating: those Signals
// got theirs when first stored). bbolt keeps references to keys and values
// until the transaction ends; and it splits pages only at commit, so keys
// go in in ascending order (inserting at random places into the same
// growing page is quadratic).
func putTx(tx *bolt.Tx, sigs []signal.Signal, learn bool) (int, error) {
	bb, ib := tx.Bucket(bucketBlocks), tx.Bucket(bucketIndex)
	bb.FillPercent = 1.0 // appended in time order, mostly
	nodes := newPodNodes(tx.Bucket(bucketPodNode))
	type entry struct {
		tk, mk uint64 // time key and minute key, as integers
		s      *signal.Signal
	}
	ents := make([]entry, 0, len(sigs))
	var scratch []byte
	if learn {
		nodes.preload(sigs)
	}
	for i := range sigs {
		sg := &sigs[i]
		lend := ""
		if learn {
			lend = nodes.learn(&sg.Asset)
		}
		if lend != "" || sg.ID == "" {
			c := *sg // a copy: the caller's Signals are not changed
			if lend != "" {
				c.Asset.Node = lend
				attrs := make(map[string]string, len(c.Attrs)+1)
				for k, v := range c.Attrs {
					attrs[k] = v
				}
				c.Attrs = attrs
				c.SetAttr("node_from", "store")
			}
			if c.ID == "" {
				scratch = appendSignal(scratch[:0], &c)
				c.ID = signal.MakeID("store", scratch)
			}
			sg = &c
		}
		tk, mk := timeKey(sg.Time), timeKey(sg.Time.Truncate(indexSpan))
		ents = append(ents, entry{binary.BigEndian.Uint64(tk[:]), binary.BigEndian.Uint64(mk[:]), sg})
	}
	slices.SortFunc(ents, func(a, b entry) int {
		if c := cmp.Compare(a.tk, b.tk); c != 0 {
			return c
		}
		return strings.Compare(a.s.ID, b.s.ID)
	})
	// What is new: fresh telemetry is newer than the newest stored minute
	// and needs no look-up; older Signals are looked up among the ids
	// stored in their minute.
	var lastMK uint64
	hasLast := false
	if k, _ := bb.Cursor().Last(); len(k) >= 8 {
		lastMK, hasLast = binary.BigEndian.Uint64(k), true
	}
	var seen map[string]struct{}
	seenMK, seenOK := uint64(0), false
	keep := make([]entry, 0, len(ents))
	for n, e := range ents {
		if n > 0 && e.tk == ents[n-1].tk && e.s.ID == ents[n-1].s.ID {
			continue // the same Signal twice in one batch
		}
		if hasLast && e.mk <= lastMK {
			if !seenOK || seenMK != e.mk {
				var err error
				if seen, err = storedIDs(bb, e.mk); err != nil {
					return 0, err
				}
				seenMK, seenOK = e.mk, true
			}
			scratch = binary.BigEndian.AppendUint64(scratch[:0], e.tk)
			scratch = append(scratch, e.s.ID...)
			if _, ok := seen[string(scratch)]; ok {
				continue // stored before
			}
		}
		keep = append(keep, e)
	}
	var w blockWriter
	postings := map[string]*[]byte{}
	var kb []byte
	for i := 0; i < len(keep); {
		mk := keep[i].mk
		var mkb [8]byte
		binary.BigEndian.PutUint64(mkb[:], mk)
		seq, err := nextSeq(bb, mkb[:])
		if err != nil {
			return 0, err
		}
		for i < len(keep) && keep[i].mk == mk {
			w.reset()
			for i < len(keep) && keep[i].mk == mk && w.n() < maxBlockSignals && w.size() < maxBlockBytes {
				e := keep[i]
				slot := w.n()
				var tk [8]byte
				binary.BigEndian.PutUint64(tk[:], e.tk)
				w.add(e.s, tk)
				eachIndexKey(kb, e.s, func(k []byte) {
					p, ok := postings[string(k)]
					if !ok {
						p = new([]byte)
						postings[string(k)] = p
					}
					*p = appendRef(*p, seq, slot)
					kb = k
				})
				i++
			}
			key := blockKey(mkb[:], seq)
			if err := bb.Put(bytes.Clone(key[:]), w.bytes()); err != nil {
				return 0, err
			}
			if seq == math.MaxUint32 && i < len(keep) && keep[i].mk == mk {
				return 0, fmt.Errorf("minute %s has too many blocks", keyTime(mkb[:]).Format(time.RFC3339))
			}
			seq++
		}
	}
	keys := make([]string, 0, len(postings))
	for k := range postings {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		kb := []byte(k)
		old := ib.Get(kb)
		v := make([]byte, 0, len(old)+len(*postings[k]))
		v = append(append(v, old...), *postings[k]...)
		if err := ib.Put(kb, v); err != nil {
			return 0, err
		}
	}
	return len(keep), nodes.save()
}

// storedIDs returns the time key and id of every Signal stored in the
// minute mk, each as one string.
func storedIDs(bb *bolt.Bucket, mk uint64) (map[string]struct{}, error) {
	var mkb [8]byte
	binary.BigEndian.PutUint64(mkb[:], mk)
	out := map[string]struct{}{}
	c := bb.Cursor()
	var key []byte
	for k, v := c.Seek(mkb[:]); k != nil && bytes.HasPrefix(k, mkb[:]); k, v = c.Next() {
		b, err := parseBlock(v)
		if err != nil {
			return nil, fmt.Errorf("block %x: %w", k, err)
		}
		for i := range b.slots {
			s, err := b.slot(i)
			if err != nil {
				return nil, fmt.Errorf("block %x: %w", k, err)
			}
			if len(s) == 0 {
				continue
			}
			tk, id, ok := slotHead(s)
			if !ok {
				return nil, fmt.Errorf("block %x: %w: slot %d", k, errBadBlock, i)
			}
			key = append(append(key[:0], tk...), id...)
			out[string(key)] = struct{}{}
		}
	}
	return out, nil
}

// nextSeq returns the sequence number of the next block of the minute mk.
func nextSeq(bb *bolt.Bucket, mk []byte) (uint32, error) {
	c := bb.Cursor()
	top := blockKey(mk, math.MaxUint32)
	k, _ := c.Seek(top[:])
	if bytes.Equal(k, top[:]) {
		return 0, fmt.Errorf("minute %s has too many blocks", keyTime(mk).Format(time.RFC3339))
	}
	if k == nil {
		k, _ = c.Last()
	} else {
		k, _ = c.Prev()
	}
	if len(k) == 12 && bytes.Equal(k[:8], mk) {
		return binary.BigEndian.Uint32(k[8:]) + 1, nil
	}
	return 0, nil
}

// podNodes learns which node a pod runs on from the Signals that name both,
// and lends it to those that name only the pod.
type podNodes struct {
	b       *bolt.Bucket
	key     []byte
	known   map[string]string
	changed map[string]bool
}

func newPodNodes(b *bolt.Bucket) *podNodes {
	return &podNodes{b: b, known: map[string]string{}, changed: map[string]bool{}}
}

// preload reads the stored node of every pod that sigs name, with one
// cursor in key order: a batch names many pods, and walking the bucket
// costs less than a look-up for each.
func (p *podNodes) preload(sigs []signal.Signal) {
	var want []string
	for i := range sigs {
		a := &sigs[i].Asset
		if a.Pod == "" {
			continue
		}
		p.key = appendLP(appendLP(appendLP(p.key[:0], a.Cluster), a.Namespace), a.Pod)
		if _, ok := p.known[string(p.key)]; ok {
			continue
		}
		k := string(p.key)
		p.known[k] = ""
		want = append(want, k)
	}
	if len(want) == 0 {
		return
	}
	slices.Sort(want)
	c := p.b.Cursor()
	k, v := c.Seek([]byte(want[0]))
	for _, w := range want {
		for steps := 0; k != nil && string(k) < w && steps < 8; steps++ {
			k, v = c.Next()
		}
		if k != nil && string(k) < w {
			k, v = c.Seek([]byte(w))
		}
		if k == nil {
			return
		}
		if string(k) == w {
			p.known[w] = string(v)
		}
	}
}

// learn learns from a, and returns the node to lend a pod without one, or
// "".
func (p *podNodes) learn(a *signal.Asset) string {
	if a.Pod == "" {
		return ""
	}
	p.key = appendLP(appendLP(appendLP(p.key[:0], a.Cluster), a.Namespace), a.Pod)
	n, ok := p.known[string(p.key)] // no allocation for the lookup
	if !ok {
		n = string(p.b.Get(p.key))
		p.known[string(p.key)] = n
	}
	if a.Node != "" {
		if n != a.Node {
			p.known[string(p.key)] = a.Node
			p.changed[string(p.key)] = true
		}
		return ""
	}
	return n
}

func (p *podNodes) save() error {
	keys := make([]string, 0, len(p.changed))
	for k := range p.changed {
		keys = append(keys, k)
	}
	slices.Sort(keys) // ascending, as putTx explains
	for _, k := range keys {
		if err := p.b.Put([]byte(k), []byte(p.known[k])); err != nil {
			return err
		}
	}
	return nil
}

// Query selects stored Signals. Zero fields select everything.
type Query struct {
	// Asset selects Signals about one asset; a zero Kind selects all.
	Asset Asset
	// Source selects one source's Signals by its configured name.
	Source string
	// Since and Until bound the Signals' times, both inclusive; zero is
	// unbounded.
	Since, Until time.Time
	// Limit keeps only the newest Limit Signals; 0 keeps all.
	Limit int
}

// Find returns the Signals q selects, oldest first.
func (s *Store) Find(q Query) ([]signal.Signal, error) {
	var out []signal.Signal
	err := s.Each(q, func(sg *signal.Signal) error {
		out = append(out, *sg)
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	if q.Limit > 0 && len(out) > q.Limit {
		out = out[len(out)-q.Limit:]
	}
	return out, nil
}

// blockCache reads Signals by (minute, sequence, slot), keeping the last
// block parsed.
type blockCache struct {
	bb  *bolt.Bucket
	key [12]byte
	blk block
	ok  bool // blk is key's
	dec slotDecoder
}

// slot returns the bytes of a slot; nil when its block or Signal is gone.
func (c *blockCache) slot(mk []byte, seq uint32, i int) ([]byte, error) {
	key := blockKey(mk, seq)
	if !c.ok || key != c.key {
		c.ok = false
		v := c.bb.Get(key[:])
		if v == nil {
			return nil, nil // an index entry without its Signal: skip
		}
		b, err := parseBlock(v)
		if err != nil {
			return nil, fmt.Errorf("block %x: %w", key, err)
		}
		c.key, c.blk, c.ok = key, b, true
	}
	s, err := c.blk.slot(i)
	if err != nil {
		return nil, fmt.Errorf("block %x: %w", key, err)
	}
	return s, nil
}

// Each calls fn with every Signal q selects (q.Limit aside), within one
// read transaction: in time order for the whole store (equal times by
// id); for an asset or a source minute by minute, within a minute cluster
// by cluster when q.Asset.Cluster is empty, and in the order stored. Find
// sorts by time. The Signal
// is fn's to keep. An error from fn stops the walk and is returned.
func (s *Store) Each(q Query, fn func(*signal.Signal) error) error {
	lo, hi := timeKey(q.Since), timeKey(q.Until)
	if q.Until.IsZero() {
		hi = [8]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	}
	a := q.Asset
	src := q.Source
	if a.Kind == 0 && src != "" {
		a = Asset{Kind: KindSource, Name: src}
		src = ""
	}
	var prefix []byte
	if a.Kind != 0 {
		p, err := a.prefix()
		if err != nil {
			return err
		}
		prefix = p
	}
	err := s.view(func(tx *bolt.Tx) error {
		bc := &blockCache{bb: tx.Bucket(bucketBlocks)}
		var sg signal.Signal
		// emit decodes slot sl of bc's block when its time is in range.
		emit := func(sl []byte) error {
			if len(sl) == 0 {
				return nil // expired
			}
			if len(sl) < 8 || bytes.Compare(sl[:8], lo[:]) < 0 || bytes.Compare(sl[:8], hi[:]) > 0 {
				return nil
			}
			bc.dec.blk = &bc.blk
			if err := bc.dec.decode(sl, &sg); err != nil {
				return fmt.Errorf("block %x: %w", bc.key, err)
			}
			if src != "" && sg.Source.Name != src {
				return nil
			}
			return fn(&sg)
		}
		if prefix == nil {
			return scanBlocks(bc, lo, hi, emit)
		}
		each := func(mk []byte, seq uint32, slot int) error {
			sl, err := bc.slot(mk, seq, slot)
			if err != nil {
				return err
			}
			return emit(sl)
		}
		exact := a.Cluster != "" || a.Kind == KindSource
		if exact {
			prefix = appendLP(prefix, a.Cluster)
		}
		return scanAsset(tx.Bucket(bucketIndex), prefix, exact, q.Since, hi, each)
	})
	if err != nil {
		return fmt.Errorf("query store %s: %w", s.path, err)
	}
	return nil
}

// scanBlocks calls emit with every slot of the blocks of the minutes from
// lo's to hi's, in time and id order: bc's block is the slot's.
func scanBlocks(bc *blockCache, lo, hi [8]byte, emit func(sl []byte) error) error {
	first := timeKey(keyTime(lo[:]).Truncate(indexSpan))
	c := bc.bb.Cursor()
	type ref struct { // no pointers: sorting moves no write barriers
		tk        uint64
		blk, slot int32
	}
	var blks []block
	var keys [][]byte
	var refs []ref
	k, v := c.Seek(first[:])
	for k != nil {
		if len(k) != 12 {
			return fmt.Errorf("block key %x: %w", k, errBadBlock)
		}
		if bytes.Compare(k[:8], hi[:]) > 0 {
			return nil // the minute starts after hi
		}
		// The blocks of one minute.
		mk := k[:8]
		blks, keys, refs = blks[:0], keys[:0], refs[:0]
		for ; k != nil && bytes.HasPrefix(k, mk); k, v = c.Next() {
			b, err := parseBlock(v)
			if err != nil {
				return fmt.Errorf("block %x: %w", k, err)
			}
			blks, keys = append(blks, b), append(keys, k)
		}
		if len(blks) == 1 { // in order already
			bc.key, bc.blk, bc.ok = [12]byte(keys[0]), blks[0], true
			for i := range blks[0].slots {
				sl, err := bc.blk.slot(i)
				if err != nil {
					return fmt.Errorf("block %x: %w", keys[0], err)
				}
				if err := emit(sl); err != nil {
					return err
				}
			}
			continue
		}
		for bi := range blks {
			for i := range blks[bi].slots {
				sl, err := blks[bi].slot(i)
				if err != nil {
					return fmt.Errorf("block %x: %w", keys[bi], err)
				}
				if len(sl) == 0 {
					continue
				}
				tk, _, ok := slotHead(sl)
				if !ok {
					return fmt.Errorf("block %x: %w: slot %d", keys[bi], errBadBlock, i)
				}
				refs = append(refs, ref{tk: binary.BigEndian.Uint64(tk), blk: int32(bi), slot: int32(i)})
			}
		}
		// (time, id) is unique in a store: a total order. Equal times are
		// rare; their ids are read again.
		id := func(r ref) []byte {
			sl, _ := blks[r.blk].slot(int(r.slot))
			_, id, _ := slotHead(sl)
			return id
		}
		slices.SortFunc(refs, func(a, b ref) int {
			if c := cmp.Compare(a.tk, b.tk); c != 0 {
				return c
			}
			if c := bytes.Compare(id(a), id(b)); c != 0 {
				return c
			}
			return cmp.Compare(a.blk, b.blk)
		})
		for _, r := range refs {
			bc.key, bc.blk, bc.ok = [12]byte(keys[r.blk]), blks[r.blk], true
			sl, _ := bc.blk.slot(int(r.slot))
			if err := emit(sl); err != nil {
				return err
			}
		}
	}
	return nil
}

// scanAsset calls fn with the minute, block sequence and slot of every
// index entry of the asset prefix (kind and parts; with the cluster when
// exact) in the minutes from since's to hi's; fn checks the Signal's own
// time. Every minute stored in between costs a look-up or two.
func scanAsset(ib *bolt.Bucket, prefix []byte, exact bool, since time.Time, hi [8]byte, fn func(mk []byte, seq uint32, slot int) error) error {
	c := ib.Cursor()
	first := timeKey(since.Truncate(indexSpan))
	key := make([]byte, 0, 8+len(prefix))
	var ferr error
	refs := func(k, v []byte) error {
		mk := k[:8]
		err := eachRef(v, func(seq uint32, slot int) bool {
			ferr = fn(mk, seq, slot)
			return ferr == nil
		})
		if err != nil {
			return fmt.Errorf("index key %x: %w", k, err)
		}
		return ferr
	}
	// A bounded range of up to a week: every minute in it, one look-up
	// each; otherwise the minutes stored, found by seeking.
	until := keyTime(hi[:])
	bounded := !since.IsZero() && hi != [8]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff} &&
		!until.Before(since) && until.Sub(since) <= 7*24*time.Hour &&
		since.After(minTime.Add(indexSpan)) && until.Before(maxTime.Add(-indexSpan)) // no clamped keys
	m := since.Truncate(indexSpan)
	var k []byte
	if bounded {
		k = first[:]
	} else {
		k, _ = c.Seek(first[:])
	}
	for k != nil {
		if len(k) < 8 {
			return fmt.Errorf("index key %x: %w", k, errBadKey)
		}
		if bytes.Compare(k[:8], hi[:]) > 0 {
			return nil // the minute starts after hi
		}
		key = append(append(key[:0], k[:8]...), prefix...)
		if exact {
			if v := ib.Get(key); v != nil {
				if err := refs(key, v); err != nil {
					return err
				}
			}
		} else {
			// Every cluster: the rest of the key is one.
			for k, v := c.Seek(key); k != nil && bytes.HasPrefix(k, key); k, v = c.Next() {
				if readLP(k[len(key):]) != len(k)-len(key) {
					return fmt.Errorf("index key %x: %w", k, errBadKey)
				}
				if err := refs(k, v); err != nil {
					return err
				}
			}
		}
		if bounded {
			m = m.Add(indexSpan)
			if m.After(until) {
				return nil
			}
			mk := timeKey(m)
			k = mk[:]
			continue
		}
		next := successor(key[:8])
		if next == nil {
			return nil
		}
		k, _ = c.Seek(next)
	}
	return nil
}

// LastRecord returns the time of the newest stored Signal of the source
// name (heartbeats included) at or before until, or zero.
func (s *Store) LastRecord(name string, until time.Time) (time.Time, error) {
	cp := appendLP(appendLP([]byte{byte(KindSource)}, name), "")
	hi := timeKey(until)
	var last []byte
	err := s.view(func(tx *bolt.Tx) error {
		bc := &blockCache{bb: tx.Bucket(bucketBlocks)}
		ib := tx.Bucket(bucketIndex)
		c := ib.Cursor()
		// The minutes at or before until's, newest first, until one has
		// an entry at or before until.
		minute := timeKey(until.Truncate(indexSpan))
		var k []byte
		if after := successor(minute[:]); after != nil {
			k, _ = c.Seek(after)
		}
		if k == nil {
			k, _ = c.Last()
		} else {
			k, _ = c.Prev()
		}
		key := make([]byte, 0, 8+len(cp))
		for k != nil {
			if len(k) < 8 {
				return fmt.Errorf("index key %x: %w", k, errBadKey)
			}
			key = append(append(key[:0], k[:8]...), cp...)
			mk := key[:8]
			if v := ib.Get(key); v != nil {
				var ferr error
				err := eachRef(v, func(seq uint32, slot int) bool {
					sl, err := bc.slot(mk, seq, slot)
					if err != nil {
						ferr = err
						return false
					}
					if len(sl) >= 8 && bytes.Compare(sl[:8], hi[:]) <= 0 && (last == nil || bytes.Compare(sl[:8], last) > 0) {
						last = bytes.Clone(sl[:8])
					}
					return true
				})
				if err != nil {
					return fmt.Errorf("index key %x: %w", key, err)
				}
				if ferr != nil {
					return ferr
				}
				if last != nil {
					return nil
				}
			}
			// The newest key of the minute before.
			c.Seek(mk)
			k, _ = c.Prev()
		}
		return nil
	})
	if err != nil || last == nil {
		if err != nil {
			err = fmt.Errorf("query store %s: %w", s.path, err)
		}
		return time.Time{}, err
	}
	return keyTime(last), nil
}

// Count returns how many Signals are stored.
func (s *Store) Count() (int, error) {
	n := 0
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketBlocks).ForEach(func(k, v []byte) error {
			b, err := parseBlock(v)
			if err != nil {
				return fmt.Errorf("block %x: %w", k, err)
			}
			n += b.live
			return nil
		})
	})
	if err != nil {
		return 0, fmt.Errorf("count signals in store %s: %w", s.path, err)
	}
	return n, nil
}

// Expire deletes every Signal older than before, with its index entries,
// in transactions of about expireChunk Signals (whole blocks) so that
// readers and writers are not held up for long. A block with Signals on
// both sides of before is rewritten without the older ones. It returns how
// many it deleted. The file does not shrink: Compact does that.
func (s *Store) Expire(before time.Time) (int, error) {
	end := timeKey(before)
	total := 0
	for {
		n, more := 0, false
		err := s.update(func(tx *bolt.Tx) error {
			bb, ib := tx.Bucket(bucketBlocks), tx.Bucket(bucketIndex)
			type change struct {
				key []byte
				v   []byte // nil: delete
			}
			var changes []change
			// The entries to remove, by index key: "seq slot" of the
			// minute in the key.
			gone := map[string]map[[2]uint64]bool{}
			var kb []byte
			var dec slotDecoder
			var sg signal.Signal
			// Minutes before before's go whole, with their index keys;
			// before's minute Signal by Signal. A transaction ends only
			// between minutes.
			endMinute := timeKey(before.Truncate(indexSpan))
			var whole [][]byte
			c := bb.Cursor()
			for k, v := c.First(); k != nil; k, v = c.Next() {
				if len(k) != 12 {
					return fmt.Errorf("block key %x: %w", k, errBadBlock)
				}
				if bytes.Compare(k[:8], end[:]) >= 0 {
					break // this minute starts at or after before
				}
				newMinute := len(whole) == 0 || !bytes.Equal(whole[len(whole)-1], k[:8])
				if n >= expireChunk && newMinute {
					more = true
					break
				}
				b, err := parseBlock(v)
				if err != nil {
					return fmt.Errorf("block %x: %w", k, err)
				}
				if bytes.Compare(k[:8], endMinute[:]) < 0 {
					if newMinute {
						whole = append(whole, bytes.Clone(k[:8]))
					}
					changes = append(changes, change{key: bytes.Clone(k)})
					n += b.live
					continue
				}
				seq := uint64(binary.BigEndian.Uint32(k[8:]))
				drop := make([]bool, b.slots)
				dropped, live := 0, 0
				dec.blk = &b
				for i := range b.slots {
					sl, err := b.slot(i)
					if err != nil {
						return fmt.Errorf("block %x: %w", k, err)
					}
					if len(sl) == 0 {
						continue
					}
					live++
					if len(sl) < 8 || bytes.Compare(sl[:8], end[:]) >= 0 {
						continue
					}
					if err := dec.decode(sl, &sg); err != nil {
						return fmt.Errorf("block %x: %w", k, err)
					}
					drop[i] = true
					dropped++
					eachIndexKey(kb, &sg, func(ik []byte) {
						m := gone[string(ik)]
						if m == nil {
							m = map[[2]uint64]bool{}
							gone[string(ik)] = m
						}
						m[[2]uint64{seq, uint64(i)}] = true
						kb = ik
					})
				}
				switch {
				case dropped == 0:
				case dropped == live:
					changes = append(changes, change{key: bytes.Clone(k)})
				default:
					changes = append(changes, change{key: bytes.Clone(k), v: b.without(drop)})
				}
				n += dropped
			}
			for _, mk := range whole {
				var dead [][]byte
				ic := ib.Cursor()
				for k, _ := ic.Seek(mk); k != nil && bytes.HasPrefix(k, mk); k, _ = ic.Next() {
					dead = append(dead, bytes.Clone(k))
				}
				for _, k := range dead {
					if err := ib.Delete(k); err != nil {
						return err
					}
				}
			}
			// Rewrite the index keys of what goes: keep the other entries.
			keys := make([]string, 0, len(gone))
			for k := range gone {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			for _, k := range keys {
				m := gone[k]
				var keep []byte
				if err := eachRef(ib.Get([]byte(k)), func(seq uint32, slot int) bool {
					if !m[[2]uint64{uint64(seq), uint64(slot)}] {
						keep = appendRef(keep, seq, slot)
					}
					return true
				}); err != nil {
					return fmt.Errorf("index key %x: %w", k, err)
				}
				var err error
				if len(keep) == 0 {
					err = ib.Delete([]byte(k))
				} else {
					err = ib.Put([]byte(k), keep)
				}
				if err != nil {
					return err
				}
			}
			for _, ch := range changes {
				var err error
				if ch.v == nil {
					err = bb.Delete(ch.key)
				} else {
					err = bb.Put(ch.key, ch.v)
				}
				if err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return total, fmt.Errorf("expire signals in store %s: %w", s.path, err)
		}
		total += n
		if !more {
			return total, nil
		}
	}
}

// expireChunk is about how many Signals one expiry transaction deletes: it
// stops at the first block after that many (a variable for tests).
var expireChunk = 10000

// Compact rewrites the store into a new file without the free pages that
// deletions left, then replaces the old file with it (an atomic rename in
// the same folder). Readers and writers of this Store wait meanwhile. It
// returns the file's size before and after.
func (s *Store) Compact() (before, after int64, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db == nil {
		return 0, 0, fmt.Errorf("compact store %s: %w", s.path, errClosed)
	}
	if s.opt.readOnly {
		return 0, 0, fmt.Errorf("compact store %s: opened read-only", s.path)
	}
	fail := func(err error) (int64, int64, error) {
		return 0, 0, fmt.Errorf("compact store %s: %w", s.path, err)
	}
	if st, err := os.Stat(s.path); err == nil {
		before = st.Size()
	}
	tmp, err := os.CreateTemp(filepath.Dir(s.path), filepath.Base(s.path)+".compact-*")
	if err != nil {
		return fail(err)
	}
	tmpName := tmp.Name()
	_ = tmp.Close()
	defer os.Remove(tmpName) // a no-op after the rename
	dst, err := bolt.Open(tmpName, 0o600, &bolt.Options{Timeout: s.opt.timeout})
	if err != nil {
		return fail(err)
	}
	if err := bolt.Compact(dst, s.db, 64<<20); err != nil {
		_ = dst.Close()
		return fail(err)
	}
	if err := dst.Close(); err != nil {
		return fail(err)
	}
	if err := s.db.Close(); err != nil {
		return fail(err)
	}
	s.db = nil
	if err := os.Rename(tmpName, s.path); err != nil {
		err = fmt.Errorf("replace with the compacted copy: %w", err)
		if db, rerr := s.open(); rerr == nil {
			s.db = db
		}
		return fail(err)
	}
	if d, err := os.Open(filepath.Dir(s.path)); err == nil {
		_ = d.Sync() // make the rename durable
		_ = d.Close()
	}
	db, err := s.open()
	if err != nil {
		return fail(err)
	}
	s.db = db
	if st, err := os.Stat(s.path); err == nil {
		after = st.Size()
	}
	return before, after, nil
}

// SourceRecord is what the store keeps about one source, across restarts.
type SourceRecord struct {
	Name string `json:"name"`
	Type string `json:"type"`
	// LastSuccess is when a read or poll last succeeded; LastError when
	// one last failed, and Err why.
	LastSuccess time.Time `json:"last_success,omitzero"`
	LastError   time.Time `json:"last_error,omitzero"`
	Err         string    `json:"error,omitempty"`
	// Records, Rejected and Signals count the last successful read;
	// Stored how many of its Signals were new to the store.
	Records  int `json:"records"`
	Rejected int `json:"rejected"`
	Signals  int `json:"signals"`
	Stored   int `json:"stored"`
	// LastRecord is the newest record time seen (heartbeats included);
	// Written the file's modification time or the poll time of the last
	// successful read.
	LastRecord time.Time `json:"last_record,omitzero"`
	Written    time.Time `json:"written,omitzero"`
	// MaxAge is the configured maximum age (0: DefaultMaxAge).
	MaxAge time.Duration `json:"max_age,omitempty"`
	// Reads and Failures count every read recorded.
	Reads    int `json:"reads"`
	Failures int `json:"failures"`
}

// Read is the outcome of one read or poll of a source.
type Read struct {
	Source signal.SourceRef
	// At is when the read happened; zero is now.
	At time.Time
	// Err is why the source could not be read; nil on success.
	Err error
	// Signals, Records, Rejected, LastRecord and Written are the read's
	// results (see source.Batch).
	Signals    []signal.Signal
	Records    int
	Rejected   int
	LastRecord time.Time
	Written    time.Time
	// MaxAge is the source's configured maximum age.
	MaxAge time.Duration
}

// Record stores a read's Signals and updates the source's record, in one
// transaction: a crash leaves either both or neither.
func (s *Store) Record(r Read) (SourceRecord, error) {
	if r.Source.Name == "" {
		return SourceRecord{}, errors.New("record a read: source without a name")
	}
	at := r.At
	if at.IsZero() {
		at = time.Now()
	}
	at = at.UTC()
	sigs := r.Signals
	for i := range sigs {
		if sigs[i].Source.Name == "" {
			sigs[i].Source = r.Source
		}
	}
	var rec SourceRecord
	err := s.update(func(tx *bolt.Tx) error {
		rec = SourceRecord{}
		b := tx.Bucket(bucketSources)
		if v := b.Get([]byte(r.Source.Name)); v != nil {
			if err := json.Unmarshal(v, &rec); err != nil {
				return fmt.Errorf("source record %q: %w", r.Source.Name, err)
			}
		}
		rec.Name, rec.Type, rec.Reads = r.Source.Name, r.Source.Type, rec.Reads+1
		if r.MaxAge > 0 {
			rec.MaxAge = r.MaxAge
		}
		if r.Err != nil {
			rec.Failures++
			rec.LastError, rec.Err = at, r.Err.Error()
		} else {
			n, err := putTx(tx, sigs, true)
			if err != nil {
				return err
			}
			rec.LastSuccess = at
			rec.Records, rec.Rejected, rec.Signals, rec.Stored = r.Records, r.Rejected, len(sigs), n
			if r.LastRecord.After(rec.LastRecord) {
				rec.LastRecord = r.LastRecord.UTC()
			}
			rec.Written = r.Written.UTC()
			if r.Written.IsZero() {
				rec.Written = at
			}
		}
		v, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		return b.Put([]byte(r.Source.Name), v)
	})
	if err != nil {
		return rec, fmt.Errorf("record source %s in store %s: %w", r.Source.Name, s.path, err)
	}
	return rec, nil
}

// Sources returns every source's record, by name.
func (s *Store) Sources() ([]SourceRecord, error) {
	var out []SourceRecord
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketSources).ForEach(func(k, v []byte) error {
			var r SourceRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("source record %q: %w", k, err)
			}
			out = append(out, r)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("read sources of store %s: %w", s.path, err)
	}
	return out, nil
}

// Source returns the record of the source name; ok is false when the store
// has none.
func (s *Store) Source(name string) (rec SourceRecord, ok bool, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketSources).Get([]byte(name))
		if v == nil {
			return nil
		}
		ok = true
		return json.Unmarshal(v, &rec)
	})
	if err != nil {
		return rec, false, fmt.Errorf("read source %s of store %s: %w", name, s.path, err)
	}
	return rec, ok, nil
}

// Health returns what the store knows about the source name's liveness as
// of now, for Health.Evaluate: the newest stored record at or before now,
// the last successful read's write time, and the last read's error when
// the last read at or before now failed. A source the store has no record
// of is unavailable.
func (s *Store) Health(name string, now time.Time) (Health, SourceRecord, error) {
	rec, ok, err := s.Source(name)
	if err != nil {
		return Health{}, rec, err
	}
	if !ok {
		return Health{Err: fmt.Errorf("store %s has no record of source %q: has pulsegate fetch --store read it?", s.path, name)}, rec, nil
	}
	last, err := s.LastRecord(name, now)
	if err != nil {
		return Health{}, rec, err
	}
	h := Health{LastRecord: last}
	if !rec.LastRecord.IsZero() && !rec.LastRecord.After(now) && rec.LastRecord.After(h.LastRecord) {
		h.LastRecord = rec.LastRecord // its Signals may have expired
	}
	if !rec.LastSuccess.After(now) {
		h.Written = rec.Written
	}
	failedLast := !rec.LastError.IsZero() && !rec.LastError.After(now) &&
		(rec.LastSuccess.IsZero() || rec.LastSuccess.After(now) || rec.LastError.After(rec.LastSuccess))
	if failedLast {
		h.Err = fmt.Errorf("last read failed %s: %s", rec.LastError.Format(time.RFC3339), rec.Err)
	}
	return h, rec, nil
}
