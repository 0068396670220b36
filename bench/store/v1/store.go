package v1

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"sort"
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
	bucketSignals = []byte("signals")
	bucketIndex   = []byte("index")
	bucketSources = []byte("sources")
	bucketPodNode = []byte("podnode")
	keyFormat     = []byte("format")
)

// format is the value of meta/format. A store written by another version of
// the layout is refused, not misread.
const format = "pulsegate-store/1"

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
	case found != "":
		return fmt.Errorf("open store %s: format %q, want %q", s.path, found, format)
	case len(others) > 0:
		return fmt.Errorf("open store %s: a bbolt file of something else (buckets %v), not a pulsegate store", s.path, others)
	case s.opt.readOnly:
		return fmt.Errorf("open store %s: empty, not yet written", s.path)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketSignals, bucketIndex, bucketSources, bucketPodNode} {
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
		n, err := putTx(tx, sigs)
		added = n
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("write %d signals to store %s: %w", len(sigs), s.path, err)
	}
	return added, nil
}

// putTx stores sigs within tx. bbolt keeps references to keys and values
// until the transaction ends, so they live in an arena; and bbolt splits
// pages only at commit, so keys go in in ascending order (inserting at
// random places into the same growing page is quadratic).
func putTx(tx *bolt.Tx, sigs []signal.Signal) (int, error) {
	sb, ib, pn := tx.Bucket(bucketSignals), tx.Bucket(bucketIndex), tx.Bucket(bucketPodNode)
	sb.FillPercent = 0.9 // mostly appended in time order
	nodes := newPodNodes(pn)
	var ar arena
	type entry struct {
		pk []byte
		i  int // in work
	}
	prim := make([]entry, 0, len(sigs))
	work := make([]signal.Signal, 0, len(sigs))
	var scratch []byte
	// Fresh telemetry is newer than anything stored: a key after the last
	// one needs no look-up to know it is new.
	last, _ := sb.Cursor().Last()
	last = bytes.Clone(last)
	for i := range sigs {
		sg := sigs[i] // a copy: the caller's Signals are not changed
		nodes.learn(&sg)
		if sg.ID == "" {
			scratch = appendSignal(scratch[:0], &sg)
			sg.ID = signal.MakeID("store", scratch)
		}
		scratch = primaryKey(scratch[:0], &sg)
		if bytes.Compare(scratch, last) <= 0 && sb.Get(scratch) != nil {
			continue // stored before
		}
		prim = append(prim, entry{ar.copy(scratch), len(work)})
		work = append(work, sg)
	}
	slices.SortFunc(prim, func(a, b entry) int { return bytes.Compare(a.pk, b.pk) })
	postings := map[string]*[]byte{}
	added := 0
	for n, e := range prim {
		if n > 0 && bytes.Equal(e.pk, prim[n-1].pk) {
			continue // the same Signal twice in one batch
		}
		scratch = appendSignal(scratch[:0], &work[e.i])
		if err := sb.Put(e.pk, ar.copy(scratch)); err != nil {
			return 0, err
		}
		added++
		eachIndexKey(scratch[:0], &work[e.i], func(k []byte) {
			p, ok := postings[string(k)]
			if !ok {
				p = new([]byte)
				postings[string(k)] = p
			}
			*p = appendLP(*p, string(e.pk))
		})
	}
	keys := make([]string, 0, len(postings))
	for k := range postings {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		kb := ar.copy([]byte(k))
		old := ib.Get(kb)
		v := make([]byte, 0, len(old)+len(*postings[k]))
		v = append(append(v, old...), *postings[k]...)
		if err := ib.Put(kb, v); err != nil {
			return 0, err
		}
	}
	return added, nodes.save()
}

// arena hands out byte slices that stay valid until it is dropped, with
// few allocations.
type arena struct{ buf []byte }

