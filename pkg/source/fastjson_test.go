package source

import (
	"encoding/json"
	"math/bits"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pulsegate/pulsegate/pkg/signal"
)

var scanCases = []string{
	`{}`, `[]`, `{"a":1}`, ` { "a" : [ 1 , 2.5 , -3e+7 , true , false , null , "x" ] } `,
	`{"a":{"b":{"c":[[],{}]}}}`, `"\u00e9\n\"\\\/\b\f\r\t"`, `"é"`, `-0`, `0.5`, `1E5`, `12`,
	`{"a":1,}`, `{,}`, `[1,]`, `[,1]`, `{"a" 1}`, `{"a":}`, `{a:1}`, `{"a":1`, `[1 2]`,
	`01`, `1.`, `.5`, `-`, `1e`, `1e+`, `+1`, `--1`, `0x1`, `tru`, `nul`, `falsy`,
	`"abc`, "\"a\x01b\"", `"\x"`, `"\u12"`, `"\u12G4"`, "\"\xff\"", "\"\xe9t\xe9\"",
	`{"a":1}x`, `{"a":1}{}`, ``, ` `, `"\ud800"`, `"\ud83d\ude00"`,
}

// The scanner accepts exactly what encoding/json accepts.
func TestJSONScannerValid(t *testing.T) {
	for _, in := range scanCases {
		var sc JSONScanner
		sc.Reset(in)
		raw := sc.Skip()
		ok := sc.End()
		if want := json.Valid([]byte(in)); ok != want {
			t.Errorf("%q: scanner accepts %v, encoding/json %v", in, ok, want)
		}
		if ok && raw != strings.TrimSpace(in) {
			t.Errorf("%q: raw %q", in, raw)
		}
	}
	deep := strings.Repeat("[", MaxScanDepth+2) + strings.Repeat("]", MaxScanDepth+2)
	var sc JSONScanner
	sc.Reset(deep)
	if sc.Skip(); !sc.Failed() {
		t.Errorf("nesting beyond MaxScanDepth did not fail")
	}
}

func TestJSONScannerValues(t *testing.T) {
	in := `{"s":"plain","e":"a\tb\u00e9","bad":"` + "\xff" + `","n":null,"i":-42,"big":1739178957508657123,` +
		`"f":1.5,"over":9223372036854775808,"b":true,"arr":["x",{"y":[1]}],"k\u0065y":"v"}`
	var sc JSONScanner
	sc.Reset(in)
	got := map[string]string{}
	for ok := sc.ObjectStart(); ok; ok = sc.ObjectNext() {
		k := sc.Key()
		switch k {
		case "s", "e", "bad", "key":
			v, _ := sc.String()
			got[k] = v
		case "n":
			if v, ok := sc.String(); ok || v != "" {
				t.Errorf("null string: %q %v", v, ok)
			}
		case "i", "big":
			n, ok := sc.Int64()
			if !ok {
				t.Fatalf("%s: int failed", k)
			}
			got[k] = strconv.FormatInt(n, 10)
		case "b":
			v, ok := sc.Bool()
			if !v || !ok {
				t.Errorf("bool %v %v", v, ok)
			}
		default:
			got[k] = sc.Skip()
		}
	}
	if !sc.End() {
		t.Fatalf("failed at %d", sc.Offset())
	}
	want := map[string]string{"s": "plain", "e": "a\tbé", "bad": "\ufffd", "i": "-42", "big": "1739178957508657123",
		"f": "1.5", "over": "9223372036854775808", "arr": `["x",{"y":[1]}]`, "key": "v"}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: got %q, want %q", k, got[k], w)
		}
	}
	// Plain strings, keys and numbers are read without allocating.
	plain := `{"key": "abc", "n": 12, "skip": [1, {"x": "y"}]}`
	if n := testing.AllocsPerRun(100, func() {
		sc.Reset(plain)
		for ok := sc.ObjectStart(); ok; ok = sc.ObjectNext() {
			switch sc.Key() {
			case "key":
				sc.String()
			case "n":
				sc.Int64()
			default:
				sc.Skip()
			}
		}
		if !sc.End() {
			t.Fatal("failed")
		}
	}); n != 0 {
		t.Errorf("%v allocations per scan", n)
	}
}

