package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pulsegate/pulsegate/pkg/policy"
)

var t0 = time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)

func record(i int) Record {
	v, rules := "proceed", []string{}
	if i%2 == 1 {
		v, rules = "block", []string{"severe-finding", "risk-threshold"}
	}
	return Record{
		ID: fmt.Sprintf("decision-%d", i), Time: t0.Add(time.Duration(i) * time.Minute), Logged: t0.Add(time.Duration(i)*time.Minute + time.Second),
		Verdict: v, Mode: "enforce", Enforced: true, Rules: rules,
		Inputs: map[string]string{"release": fmt.Sprintf("sha256:%064x", i), "policy": fmt.Sprintf("sha256:%064x", 1000+i)},
	}
}

// writeLog appends n records and returns the path and the lines.
func writeLog(t *testing.T, n int) (string, [][]byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "audit.log")
	for i := range n {
		if _, err := Append(path, record(i)); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, bytes.SplitAfter(b, []byte("\n"))[:n]
}

func TestAppendAndVerify(t *testing.T) {
	path, lines := writeLog(t, 5)
	s, err := VerifyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if s.Records != 5 || s.LastSeq != 5 {
		t.Fatalf("summary %+v", s)
	}
	var first, last Record
	json.Unmarshal(lines[0], &first)
	json.Unmarshal(lines[4], &last)
	if first.Prev != Genesis || first.Seq != 1 {
		t.Fatalf("genesis record %+v", first)
	}
	if s.Head != last.Hash {
		t.Fatalf("head %s, last hash %s", s.Head, last.Hash)
	}
	// The documented hash: SHA-256 of the line with its hash key cut off.
	l := bytes.TrimSuffix(lines[2], []byte("\n"))
	var r Record
	json.Unmarshal(l, &r)
	cut := string(l[:bytes.LastIndex(l, []byte(`,"hash":`))]) + "}"
	if sum([]byte(cut)) != r.Hash {
		t.Fatalf("hash of %s is not %s", cut, r.Hash)
	}
	if !strings.HasPrefix(string(l), `{"seq":3,"prev":"sha256:`) {
		t.Fatalf("line 3 = %s", l)
	}
	// An empty log is intact.
	if s, err := Verify(strings.NewReader("")); err != nil || s.Records != 0 || s.Head != Genesis {
		t.Fatalf("empty log: %+v %v", s, err)
	}
}

// TestTampering edits, removes, inserts and reorders records and checks that
// Verify names the line where the chain breaks.
func TestTampering(t *testing.T) {
	_, lines := writeLog(t, 6)
	join := func(ls ...[]byte) string { return string(bytes.Join(ls, nil)) }
	edit := func(l []byte, from, to string) []byte {
		out := bytes.Replace(l, []byte(from), []byte(to), 1)
		if bytes.Equal(out, l) {
			t.Fatalf("edit %q -> %q changed nothing in %s", from, to, l)
		}
		return out
	}
	// rehash recomputes a record's own hash after an edit, as a careful
	// forger would.
	rehash := func(l []byte) []byte {
		var r Record
		if err := json.Unmarshal(l, &r); err != nil {
			t.Fatal(err)
		}
		out, _, err := seal(r)
		if err != nil {
			t.Fatal(err)
		}
		return append(out, '\n')
	}
	// forged is a record made to fit after line 2 (seq 3, prev = line 2's hash).
	forged := func() []byte {
		var prev Record
		json.Unmarshal(lines[1], &prev)
		r := record(99)
		r.Seq, r.Prev = 3, prev.Hash
		out, _, _ := seal(r)
		return append(out, '\n')
	}()
	l := lines

	for _, tc := range []struct {
		name string
		log  string
		line int
		msg  string
	}{
		{"edited verdict", join(l[0], l[1], l[2], edit(l[3], `"verdict":"block"`, `"verdict":"proceed"`), l[4], l[5]), 4, "record was edited"},
		{"edited rule list", join(l[0], l[1], edit(l[2], `"rules":[]`, `"rules":["x"]`), l[3], l[4], l[5]), 3, "record was edited"},
		{"edited and rehashed", join(l[0], l[1], l[2], rehash(edit(l[3], `"verdict":"block"`, `"verdict":"proceed"`)), l[4], l[5]), 5, "prev sha256:"},
		{"edited last and hash cut", join(l[0], l[1], l[2], l[3], l[4], edit(l[5], `,"hash":"`, `,"hash":"x`)), 6, "was edited"},
		{"edited genesis prev", join(rehash(edit(l[0], Genesis, "sha256:"+strings.Repeat("1", 64))), l[1]), 1, "genesis value"},
		{"hash key moved", join(l[0], []byte(`{"hash":"x",`+string(l[1][1:]))), 2, "record was edited"},
		{"removed first", join(l[1], l[2], l[3], l[4], l[5]), 1, "seq 2 where 1 was expected: 1 records were removed"},
		{"removed middle", join(l[0], l[1], l[3], l[4], l[5]), 3, "seq 4 where 3 was expected"},
		{"removed two", join(l[0], l[1], l[4], l[5]), 3, "2 records were removed"},
		{"inserted copy", join(l[0], l[1], l[2], l[3], l[1], l[4], l[5]), 5, "a record was inserted before this line"},
		{"inserted forged", join(l[0], l[1], forged, l[2], l[3], l[4], l[5]), 4, "seq 3 where 4 was expected: a record was inserted"},
		{"replaced by forged", join(l[0], l[1], forged, l[3], l[4], l[5]), 4, "prev sha256:"},
		{"reordered", join(l[0], l[2], l[1], l[3], l[4], l[5]), 2, "seq 3 where 2 was expected"},
		{"reordered last two", join(l[0], l[1], l[2], l[3], l[5], l[4]), 5, "records were reordered"},
		{"blank line", join(l[0], []byte("\n"), l[1]), 2, "empty line"},
		{"not json", join(l[0], []byte("hello\n")), 2, "not a JSON audit record"},
		{"partial last", join(l[0], l[1], l[2][:40]), 3, "partial record"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Verify(strings.NewReader(tc.log))
			var ae *Error
			if !errors.As(err, &ae) {
				t.Fatalf("err = %v, want *Error", err)
			}
			if ae.Line != tc.line || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("err = %v, want line %d and %q", err, tc.line, tc.msg)
			}
		})
	}
}

