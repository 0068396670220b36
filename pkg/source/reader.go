package source

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// UnwrapFunc splits an API envelope (a Kubernetes List, a Graph list
// response) into its records. ok is false when doc is not an envelope.
type UnwrapFunc func(doc []byte) (items []json.RawMessage, ok bool)

// MaxRecordBytes bounds one record. Longer lines are rejected, not fatal.
const MaxRecordBytes = 16 << 20

// Reject is a record that could not be used.
type Reject struct {
	File   string
	Line   int
	Reason string
}

// Error formats the reject as "FILE:LINE: reason".
func (r Reject) Error() string { return fmt.Sprintf("%s:%d: %s", r.File, r.Line, r.Reason) }

// ReadRecords splits r into records and calls fn for each. It accepts JSON
// lines, one JSON document (pretty-printed too), several concatenated
// documents, and a JSON array; unwrap (may be nil) further splits envelopes,
// and Kubernetes-style lists (an object whose "items" is an array and whose
// "kind" ends in "List") are always split. Records that are not JSON are
// passed to reject (which may be nil) with their line and reading goes on;
// only an I/O error or an error returned by fn stops it.
func ReadRecords(r io.Reader, file string, unwrap UnwrapFunc, fn func(Record) error, reject func(Reject)) error {
	if reject == nil {
		reject = func(Reject) {}
	}
	// Input already in memory is read where it lies, without the copy
	// into the reader's buffer, with the same records, lines and rejects.
	switch m := r.(type) {
	case *bytes.Buffer:
		return readRecordsIn(m.Next(m.Len()), file, unwrap, fn, reject)
	case *bytes.Reader:
		w := &wholeWriter{want: m.Len(), read: func(all []byte) error {
			return readRecordsIn(all, file, unwrap, fn, reject)
		}}
		_, _ = m.WriteTo(w) // w.err is read's error; a refusal (errNotWhole) leaves m unread
		if w.done {
			return w.err
		}
	}
	br := bufio.NewReaderSize(r, readerSize)
	first, err := peekFirstLine(br)
	if err != nil {
		return fmt.Errorf("read %s: %w", file, err)
	}
	if first == nil { // empty input
		return nil
	}
	if linesFirst(first) {
		return readLines(br, file, unwrap, fn, reject)
	}
	// A document that spans lines, an array, or garbage. Decode values one
	// after another; the input is kept so that a syntax error can fall back
	// to line mode with per-line reasons.
	all, err := io.ReadAll(br)
	if err != nil {
		return fmt.Errorf("read %s: %w", file, err)
	}
	return readDocuments(all, file, unwrap, fn, reject)
}

// readerSize is the buffer of ReadRecords' reader: the most of the first
// line that it looks at, and the longest line it reads without assembling.
const readerSize = 1 << 20

// linesFirst reports whether an input whose first line (blank lines before
// it included, at most readerSize bytes) is first should be read as JSON
// lines. A first line that fills the whole buffer cannot be checked whole;
// a line that starts an object is taken as JSON lines then.
func linesFirst(first []byte) bool {
	t := bytes.TrimSpace(first)
	return len(t) > 0 && t[0] != '[' && (json.Valid(t) || t[0] == '{' && len(first) >= readerSize)
}

// wholeWriter hands what a bytes.Reader writes to read, when it comes in one
// Write of all the reader holds (as bytes.Reader.WriteTo does); otherwise it
// takes nothing, and the reader is read as any other.
type wholeWriter struct {
	want int
	read func(all []byte) error
	done bool
	err  error
}

var errNotWhole = errors.New("source: input not written whole")

func (w *wholeWriter) Write(p []byte) (int, error) {
	if w.done || len(p) != w.want {
		return 0, errNotWhole
	}
	w.done = true
	w.err = w.read(p)
	return len(p), nil
}

// readRecordsIn is ReadRecords on input that is all in memory.
func readRecordsIn(all []byte, file string, unwrap UnwrapFunc, fn func(Record) error, reject func(Reject)) error {
	first := firstLineIn(all)
	if first == nil { // empty input
		return nil
	}
	if linesFirst(first) {
		return readLinesIn(all, file, unwrap, fn, reject)
	}
	return readDocuments(all, file, unwrap, fn, reject)
}