func TestJSONScannerKindMismatch(t *testing.T) {
	for _, tt := range []struct {
		in   string
		read func(*JSONScanner)
	}{
		{`1`, func(sc *JSONScanner) { sc.String() }},
		{`"1"`, func(sc *JSONScanner) { sc.Int64() }},
		{`1.5`, func(sc *JSONScanner) { sc.Int64() }},
		{`1e3`, func(sc *JSONScanner) { sc.Int64() }},
		{`9223372036854775808`, func(sc *JSONScanner) { sc.Int64() }},
		{`"true"`, func(sc *JSONScanner) { sc.Bool() }},
		{`[1]`, func(sc *JSONScanner) { sc.ObjectStart() }},
		{`{}`, func(sc *JSONScanner) { sc.ArrayStart() }},
		{`{1:2}`, func(sc *JSONScanner) { sc.ObjectStart(); sc.Key() }},
	} {
		var sc JSONScanner
		sc.Reset(tt.in)
		tt.read(&sc)
		if !sc.Failed() {
			t.Errorf("%s: did not fail", tt.in)
		}
		// Once failed, everything is zero and loops end.
		if sc.ObjectStart() || sc.ArrayNext() || sc.Peek() != 0 || sc.Skip() != "" || sc.End() {
			t.Errorf("%s: a failed scanner went on", tt.in)
		}
	}
}

func TestParseDigits(t *testing.T) {
	for _, s := range []string{"0", "-0", "+7", "007", "1739178957508657123", "9223372036854775807",
		"-9223372036854775808", "9223372036854775808", "-9223372036854775809", "", "-", "+", "1a", "1.0",
		"99999999999999999999", "123456789012345678901"} {
		n, ok := ParseDigits(s)
		want, err := strconv.ParseInt(s, 10, 64)
		if ok != (err == nil) || ok && n != want {
			t.Errorf("%q: got %d %v, strconv %d %v", s, n, ok, want, err)
		}
	}
}

func TestJSONText(t *testing.T) {
	var v struct{ A, B JSONText }
	if err := json.Unmarshal([]byte(`{"A": {"x": [1, 2]}, "B": null}`), &v); err != nil {
		t.Fatal(err)
	}
	if v.A != `{"x": [1, 2]}` || v.B != "null" {
		t.Errorf("got %q %q", v.A, v.B)
	}
}

// FuzzJSONScanner checks the scanner against encoding/json on any text:
// the same acceptance, and the same string and integer values.
func FuzzJSONScanner(f *testing.F) {
	for _, s := range scanCases {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		var sc JSONScanner
		sc.Reset(in)
		sc.Skip()
		ok := sc.End()
		valid := json.Valid([]byte(in))
		if ok && !valid {
			t.Fatalf("%q: accepted, encoding/json rejects it", in)
		}
		if valid && !ok && strings.Count(in, "[")+strings.Count(in, "{") <= MaxScanDepth {
			t.Fatalf("%q: rejected, encoding/json accepts it", in)
		}
		sc.Reset(in)
		if v, isStr := sc.String(); sc.End() {
			var want *string
			if err := json.Unmarshal([]byte(in), &want); err != nil {
				t.Fatalf("%q: read, encoding/json: %v", in, err)
			}
			if isStr != (want != nil) || want != nil && v != *want {
				t.Fatalf("%q: string %q, encoding/json %v", in, v, want)
			}
		}
		sc.Reset(in)
		if n, isNum := sc.Int64(); sc.End() {
			var want *int64
			if err := json.Unmarshal([]byte(in), &want); err != nil {
				t.Fatalf("%q: read, encoding/json: %v", in, err)
			}
			if isNum != (want != nil) || want != nil && n != *want {
				t.Fatalf("%q: int %d, encoding/json %v", in, n, want)
			}
		}
	})
}

func TestContainsItemsKey(t *testing.T) {
	for _, s := range []string{"", `"items"`, `x"items"`, `"items"x`, `"item"`, `"itemss"`, `mmm"items"mmm`,
		`{"kind":"List","items":[]}`, `{"items`, `items"`, `"iTems"`, `m`, `"itemsm"items"`} {
		if got, want := containsItemsKey([]byte(s)), strings.Contains(s, `"items"`); got != want {
			t.Errorf("%q: %v, want %v", s, got, want)
		}
	}
}

func FuzzContainsItemsKey(f *testing.F) {
	f.Add(`{"kind":"List","items":[]}`)
	f.Add(`mmm"items"`)
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := containsItemsKey([]byte(s)), strings.Contains(s, `"items"`); got != want {
			t.Fatalf("%q: %v, want %v", s, got, want)
		}
	})
}

func TestContainsListEnd(t *testing.T) {
	for _, s := range []string{"", `List"`, `xList"`, `List`, `Lis"`, `LList"`, `"kind":"PodList"`, `LLLLList"x`, `List "`} {
		if got, want := containsListEnd([]byte(s)), strings.Contains(s, `List"`); got != want {
			t.Errorf("%q: %v, want %v", s, got, want)
		}
	}
}