func (a *arena) copy(b []byte) []byte {
	if len(b) > cap(a.buf)-len(a.buf) {
		a.buf = make([]byte, 0, max(64<<10, len(b)))
	}
	n := len(a.buf)
	a.buf = append(a.buf, b...)
	return a.buf[n:len(a.buf):len(a.buf)]
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

func (p *podNodes) learn(s *signal.Signal) {
	a := &s.Asset
	if a.Pod == "" {
		return
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
		return
	}
	if n != "" {
		a.Node = n
		attrs := make(map[string]string, len(s.Attrs)+1)
		for k, v := range s.Attrs {
			attrs[k] = v
		}
		s.Attrs = attrs
		s.SetAttr("node_from", "store")
	}
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

// Each calls fn with every Signal q selects (q.Limit aside), within one
// read transaction: in time order for the whole store; for an asset or a
// source minute by minute (within a minute in the order stored), cluster
// by cluster when q.Asset.Cluster is empty. Find sorts by time. The Signal
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
		sb := tx.Bucket(bucketSignals)
		var sg signal.Signal
		emit := func(pk, v []byte) error {
			if v == nil {
				return nil // an index entry without its Signal: skip
			}
			sg = signal.Signal{}
			if err := decodeSignal(v, &sg); err != nil {
				return fmt.Errorf("signal %x: %w", pk, err)
			}
			if src != "" && sg.Source.Name != src {
				return nil
			}
			return fn(&sg)
		}
		if prefix == nil {
			c := sb.Cursor()
			for k, v := c.Seek(lo[:]); k != nil && bytes.Compare(k[:min(8, len(k))], hi[:]) <= 0; k, v = c.Next() {
				if err := emit(k, v); err != nil {
					return err
				}
			}
			return nil
		}
		c := tx.Bucket(bucketIndex).Cursor()
		each := func(pk []byte) error { return emit(pk, sb.Get(pk)) }
		if a.Cluster != "" || a.Kind == KindSource {
			return scanRange(c, appendLP(bytes.Clone(prefix), a.Cluster), q.Since, q.Until, each)
		}
		// Every cluster: one range per cluster that knows the asset.
		k, _ := c.Seek(prefix)
		for k != nil && bytes.HasPrefix(k, prefix) {
			n := readLP(k[len(prefix):])
			if n < 0 {
				return fmt.Errorf("index key %x: %w", k, errBadKey)
			}
			cp := bytes.Clone(k[:len(prefix)+n])
			if err := scanRange(c, cp, q.Since, q.Until, each); err != nil {
				return err
			}
			next := successor(cp)
			if next == nil {
				return nil
			}
			k, _ = c.Seek(next)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("query store %s: %w", s.path, err)
	}
	return nil
}

// scanRange calls fn with the signal key of every index entry under the
// prefix cp whose time is in [since, until] (zero: unbounded).
func scanRange(c *bolt.Cursor, cp []byte, since, until time.Time, fn func(pk []byte) error) error {
	lo, hi := timeKey(since), timeKey(until)
	if until.IsZero() {
		hi = [8]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	}
	first := timeKey(since.Truncate(indexSpan))
	for k, v := c.Seek(append(bytes.Clone(cp), first[:]...)); k != nil && bytes.HasPrefix(k, cp); k, v = c.Next() {
		if len(k) != len(cp)+8 {
			return fmt.Errorf("index key %x: %w", k, errBadKey)
		}
		if bytes.Compare(k[len(cp):], hi[:]) > 0 {
			return nil // the minute starts after until
		}
		var ferr error
		err := eachEntry(v, func(pk []byte) bool {
			if bytes.Compare(pk[:8], lo[:]) < 0 || bytes.Compare(pk[:8], hi[:]) > 0 {
				return true
			}
			ferr = fn(pk)
			return ferr == nil
		})
		if err != nil {
			return fmt.Errorf("index key %x: %w", k, err)
		}
		if ferr != nil {
			return ferr
		}
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
		c := tx.Bucket(bucketIndex).Cursor()
		// The minutes at or before until's, newest first, until one has
		// an entry at or before until.
		minute := timeKey(until.Truncate(indexSpan))
		var k, v []byte
		if after := successor(append(bytes.Clone(cp), minute[:]...)); after != nil {
			k, v = c.Seek(after)
		}
		if k == nil {
			k, v = c.Last()
		} else {
			k, v = c.Prev()
		}
		for ; k != nil && bytes.HasPrefix(k, cp); k, v = c.Prev() {
			err := eachEntry(v, func(pk []byte) bool {
				if bytes.Compare(pk[:8], hi[:]) <= 0 && (last == nil || bytes.Compare(pk[:8], last) > 0) {
					last = bytes.Clone(pk[:8])
				}
				return true
			})
			if err != nil {
				return fmt.Errorf("index key %x: %w", k, err)
			}
			if last != nil {
				return nil
			}
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
		n = tx.Bucket(bucketSignals).Stats().KeyN
		return nil
	})
	return n, err
}

// Expire deletes every Signal older than before, with its index entries,
// in transactions of at most expireChunk Signals so that readers and
// writers are not held up for long. It returns how many it deleted. The
// file does not shrink: Compact does that.
func (s *Store) Expire(before time.Time) (int, error) {
	end := timeKey(before)
	total := 0
	for {
		n := 0
		err := s.update(func(tx *bolt.Tx) error {
			sb, ib := tx.Bucket(bucketSignals), tx.Bucket(bucketIndex)
			var keys [][]byte
			var sigs []signal.Signal
			c := sb.Cursor()
			for k, v := c.First(); k != nil && len(keys) < expireChunk; k, v = c.Next() {
				if len(k) < 8 || bytes.Compare(k[:8], end[:]) >= 0 {
					break
				}
				var sg signal.Signal
				if err := decodeSignal(v, &sg); err != nil {
					return fmt.Errorf("signal %x: %w", k, err)
				}
				keys = append(keys, bytes.Clone(k))
				sigs = append(sigs, sg)
			}
			// Rewrite the index keys of what goes: keep the entries at or
			// after before.
			touched := map[string]bool{}
			var kb []byte
			for i := range sigs {
				eachIndexKey(kb, &sigs[i], func(k []byte) { touched[string(k)] = true; kb = k })
			}
			for k := range touched {
				v := ib.Get([]byte(k))
				var keep []byte
				if err := eachEntry(v, func(pk []byte) bool {
					if bytes.Compare(pk[:8], end[:]) >= 0 {
						keep = appendLP(keep, string(pk))
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
			for _, pk := range keys {
				if err := sb.Delete(pk); err != nil {
					return err
				}
			}
			n = len(keys)
			return nil
		})
		if err != nil {
			return total, fmt.Errorf("expire signals in store %s: %w", s.path, err)
		}
		total += n
		if n < expireChunk {
			return total, nil
		}
	}
}

// expireChunk is how many Signals one expiry transaction deletes at most
// (a variable for tests).
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
			n, err := putTx(tx, sigs)
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
