package source

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math/bits"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pulsegate/pulsegate/pkg/signal"
)

// JSONScanner reads one JSON text held in a string, front to back, without
// building a tree and without allocating for strings that have no escapes:
// their values are substrings of the text. It is the fast path of the
// adapters' parsers; encoding/json stays their reference.
//
// The scanner is strict: it accepts exactly the syntax that encoding/json
// accepts, and when a value is not what the caller asked for (a number where
// a string was wanted), or the text is deeper or odder than it handles, it
// fails. A failed scanner stays failed; every method then returns zero
// values and loops end. A caller that sees Failed decodes the same text with
// encoding/json instead, which gives the same result or the error a person
// reads. Callers must also fail (Fail) where encoding/json's semantics would
// differ from what they built: a known key repeated, or a key that matches a
// struct field only case-insensitively.
//
// Reading an object:
//
//	for ok := sc.ObjectStart(); ok; ok = sc.ObjectNext() {
//		switch sc.Key() {
//		case "rule":
//			rule, _ = sc.String()
//		default:
//			sc.Skip()
//		}
//	}
//	if !sc.End() { /* fall back to encoding/json */ }
type JSONScanner struct {
	s      string
	i      int
	failed bool
}

// MaxScanDepth is the deepest nesting Skip follows; deeper values fail the
// scan (encoding/json itself allows 10,000 levels).
const MaxScanDepth = 1000

// Reset makes sc read s from its start.
func (sc *JSONScanner) Reset(s string) { *sc = JSONScanner{s: s} }

// Failed reports whether the scan failed.
func (sc *JSONScanner) Failed() bool { return sc.failed }

// Fail marks the scan as failed (the caller found something it does not
// decode as encoding/json would).
func (sc *JSONScanner) Fail() { sc.failed = true }

// Offset is the byte offset of the next unread byte.
func (sc *JSONScanner) Offset() int { return sc.i }

func (sc *JSONScanner) ws() {
	for sc.i < len(sc.s) {
		switch sc.s[sc.i] {
		case ' ', '\t', '\n', '\r':
			sc.i++
		default:
			return
		}
	}
}

// Peek returns the first byte of the next value after white space ('{',
// '[', '"', 't', 'f', 'n', '-' or a digit), or 0 at the end or after a
// failure. It consumes only the white space.
func (sc *JSONScanner) Peek() byte {
	if sc.failed {
		return 0
	}
	sc.ws()
	if sc.i >= len(sc.s) {
		return 0
	}
	return sc.s[sc.i]
}

// End reports whether the text ended after the values read, with nothing
// but white space left and no failure; otherwise the scan fails.
func (sc *JSONScanner) End() bool {
	if sc.failed {
		return false
	}
	sc.ws()
	if sc.i != len(sc.s) {
		sc.failed = true
	}
	return !sc.failed
}

func (sc *JSONScanner) expect(c byte) bool {
	if sc.failed {
		return false
	}
	sc.ws()
	if sc.i < len(sc.s) && sc.s[sc.i] == c {
		sc.i++
		return true
	}
	sc.failed = true
	return false
}

// ObjectStart reads '{' and reports whether a member follows (then call
// Key); it is false for an empty object, which it consumes whole, and on
// failure (the value is not an object).
func (sc *JSONScanner) ObjectStart() bool {
	if !sc.expect('{') {
		return false
	}
	sc.ws()
	if sc.i < len(sc.s) && sc.s[sc.i] == '}' {
		sc.i++
		return false
	}
	return true
}

// ObjectNext reads what follows a member's value: ',' (true: another member
// follows) or '}' (false: the object is done). Anything else fails.
func (sc *JSONScanner) ObjectNext() bool { return sc.next('}') }

// ArrayStart reads '[' and reports whether an element follows; false for an
// empty array, which it consumes whole, and on failure.
func (sc *JSONScanner) ArrayStart() bool {
	if !sc.expect('[') {
		return false
	}
	sc.ws()
	if sc.i < len(sc.s) && sc.s[sc.i] == ']' {
		sc.i++
		return false
	}
	return true
}