// firstLineIn is what peekFirstLine returns for a reader of all.
func firstLineIn(all []byte) []byte {
	w := all
	if len(w) > readerSize {
		w = w[:readerSize]
	}
	if i := firstNonBlankLineEnd(w); i >= 0 {
		return w[:i]
	}
	if len(all) < readerSize && len(bytes.TrimSpace(all)) == 0 {
		return nil
	}
	return w
}

func peekFirstLine(br *bufio.Reader) ([]byte, error) {
	for n := 4096; ; n *= 2 {
		b, err := br.Peek(n)
		if i := firstNonBlankLineEnd(b); i >= 0 {
			return b[:i], nil
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				if len(bytes.TrimSpace(b)) == 0 {
					return nil, nil
				}
				return b, nil
			}
			if errors.Is(err, bufio.ErrBufferFull) {
				return b, nil // a very long first line: decide on what we have
			}
			return nil, err
		}
		if n >= br.Size() {
			return b, nil
		}
	}
}

// firstNonBlankLineEnd returns the end of the first line with content, or -1
// when b holds no complete such line.
func firstNonBlankLineEnd(b []byte) int {
	start := 0
	for {
		i := bytes.IndexByte(b[start:], '\n')
		if i < 0 {
			return -1
		}
		if len(bytes.TrimSpace(b[start:start+i])) > 0 {
			return start + i
		}
		start += i + 1
	}
}

func readLines(br *bufio.Reader, file string, unwrap UnwrapFunc, fn func(Record) error, reject func(Reject)) error {
	line := 0
	var long []byte // a line longer than the reader's buffer, being assembled
	tooLong := false
	for {
		b, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			if !tooLong && len(long)+len(b) <= MaxRecordBytes {
				long = append(long, b...)
			} else {
				tooLong, long = true, long[:0]
			}
			continue
		}
		if tooLong || len(long)+len(b) > MaxRecordBytes {
			line++
			reject(Reject{file, line, fmt.Sprintf("record longer than %d bytes", MaxRecordBytes)})
			tooLong, long = false, long[:0]
		} else {
			if len(long) > 0 {
				b = append(long, b...)
				long = long[:0]
			}
			if len(b) > 0 {
				line++
				if t := bytes.TrimSpace(b); len(t) > 0 {
					if e := emit(t, file, line, unwrap, fn, reject); e != nil {
						return e
					}
				}
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("read %s: %w", file, err)
		}
	}
}

// readLinesIn is readLines on input that is all in memory: records are
// slices of all.
func readLinesIn(all []byte, file string, unwrap UnwrapFunc, fn func(Record) error, reject func(Reject)) error {
	line := 0
	for len(all) > 0 {
		var b []byte
		if i := bytes.IndexByte(all, '\n'); i >= 0 {
			b, all = all[:i+1], all[i+1:]
		} else {
			b, all = all, nil
		}
		line++
		if len(b) > MaxRecordBytes { // with its newline, as readLines counts
			reject(Reject{file, line, fmt.Sprintf("record longer than %d bytes", MaxRecordBytes)})
			continue
		}
		if t := bytes.TrimSpace(b); len(t) > 0 {
			if err := emit(t, file, line, unwrap, fn, reject); err != nil {
				return err
			}
		}
	}
	return nil
}

func emit(doc []byte, file string, line int, unwrap UnwrapFunc, fn func(Record) error, reject func(Reject)) error {
	if items, ok := splitEnvelope(doc, unwrap); ok {
		for _, it := range items {
			if err := fn(Record{Data: it, File: file, Line: line}); err != nil {
				return err
			}
		}
		return nil
	}
	if doc[0] != '{' && doc[0] != '[' {
		reject(Reject{file, line, "not a JSON object"})
		return nil
	}
	return fn(Record{Data: doc, File: file, Line: line})
}