// isList is what splitEnvelope decides of a JSON line that is not an array.
func isList(doc []byte) bool {
	var list struct {
		Kind  string            `json:"kind"`
		Items []json.RawMessage `json:"items"`
	}
	return strings.Contains(string(doc), `"items"`) && json.Unmarshal(doc, &list) == nil && list.Items != nil &&
		strings.HasSuffix(list.Kind, "List")
}

func TestContainsEscapeU(t *testing.T) {
	for _, s := range []string{"", `\`, `u`, `\u`, `x\u0041`, `\\u`, `\"u`, `\\`, `ab\`, `\n\t\"`, `"\"\u"`} {
		if got, want := containsEscapeU([]byte(s)), strings.Contains(s, `\u`); got != want {
			t.Errorf("%q: %v, want %v", s, got, want)
		}
	}
}

func TestMayBeList(t *testing.T) {
	for _, s := range []string{`{"kind":"PodList","items":[]}`, `{"kind":"Pod\u004cist","items":[{}]}`, `{"KIND":"XList","items":[1]}`,
		`{"kind":"Li\u0073t","items":[]}`, `{"kind":"Pod","items":[]}`, `{"items":[]}`, `{"kind":"List"}`,
		`{"a":"\"q\"","kind":"Pod\u004Cist","items":[]}`, `{"kind":"\u004C\u0069\u0073\u0074","items":[2]}`} {
		if isList([]byte(s)) && !mayBeList([]byte(s)) {
			t.Errorf("%s: a List, mayBeList says no", s)
		}
	}
	if mayBeList([]byte(`{"kind":"Pod","items":[]}`)) || mayBeList([]byte(`{"rule":"x","output":"List"}`)) ||
		mayBeList([]byte(`{"kind":"Event","a":"\"x\"","items":[]}`)) {
		t.Error("mayBeList is true for an object that is plainly no List")
	}
}

func FuzzMayBeList(f *testing.F) {
	f.Add(`{"kind":"PodList","items":[]}`)
	f.Add(`{"kind":"Pod\u004cist","items":[{}]}`)
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := containsListEnd([]byte(s)), strings.Contains(s, `List"`); got != want {
			t.Fatalf("%q: containsListEnd %v, want %v", s, got, want)
		}
		if got, want := containsEscapeU([]byte(s)), strings.Contains(s, `\u`); got != want {
			t.Fatalf("%q: containsEscapeU %v, want %v", s, got, want)
		}
		if isList([]byte(s)) && !mayBeList([]byte(s)) {
			t.Fatalf("%q: a List, mayBeList says no", s)
		}
	})
}

func TestStringArena(t *testing.T) {
	var a StringArena
	var got []string
	var want []string
	for i := 0; i < 3000; i++ {
		b := []byte(strings.Repeat(strconv.Itoa(i), i%50))
		want = append(want, string(b))
		got = append(got, a.String(b))
		for j := range b {
			b[j] = 'x' // the caller's buffer is reused: the strings must not change
		}
	}
	big := make([]byte, ArenaBlock)
	got, want = append(got, a.String(big)), append(want, string(big))
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("string %d: %q, want %q", i, got[i], want[i])
		}
	}
}

// The lowest flag of special8 is the first byte that needs a look, in
// words of mixed bytes too.
func TestSpecial8First(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	pick := []byte{'a', '"', '\\', 0x00, 0x1f, 0x20, 0x7f, 0x80, 0xff, 0x21, 0x5c, 0x22, 0x01}
	for n := 0; n < 200000; n++ {
		var b [8]byte
		var w uint64
		first := -1
		for i := range b {
			b[i] = pick[r.IntN(len(pick))]
			if r.IntN(3) == 0 {
				b[i] = byte(r.IntN(256))
			}
			w |= uint64(b[i]) << (8 * i)
			if first < 0 && !plain[b[i]] {
				first = i
			}
		}
		m := special8(w)
		if (m != 0) != (first >= 0) || m != 0 && bits.TrailingZeros64(m)/8 != first {
			t.Fatalf("%q: mask %x, first special at %d", b, m, first)
		}
	}
}

func TestSpecial8(t *testing.T) {
	for c := 0; c < 256; c++ {
		for pos := 0; pos < 8; pos++ {
			for _, fill := range []byte{'a', ' ', '~', 0x21, 0x5d} {
				b := []byte{fill, fill, fill, fill, fill, fill, fill, fill}
				b[pos] = byte(c)
				w := uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
					uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
				m := special8(w)
				if got, want := m != 0, !plain[c]; got != want {
					t.Fatalf("%q: %v, want %v", b, got, want)
				}
				if m != 0 && bits.TrailingZeros64(m)/8 != pos {
					t.Fatalf("%q: first special at %d, want %d", b, bits.TrailingZeros64(m)/8, pos)
				}
			}
		}
	}
}