// ArrayNext reads what follows an element: ',' (true) or ']' (false).
func (sc *JSONScanner) ArrayNext() bool { return sc.next(']') }

func (sc *JSONScanner) next(end byte) bool {
	if sc.failed {
		return false
	}
	sc.ws()
	if sc.i < len(sc.s) {
		switch sc.s[sc.i] {
		case ',':
			sc.i++
			return true
		case end:
			sc.i++
			return false
		}
	}
	sc.failed = true
	return false
}

// Key reads a member's name and the ':' after it. The name is unescaped as
// encoding/json does; it is "" on failure.
func (sc *JSONScanner) Key() string {
	if sc.Peek() != '"' {
		sc.failed = true
		return ""
	}
	k := sc.str()
	if !sc.expect(':') {
		return ""
	}
	return k
}

// String reads a string value. A JSON null gives ("", false), as it leaves
// a Go string unset; any other kind of value fails the scan.
func (sc *JSONScanner) String() (string, bool) {
	switch sc.Peek() {
	case '"':
		v := sc.str()
		return v, !sc.failed
	case 'n':
		sc.lit("null")
		return "", false
	}
	sc.failed = true
	return "", false
}

// Int64 reads an integer value as encoding/json reads it into an int64: a
// number with a fraction or an exponent, or out of range, fails the scan.
// A JSON null gives (0, false).
func (sc *JSONScanner) Int64() (int64, bool) {
	switch c := sc.Peek(); {
	case c == 'n':
		sc.lit("null")
		return 0, false
	case c == '-' || c >= '0' && c <= '9':
		raw, integer := sc.number()
		if sc.failed || !integer {
			sc.failed = true
			return 0, false
		}
		n, ok := ParseDigits(raw)
		if !ok {
			sc.failed = true
		}
		return n, ok
	}
	sc.failed = true
	return 0, false
}

// Bool reads true or false. A JSON null gives (false, false).
func (sc *JSONScanner) Bool() (v, ok bool) {
	switch sc.Peek() {
	case 't':
		sc.lit("true")
		return true, !sc.failed
	case 'f':
		sc.lit("false")
		return false, !sc.failed
	case 'n':
		sc.lit("null")
		return false, false
	}
	sc.failed = true
	return false, false
}

// Null reads a null if one is next and reports whether it did.
func (sc *JSONScanner) Null() bool {
	if sc.Peek() != 'n' {
		return false
	}
	sc.lit("null")
	return !sc.failed
}

// Skip checks the next value, whatever it is, and returns its text
// verbatim (as a json.RawMessage would hold it; "" on failure).
func (sc *JSONScanner) Skip() string {
	if sc.Peek() == 0 {
		sc.failed = true
		return ""
	}
	start := sc.i
	sc.skip(0)
	if sc.failed {
		return ""
	}
	return sc.s[start:sc.i]
}

func (sc *JSONScanner) skip(depth int) {
	if depth > MaxScanDepth {
		sc.failed = true
		return
	}
	switch sc.Peek() {
	case '{':
		for ok := sc.ObjectStart(); ok; ok = sc.ObjectNext() {
			if sc.Peek() != '"' {
				sc.failed = true
				return
			}
			sc.skipString()
			sc.expect(':')
			sc.skip(depth + 1)
		}
	case '[':
		for ok := sc.ArrayStart(); ok; ok = sc.ArrayNext() {
			sc.skip(depth + 1)
		}
	case '"':
		sc.skipString()
	case 't':
		sc.lit("true")
	case 'f':
		sc.lit("false")
	case 'n':
		sc.lit("null")
	case 0:
		sc.failed = true
	default:
		sc.number()
	}
}

func (sc *JSONScanner) lit(w string) {
	if len(sc.s)-sc.i >= len(w) && sc.s[sc.i:sc.i+len(w)] == w {
		sc.i += len(w)
		return
	}
	sc.failed = true
}