func TestAppendRefusesDamagedTail(t *testing.T) {
	path, lines := writeLog(t, 2)
	os.WriteFile(path, append(append([]byte{}, lines[0]...), lines[1][:30]...), 0o640)
	if _, err := Append(path, record(3)); err == nil || !strings.Contains(err.Error(), "partial record") {
		t.Fatalf("append after a partial line: %v", err)
	}
	edited := bytes.Replace(lines[1], []byte(`"mode":"enforce"`), []byte(`"mode":"shadow!"`), 1)
	os.WriteFile(path, append(append([]byte{}, lines[0]...), edited...), 0o640)
	if _, err := Append(path, record(3)); err == nil || !strings.Contains(err.Error(), "last record: record was edited") {
		t.Fatalf("append after an edited record: %v", err)
	}
}

func TestAppendLongRecords(t *testing.T) {
	// Records longer than the first tail chunk still chain.
	path := filepath.Join(t.TempDir(), "audit.log")
	for i := range 3 {
		r := record(i)
		for j := range 200 {
			r.Inputs[fmt.Sprintf("telemetry/source-%03d", j)] = fmt.Sprintf("sha256:%064x", j)
		}
		if _, err := Append(path, r); err != nil {
			t.Fatal(err)
		}
	}
	if s, err := VerifyFile(path); err != nil || s.Records != 3 {
		t.Fatalf("%+v %v", s, err)
	}
}

// TestConcurrentAppends has many writers, each with its own open file, share
// one log; the chain must come out whole with no seq twice.
func TestConcurrentAppends(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	const writers, each = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if _, err := Append(path, record(w*each+i)); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	s, err := VerifyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if s.Records != writers*each {
		t.Fatalf("%d records, want %d", s.Records, writers*each)
	}
}

func TestFromDecision(t *testing.T) {
	d := &policy.Decision{DecisionID: "id-1", Time: t0, Verdict: policy.Block, Mode: policy.Shadow,
		Reasons: []policy.Reason{{Rule: "severe-finding"}, {Rule: "source-stale"}},
		Inputs:  map[string]string{"policy": "sha256:ab"}}
	r, err := FromDecision(d)
	if err != nil {
		t.Fatal(err)
	}
	if r.ID != "id-1" || r.Verdict != "block" || r.Mode != "shadow" || r.Enforced || strings.Join(r.Rules, ",") != "severe-finding,source-stale" || r.Inputs["policy"] != "sha256:ab" {
		t.Fatalf("record %+v", r)
	}
	if r.BreakGlass != nil {
		t.Fatalf("break glass %s without an override", r.BreakGlass)
	}
}