func splitEnvelope(doc []byte, unwrap UnwrapFunc) ([]json.RawMessage, bool) {
	if len(doc) > 0 && doc[0] == '[' {
		var items []json.RawMessage
		if json.Unmarshal(doc, &items) == nil {
			return items, true
		}
		return nil, false
	}
	if unwrap != nil {
		if items, ok := unwrap(doc); ok {
			return items, true
		}
	}
	// Cheap pre-check before decoding: lists are rare in line streams.
	if !mayBeList(doc) {
		return nil, false
	}
	var list struct {
		Kind  string            `json:"kind"`
		Items []json.RawMessage `json:"items"`
	}
	if json.Unmarshal(doc, &list) != nil || list.Items == nil || len(list.Kind) < 4 || list.Kind[len(list.Kind)-4:] != "List" {
		return nil, false
	}
	return list.Items, true
}

func readDocuments(all []byte, file string, unwrap UnwrapFunc, fn func(Record) error, reject func(Reject)) error {
	dec := json.NewDecoder(bytes.NewReader(all))
	type doc struct {
		raw  json.RawMessage
		line int
	}
	var docs []doc
	for {
		start := dec.InputOffset()
		var raw json.RawMessage
		err := dec.Decode(&raw)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if len(docs) == 0 && looksLineOriented(all) {
				return readLines(bufio.NewReader(bytes.NewReader(all)), file, unwrap, fn, reject)
			}
			off := dec.InputOffset()
			var se *json.SyntaxError
			if errors.As(err, &se) {
				off = se.Offset
			}
			reject(Reject{file, lineAt(all, int(off)), "invalid JSON: " + err.Error()})
			break
		}
		// The value starts at the first non-space byte after start.
		s := int(start)
		for s < len(all) && isSpace(all[s]) {
			s++
		}
		docs = append(docs, doc{raw, lineAt(all, s)})
	}
	for _, d := range docs {
		t := bytes.TrimSpace(d.raw)
		if err := emitDocument(t, file, d.line, unwrap, fn, reject); err != nil {
			return err
		}
	}
	return nil
}

// emitDocument is emit for a document that may span lines, starting at
// line: each item of an envelope (an array, a List, an adapter's envelope)
// gets the line where the item itself starts, so that a rejected item
// reads FILE:LINE of its own first line.
func emitDocument(doc []byte, file string, line int, unwrap UnwrapFunc, fn func(Record) error, reject func(Reject)) error {
	items, ok := splitEnvelope(doc, unwrap)
	if !ok {
		if doc[0] != '{' && doc[0] != '[' {
			reject(Reject{file, line, "not a JSON object"})
			return nil
		}
		return fn(Record{Data: doc, File: file, Line: line})
	}
	lines := itemLines(doc, line, items)
	for i, it := range items {
		if err := fn(Record{Data: it, File: file, Line: lines[i]}); err != nil {
			return err
		}
	}
	return nil
}

// itemLines returns the line where each item starts, given that doc starts
// at line. Items are found in order as verbatim copies of doc's bytes (what
// decoding into json.RawMessage makes); from an item that is not found on
// (an envelope that re-encodes its items), the rest keep the line where the
// last item found ends: searching on could take time quadratic in the size.
func itemLines(doc []byte, line int, items []json.RawMessage) []int {
	out := make([]int, len(items))
	pos, l := 0, line // l is the line at doc[pos]
	lost := false
	for i, it := range items {
		out[i] = l
		if len(it) == 0 || lost {
			continue
		}
		k := bytes.Index(doc[pos:], it)
		if k < 0 {
			lost = true
			continue
		}
		l += bytes.Count(doc[pos:pos+k], []byte{'\n'})
		out[i] = l
		l += bytes.Count(it, []byte{'\n'})
		pos += k + len(it)
	}
	return out
}

// looksLineOriented reports whether at least one line holds a complete JSON
// object on its own: then a syntax error is better reported line by line.
func looksLineOriented(all []byte) bool {
	for _, l := range bytes.Split(all, []byte{'\n'}) {
		l = bytes.TrimSpace(l)
		if len(l) > 1 && l[0] == '{' && json.Valid(l) {
			return true
		}
	}
	return false
}

func lineAt(b []byte, off int) int {
	if off > len(b) {
		off = len(b)
	}
	if off < 0 {
		off = 0
	}
	return bytes.Count(b[:off], []byte{'\n'}) + 1
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