// plain marks the bytes that may stand in a string as they are and leave
// it ASCII: not '"', '\\', control characters or bytes of UTF-8 sequences.
var plain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// scanString checks the string at sc.i (which is '"') and moves past it. It
// returns the bytes between the quotes, and whether they need decoding
// (escapes, or bytes that are not valid UTF-8, which encoding/json turns
// into U+FFFD).
func (sc *JSONScanner) scanString() (body string, decode bool) {
	s := sc.s
	i := sc.i + 1
	start := i
	high := false
	for {
		// Eight bytes at a time while none of them needs a look; then
		// straight to the first that does.
		for ; i+8 <= len(s); i += 8 {
			b := s[i : i+8]
			if m := special8(uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
				uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56); m != 0 {
				i += bits.TrailingZeros64(m) / 8
				break
			}
		}
		for i < len(s) && plain[s[i]] {
			i++
		}
		if i >= len(s) {
			sc.failed = true
			return "", false
		}
		switch c := s[i]; {
		case c == '"':
			sc.i = i + 1
			body = s[start:i]
			if high && !decode && !utf8.ValidString(body) {
				decode = true
			}
			return body, decode
		case c == '\\':
			decode = true
			if i+1 >= len(s) {
				sc.failed = true
				return "", false
			}
			switch s[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(s) || !isHex4(s[i+2:i+6]) {
					sc.failed = true
					return "", false
				}
				i += 6
			default:
				sc.failed = true
				return "", false
			}
		case c < 0x20:
			sc.failed = true
			return "", false
		default: // a byte of a UTF-8 sequence
			high = true
			i++
		}
	}
}

// special8 flags the bytes of w (little-endian) that are '"', '\\', a
// control character or a byte of a UTF-8 sequence, with their high bit
// (the word-at-a-time tests of "Bit Twiddling Hacks": some byte less than
// n, some byte zero). It is 0 when there is none; its lowest flag is always
// right (a byte above a special one may be flagged too).
func special8(w uint64) uint64 {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	q := w ^ ('"' * ones)
	bs := w ^ ('\\' * ones)
	return (w | (w - 0x20*ones) | (q-ones)&^q | (bs-ones)&^bs) & highs
}

