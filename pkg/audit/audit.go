// Package audit keeps the gate's append-only, hash-chained audit log: one
// JSON line per decision, each line holding the hash of the line before, so
// that an edited, removed, inserted or reordered record is found by Verify
// and named by its line.
//
// # Format
//
// Every line is one JSON object whose last key is "hash":
//
//		{"seq":1,"prev":"sha256:000…","id":"…","time":"…","logged":"…","verdict":"block",…,"hash":"sha256:…"}
//
//	  - hash is the SHA-256 of the line's bytes with the final
//	    `,"hash":"sha256:<hex>"}` replaced by `}`: the record as written,
//	    byte for byte, without its own hash. Nothing is re-encoded to check it.
//	  - prev is the hash of the record before; the first record (the genesis)
//	    has prev Genesis, 64 zeros.
//	  - seq counts records from 1 without gaps.
//
// # What it detects
//
// A record changed without fixing its hash fails its own hash; one whose
// hash was recomputed breaks the next record's prev. A removed record leaves
// a gap in seq, an inserted or moved one a repeat or a step back. The chain
// cannot show that records were cut off the end, or that the whole file was
// rewritten: for that, keep the head hash that `pulsegate audit verify`
// prints somewhere else and pass it back with --head.
//
// # Concurrency
//
// Append takes an exclusive flock on the file, reads the last record, and
// writes the new line with one write(2) on a file opened O_APPEND, then
// fsyncs; several gates may share one log.
package audit

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/pulsegate/pulsegate/pkg/policy"
)

// Genesis is the prev of the first record.
const Genesis = "sha256:0000000000000000000000000000000000000000000000000000000000000000"

// MaxRecordBytes bounds one line. A record holds digests and rule names,
// not evidence, so it stays far below this.
const MaxRecordBytes = 1 << 20

// Record is one decision in the log.
type Record struct {
	Seq  int64  `json:"seq"`
	Prev string `json:"prev"`
	// ID and Time are the decision's; Logged is when the line was written.
	ID       string    `json:"id"`
	Time     time.Time `json:"time"`
	Logged   time.Time `json:"logged"`
	Verdict  string    `json:"verdict"`
	Mode     string    `json:"mode"`
	Enforced bool      `json:"enforced"`
	// Rules are the rules of the decision's reasons, in order.
	Rules []string `json:"rules"`
	// Inputs are the digests of everything the decision read.
	Inputs map[string]string `json:"inputs,omitempty"`
	// BreakGlass is the decision's break_glass object, when an override was
	// given: who, why, ticket, expiry.
	BreakGlass json.RawMessage `json:"break_glass,omitempty"`
	Hash       string          `json:"hash"`
}

// FromDecision makes the record for d (without seq, prev, logged and hash,
// which Append fills in).
func FromDecision(d *policy.Decision) (Record, error) {
	r := Record{ID: d.DecisionID, Time: d.Time.UTC(), Verdict: string(d.Verdict), Mode: string(d.Mode),
		Enforced: d.Enforced, Inputs: d.Inputs, Rules: []string{}}
	for _, x := range d.Reasons {
		r.Rules = append(r.Rules, x.Rule)
	}
	// The break-glass field is read from the decision's JSON so that the
	// log records whatever the policy records, field for field.
	b, err := json.Marshal(d)
	if err != nil {
		return r, fmt.Errorf("encode decision: %w", err)
	}
	var bg struct {
		BreakGlass json.RawMessage `json:"break_glass"`
	}
	if err := json.Unmarshal(b, &bg); err != nil {
		return r, fmt.Errorf("decode decision: %w", err)
	}
	if len(bg.BreakGlass) > 0 && !bytes.Equal(bg.BreakGlass, []byte("null")) {
		r.BreakGlass = bg.BreakGlass
	}
	return r, nil
}

// seal encodes r (its Hash ignored) and returns the line without newline
// and its hash.
func seal(r Record) ([]byte, string, error) {
	r.Hash = ""
	b, err := json.Marshal(r)
	if err != nil {
		return nil, "", fmt.Errorf("encode audit record: %w", err)
	}
	// b ends with `,"hash":""}`: hash the record without that key.
	const empty = `,"hash":""}`
	if !bytes.HasSuffix(b, []byte(empty)) {
		return nil, "", errors.New("encode audit record: hash is not the last key")
	}
	body := append(b[:len(b)-len(empty):len(b)-len(empty)], '}')
	h := sum(body)
	line := append(body[:len(body)-1:len(body)-1], `,"hash":"`+h+`"}`...)
	return line, h, nil
}

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

// hashSuffixLen is len(`,"hash":"sha256:` + 64 hex + `"}`).
const hashSuffixLen = len(`,"hash":"sha256:`) + 64 + len(`"}`)

// checkLine parses one line and checks its own hash.
func checkLine(line []byte) (Record, error) {
	var r Record
	if err := json.Unmarshal(line, &r); err != nil {
		return r, fmt.Errorf("not a JSON audit record: %w", err)
	}
	if len(line) < hashSuffixLen || !bytes.HasPrefix(line[len(line)-hashSuffixLen:], []byte(`,"hash":"sha256:`)) {
		return r, errors.New(`record does not end with its "hash" key: it was edited`)
	}
	body := make([]byte, 0, len(line)-hashSuffixLen+1)
	body = append(append(body, line[:len(line)-hashSuffixLen]...), '}')
	if got := sum(body); got != r.Hash {
		return r, fmt.Errorf("record was edited: its content hashes to %s, not to the %s it carries", got, r.Hash)
	}
	return r, nil
}