func TestSignalBlocks(t *testing.T) {
	var b SignalBlocks
	var out [][]signal.Signal
	for i := 0; i < 200; i++ {
		s := b.Next()
		if s.ID != "" || s.Attrs != nil {
			t.Fatalf("Next %d is not zero: %+v", i, s)
		}
		s.ID = strconv.Itoa(i)
		s.SetAttr("k", "v")
		if i%3 == 0 {
			continue // rejected: not taken, handed out again
		}
		out = append(out, b.Take())
	}
	n := 0
	for i := 0; i < 200; i++ {
		if i%3 == 0 {
			continue
		}
		if got := out[n]; len(got) != 1 || cap(got) != 1 || got[0].ID != strconv.Itoa(i) {
			t.Fatalf("slice %d: %+v", n, got)
		}
		n++
	}
}

var timeCases = []string{
	"2025-03-01T10:00:01.123456789Z", "2025-03-01T10:00:01Z", "2025-03-01T10:00:01.5Z", "2024-02-29T23:59:59.000000001Z",
	"2023-02-29T00:00:00Z", "2025-13-01T00:00:00Z", "2025-00-10T00:00:00Z", "2025-01-32T00:00:00Z", "2025-01-01T24:00:00Z",
	"2025-01-01T00:60:00Z", "2025-01-01T00:00:60Z", "0001-01-01T00:00:00Z", "0000-01-01T00:00:00Z", "9999-12-31T23:59:59.999999999Z",
	"1970-01-01T00:00:00Z", "1969-12-31T23:59:59.9Z", "0001-01-01T00:00:00.000000001Z", "1600-02-29T12:00:00Z", "1900-02-29T12:00:00Z",
	"2025-03-01T10:00:01.1234567891Z", "2025-03-01T10:00:01.Z", "2025-03-01T10:00:01,5Z", "2025-03-01t10:00:01Z",
	"2025-03-01T10:00:01+00:00", "2025-03-01T10:00:01-07:00", "2025-03-01T10:00:01z", "2025-3-01T10:00:01Z", "+025-03-01T10:00:01Z",
	"2025-03-01T10:00:01.12a4Z", "", "Z", "2025-03-01T10:00:01ZZ",
}

// ParseTimeUTC agrees with time.Parse whenever it answers.
func checkParseTimeUTC(t *testing.T, s string) {
	got, ok := ParseTimeUTC(s)
	want, err := time.Parse(time.RFC3339Nano, s)
	if !ok {
		// It must answer for every canonical UTC time of years 1..9999.
		if err == nil && s == want.UTC().Format(time.RFC3339Nano) && !want.IsZero() && want.Year() >= 1 {
			t.Errorf("%q: no answer, time.Parse gives %v", s, want)
		}
		return
	}
	if err != nil || !reflect.DeepEqual(got, want.UTC()) {
		t.Errorf("%q: %#v, time.Parse gives %#v (%v)", s, got, want.UTC(), err)
	}
}

func TestParseTimeUTC(t *testing.T) {
	for _, s := range timeCases {
		checkParseTimeUTC(t, s)
	}
	// Every day of four years around a leap day of a century, at two times.
	for d := time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC); d.Year() < 2003; d = d.AddDate(0, 0, 1) {
		checkParseTimeUTC(t, d.Format(time.RFC3339Nano))
		checkParseTimeUTC(t, d.Add(23*time.Hour+59*time.Minute+59*time.Second+999*time.Millisecond).Format(time.RFC3339Nano))
	}
}

func FuzzParseTimeUTC(f *testing.F) {
	for _, s := range timeCases {
		f.Add(s)
	}
	f.Fuzz(checkParseTimeUTC)
}

// StringArena.MakeID gives signal.MakeID's ids.
func TestArenaMakeID(t *testing.T) {
	var a StringArena
	r := rand.New(rand.NewPCG(3, 4))
	for n := 0; n < 3000; n += 1 + r.IntN(7) {
		raw := make([]byte, n)
		for i := range raw {
			raw[i] = byte(r.IntN(256))
		}
		for _, typ := range []string{"falco", "hubble", ""} {
			if got, want := a.MakeID(typ, raw), signal.MakeID(typ, raw); got != want {
				t.Fatalf("%s, %d bytes: %s, want %s", typ, n, got, want)
			}
		}
	}
}