func isHex4(h string) bool {
	for i := 0; i < 4; i++ {
		c := h[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

func (sc *JSONScanner) skipString() { sc.scanString() }

// str reads the string at sc.i and returns its value: a substring of the
// text, or, when it needs decoding, what encoding/json makes of it.
func (sc *JSONScanner) str() string {
	start := sc.i
	body, decode := sc.scanString()
	if sc.failed || !decode {
		return body
	}
	var v string
	if json.Unmarshal([]byte(sc.s[start:sc.i]), &v) != nil {
		sc.failed = true
		return ""
	}
	return v
}

// number checks the number at sc.i (JSON's grammar: -?(0|[1-9][0-9]*)
// (\.[0-9]+)?([eE][+-]?[0-9]+)?), moves past it and returns its text, and
// whether it is an integer (no fraction, no exponent).
func (sc *JSONScanner) number() (raw string, integer bool) {
	s := sc.s
	i := sc.i
	start := i
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	default:
		sc.failed = true
		return "", false
	}
	integer = true
	if i < len(s) && s[i] == '.' {
		integer = false
		i++
		d := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == d {
			sc.failed = true
			return "", false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		integer = false
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		d := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == d {
			sc.failed = true
			return "", false
		}
	}
	sc.i = i
	return s[start:i], integer
}

// ParseDigits reads an optionally signed decimal integer ("-12", "+7",
// "1739178957508657123") into an int64 without going through float64, as
// strconv.ParseInt(s, 10, 64) does but without allocating an error. ok is
// false for anything else, and on overflow.
func ParseDigits(s string) (n int64, ok bool) {
	if len(s) == 0 || len(s) > 20 {
		return 0, false
	}
	neg := false
	switch s[0] {
	case '-', '+':
		neg = s[0] == '-'
		s = s[1:]
		if len(s) == 0 {
			return 0, false
		}
	}
	if len(s) > 19 {
		return 0, false
	}
	var u uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		u = u*10 + uint64(c-'0')
	}
	switch {
	case !neg && u <= 1<<63-1:
		return int64(u), true
	case neg && u <= 1<<63:
		return -int64(u), true
	}
	return 0, false
}

// JSONText is the text of a JSON value as a string, read through a
// json.Unmarshaler: what json.RawMessage holds, without the []byte. It lets
// an encoding/json fallback fill the same structs as a JSONScanner.
type JSONText string

// UnmarshalJSON keeps b verbatim ("null" for a JSON null).
func (t *JSONText) UnmarshalJSON(b []byte) error {
	*t = JSONText(b)
	return nil
}

// FoldsToAny reports whether k equals one of names case-insensitively, as
// encoding/json matches an object's keys to a struct's fields when no name
// is equal: a scanner that met an unknown key k fails when this is true.
func FoldsToAny(k string, names []string) bool {
	ascii := true
	for i := 0; i < len(k); i++ {
		if k[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	for _, n := range names {
		// Case folding keeps the length of ASCII text (not of "K", the
		// Kelvin sign, which folds to "k").
		if (!ascii || len(n) == len(k)) && strings.EqualFold(k, n) {
			return true
		}
	}
	return false
}

// StringArena copies byte slices into strings cut from large shared
// blocks: one allocation per block rather than one per string, and no
// zeroing (a block is a strings.Builder's buffer, which it never writes
// twice). A block lives as long as any string cut from it. The zero value
// is ready to use; not safe for concurrent use.
type StringArena struct {
	b strings.Builder
}

// ArenaBlock is the size of a StringArena block; longer slices get a string
// of their own.
const ArenaBlock = 64 << 10

// String returns b as a string, as string(b) does.
func (a *StringArena) String(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if len(b) > a.b.Cap()-a.b.Len() {
		if len(b) > ArenaBlock/8 {
			return string(b)
		}
		a.b = strings.Builder{} // the old block stays with its strings
		a.b.Grow(ArenaBlock)
	}
	n := a.b.Len()
	a.b.Write(b)
	return a.b.String()[n:]
}

// MakeID is signal.MakeID(sourceType, raw) with the id's text cut from the
// arena rather than allocated alone.
func (a *StringArena) MakeID(sourceType string, raw []byte) string {
	h := sha256.New()
	h.Write([]byte(sourceType))
	h.Write([]byte{0})
	h.Write(raw)
	var sum [sha256.Size]byte
	var id [24]byte
	hex.Encode(id[:], h.Sum(sum[:0])[:12])
	return a.String(id[:])
}

// SignalBlocks hands out one-Signal slices cut from blocks of 64: a parser
// that returns one Signal per record allocates once per 64 records rather
// than once per record, and fills the Signal in place. Every slice it
// hands out is distinct and never reused. The zero value is ready to use;
// not safe for concurrent use.
type SignalBlocks struct {
	block []signal.Signal
	dirty bool // block[0] was handed out by Next but not taken
}

// Next returns a zero Signal to fill; Take hands it out. A Signal that is
// not taken (the record was rejected) is zeroed and given again by the
// next call.
func (b *SignalBlocks) Next() *signal.Signal {
	switch {
	case len(b.block) == 0:
		b.block = make([]signal.Signal, 64)
	case b.dirty:
		b.block[0] = signal.Signal{}
	}
	b.dirty = true
	return &b.block[0]
}

// One returns a slice that holds a copy of s alone (capacity 1, so that
// appending to it copies): Next and Take without the copy.
func (b *SignalBlocks) One(s *signal.Signal) []signal.Signal {
	*b.Next() = *s
	return b.Take()
}

// Take returns the Signal of the last Next as a slice that holds it alone
// (capacity 1, so that appending to it copies).
func (b *SignalBlocks) Take() []signal.Signal {
	if !b.dirty {
		panic("source: SignalBlocks.Take without Next")
	}
	out := b.block[:1:1]
	b.block, b.dirty = b.block[1:], false
	return out
}

// mayBeList reports whether doc may decode as a Kubernetes-style List (see
// splitEnvelope), more cheaply than decoding it: it is false when doc has
// no `"items"`, or has no `\u` escape and no `List"` (where a kind that
// ends in "List" would end, written plainly: only a \u escape can write a
// letter otherwise). It is never false for a List.
func mayBeList(doc []byte) bool {
	if !containsListEnd(doc) && !containsEscapeU(doc) {
		return false
	}
	return containsItemsKey(doc)
}

// containsEscapeU reports whether doc contains `\u` (a backslash before a
// 'u', escaped itself or not).
func containsEscapeU(doc []byte) bool {
	for i := 0; i+1 < len(doc); i++ {
		j := bytes.IndexByte(doc[i:len(doc)-1], '\\')
		if j < 0 {
			return false
		}
		i += j
		if doc[i+1] == 'u' {
			return true
		}
	}
	return false
}

// containsListEnd reports whether doc contains `List"`, anchored on the
// 'L', which is rare in JSON.
func containsListEnd(doc []byte) bool {
	for i := 0; i+4 < len(doc); i++ {
		j := bytes.IndexByte(doc[i:len(doc)-4], 'L')
		if j < 0 {
			return false
		}
		i += j
		if doc[i+1] == 'i' && doc[i+2] == 's' && doc[i+3] == 't' && doc[i+4] == '"' {
			return true
		}
	}
	return false
}

// containsItemsKey reports whether doc contains `"items"`, as
// bytes.Contains would, but anchored on its rarer 'm': the reader asks it
// of every JSON line before it decodes a line as a Kubernetes List.
func containsItemsKey(doc []byte) bool {
	const at = 4 // `"items"`[4] == 'm'
	for i := at; i+2 < len(doc); i++ {
		j := bytes.IndexByte(doc[i:len(doc)-2], 'm')
		if j < 0 {
			return false
		}
		i += j
		if doc[i+1] == 's' && doc[i+2] == '"' && doc[i-1] == 'e' && doc[i-2] == 't' && doc[i-3] == 'i' && doc[i-4] == '"' {
			return true
		}
	}
	return false
}

// ParseTimeUTC reads an RFC 3339 time in UTC ("2025-03-01T10:00:01.5Z",
// up to nine digits of fraction) and returns what
// time.Parse(time.RFC3339Nano, s) followed by UTC returns, without its
// general machinery. ok is false for anything else, including other
// offsets, year 0000 and the zero time: callers then use time.Parse and
// their own checks, which give the reasons.
func ParseTimeUTC(s string) (t time.Time, ok bool) {
	if len(s) < len("2006-01-02T15:04:05Z") || s[len(s)-1] != 'Z' ||
		s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' {
		return time.Time{}, false
	}
	year, ok1 := digits(s[0:4])
	month, ok2 := digits(s[5:7])
	day, ok3 := digits(s[8:10])
	hour, ok4 := digits(s[11:13])
	minute, ok5 := digits(s[14:16])
	sec, ok6 := digits(s[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || year < 1 || month < 1 || month > 12 ||
		day < 1 || day > daysIn(month, year) || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	var nsec int64
	if frac := s[19 : len(s)-1]; frac != "" {
		if len(frac) < 2 || len(frac) > 10 || frac[0] != '.' {
			return time.Time{}, false
		}
		n, ok := digits(frac[1:])
		if !ok {
			return time.Time{}, false
		}
		for i := len(frac) - 1; i < 9; i++ {
			n *= 10
		}
		nsec = n
	}
	unix := daysSinceEpoch(year, month, day)*86400 + hour*3600 + minute*60 + sec
	t = time.Unix(unix, nsec).UTC()
	if t.IsZero() {
		return time.Time{}, false
	}
	return t, true
}

// digits reads a string of ASCII digits (at most 18).
func digits(s string) (int64, bool) {
	if s == "" || len(s) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

func daysIn(month, year int64) int64 {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysSinceEpoch is the number of days from 1970-01-01 to the given date
// of the proleptic Gregorian calendar (Howard Hinnant's days_from_civil).
func daysSinceEpoch(y, m, d int64) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400 // y >= 0 here
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}