// Append adds r to the log at path, creating it (mode 0640) if needed. It
// fills in Seq, Prev, Hash and, when zero, Logged, and returns the record
// as written.
func Append(path string, r Record) (Record, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return r, fmt.Errorf("open audit log: %w", err)
	}
	defer f.Close()
	if err := lock(f); err != nil {
		return r, fmt.Errorf("lock audit log %s: %w", path, err)
	}
	defer unlock(f)

	last, err := lastLine(f)
	if err != nil {
		return r, fmt.Errorf("audit log %s: %w", path, err)
	}
	r.Seq, r.Prev = 1, Genesis
	if last != nil {
		prev, err := checkLine(last)
		if err != nil {
			return r, fmt.Errorf("audit log %s: last record: %w (run pulsegate audit verify)", path, err)
		}
		r.Seq, r.Prev = prev.Seq+1, prev.Hash
	}
	if r.Logged.IsZero() {
		r.Logged = time.Now().UTC()
	}
	line, h, err := seal(r)
	if err != nil {
		return r, err
	}
	r.Hash = h
	if _, err := f.Write(append(line, '\n')); err != nil { // one write: O_APPEND keeps it whole
		return r, fmt.Errorf("write audit log %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return r, fmt.Errorf("sync audit log %s: %w", path, err)
	}
	return r, nil
}

// lastLine returns the last line of f without its newline, or nil for an
// empty file. A file that does not end with a newline holds a partial
// record: that is an error.
func lastLine(f *os.File) ([]byte, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := st.Size()
	if size == 0 {
		return nil, nil
	}
	var tail []byte
	for chunk := int64(4096); ; chunk *= 4 {
		if chunk > size {
			chunk = size
		}
		tail = make([]byte, chunk)
		if _, err := f.ReadAt(tail, size-chunk); err != nil {
			return nil, err
		}
		if tail[len(tail)-1] != '\n' {
			return nil, errors.New("it ends with a partial record (no final newline); run pulsegate audit verify")
		}
		if i := bytes.LastIndexByte(tail[:len(tail)-1], '\n'); i >= 0 {
			return tail[i+1 : len(tail)-1], nil
		}
		if chunk == size {
			return tail[:len(tail)-1], nil
		}
		if chunk > MaxRecordBytes {
			return nil, fmt.Errorf("its last record is longer than %d bytes", MaxRecordBytes)
		}
	}
}

// Error is a broken chain: the 1-based line where it breaks and why.
type Error struct {
	Line int
	Err  error
}

func (e *Error) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }
func (e *Error) Unwrap() error { return e.Err }

// Summary describes an intact log.
type Summary struct {
	Records int
	// Head is the hash of the last record (Genesis for an empty log): keep
	// it elsewhere to detect records cut off the end later.
	Head    string
	LastSeq int64
}

// Verify reads a whole log and checks every record's hash, seq and prev.
// The first break is returned as an *Error naming its line.
func Verify(r io.Reader) (Summary, error) {
	s := Summary{Head: Genesis}
	br := bufio.NewReaderSize(r, 64<<10)
	for n := 1; ; n++ {
		line, err := readLine(br)
		if err == io.EOF {
			return s, nil
		}
		if err != nil {
			return s, &Error{Line: n, Err: err}
		}
		if len(bytes.TrimSpace(line)) == 0 {
			return s, &Error{Line: n, Err: errors.New("empty line: records are never blank")}
		}
		rec, err := checkLine(line)
		if err != nil {
			return s, &Error{Line: n, Err: err}
		}
		want := s.LastSeq + 1
		switch {
		case rec.Seq > want:
			return s, &Error{Line: n, Err: fmt.Errorf("seq %d where %d was expected: %d records were removed before this line, or records were reordered", rec.Seq, want, rec.Seq-want)}
		case rec.Seq < want:
			return s, &Error{Line: n, Err: fmt.Errorf("seq %d where %d was expected: a record was inserted before this line, or records were reordered", rec.Seq, want)}
		}
		if rec.Prev != s.Head {
			what := "the hash of line " + fmt.Sprint(n-1)
			if n == 1 {
				what = "the genesis value"
			}
			return s, &Error{Line: n, Err: fmt.Errorf("prev %s is not %s (%s): the record before was replaced, or this record was inserted or moved", rec.Prev, what, s.Head)}
		}
		s.Records++
		s.LastSeq = rec.Seq
		s.Head = rec.Hash
	}
}

// readLine returns the next line without its newline; a last line without
// a newline is an error (a partial write), as is one over MaxRecordBytes.
func readLine(br *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > MaxRecordBytes+1 {
			return nil, fmt.Errorf("record longer than %d bytes", MaxRecordBytes)
		}
		switch {
		case err == nil:
			return line[:len(line)-1], nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err == io.EOF && len(line) == 0:
			return nil, io.EOF
		case err == io.EOF:
			return nil, errors.New("partial record at the end of the log (no final newline)")
		default:
			return nil, err
		}
	}
}

// VerifyFile verifies the log at path.
func VerifyFile(path string) (Summary, error) {
	f, err := os.Open(path)
	if err != nil {
		return Summary{}, fmt.Errorf("open audit log: %w", err)
	}
	defer f.Close()
	return Verify(f)
}
