package k8saudit

import (
	"encoding/binary"
	"math/bits"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/pulsegate/pulsegate/pkg/source"
)

// scanner is the fast path's JSON reader: one validating pass over a
// record that visits only the fields the mapping needs and skips the rest.
// It accepts exactly the JSON that encoding/json accepts, and it gives up
// (err) on anything whose decoding it does not reproduce exactly: syntax
// errors, type mismatches, duplicate or case-folded field names, escaped
// names, deep nesting. The caller then decodes the record with
// encoding/json, so that odd input keeps its old result and reason.
type scanner struct {
	b     []byte
	i     int
	depth int
	err   bool
	// keyEsc is set by member when the key it returned holds a backslash
	// or a non-ASCII byte.
	keyEsc bool
	// arena, when set, holds the strings text returns.
	arena *source.StringArena
	// pool, when set, holds the objects and pod specs it decodes.
	pool *pool
	// valid says that b is known to be valid JSON (a part of a record
	// that was checked whole), so that skip need not check it again.
	valid bool
}

// maxDepth bounds nesting on the fast path (encoding/json allows 10000,
// and deeper records fall back to it).
const maxDepth = 256

// plain marks the string bytes that need no attention: printable ASCII
// other than the quote and the backslash.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

const (
	lo = 0x0101010101010101
	hi = 0x8080808080808080
)

// special reports whether any of the eight bytes in x is a quote, a
// backslash or a control character (exact: see "Bit Twiddling Hacks",
// "Determine if a word has a byte less than n").
func special(x uint64) bool { return specials(x) != 0 }

// specials returns the high bits of the bytes of x that special looks
// for; the lowest one set marks the first such byte exactly (bits above
// it may be set by borrows).
func specials(x uint64) uint64 {
	q := x ^ (lo * '"')
	bs := x ^ (lo * '\\')
	return ((q-lo)&^q | (bs-lo)&^bs | (x-lo*0x20)&^x) & hi
}

func (s *scanner) fail() bool {
	s.err = true
	return false
}

func (s *scanner) ws() {
	b, i := s.b, s.i
	if i >= len(b) || b[i] > ' ' { // compact JSON: no white space
		return
	}
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	s.i = i
}

// peek returns the byte at s.i, or 0 at the end.
func (s *scanner) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// str reads the string that starts at s.i (its opening quote) and returns
// the span of its contents; esc reports a backslash or a non-ASCII byte in
// it (the contents then need unquoting).
func (s *scanner) str() (start, end int, esc bool) {
	start = s.i + 1
	end, esc = strEnd(s.b, start)
	if end < 0 {
		s.fail()
		return 0, 0, false
	}
	s.i = end + 1
	return start, end, esc
}

// strEnd checks the contents of a string that start at b[i] and returns
// the index of its closing quote, or -1 when it is not valid JSON; esc
// reports a backslash or a non-ASCII byte in it.
func strEnd(b []byte, i int) (end int, esc bool) {
	var high uint64
	for {
		// Eight bytes at a time up to the first that needs attention.
		for i+8 <= len(b) {
			x := binary.LittleEndian.Uint64(b[i : i+8])
			if m := specials(x); m != 0 {
				n := bits.TrailingZeros64(m) &^ 7 // bits before that byte
				high |= x & (1<<n - 1)
				i += n >> 3
				goto found
			}
			high |= x
			i += 8
		}
		for i < len(b) && plain[b[i]] {
			i++
		}
	found:
		if i >= len(b) {
			return -1, false
		}
		switch c := b[i]; {
		case c == '"':
			return i, esc || high&hi != 0
		case c == '\\':
			esc = true
			if i+1 >= len(b) {
				return -1, false
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) || getu4(b[i:i+6]) < 0 {
					return -1, false
				}
				i += 6
			default:
				return -1, false
			}
		case c < 0x20:
			return -1, false
		default: // non-ASCII
			esc = true
			i++
		}
	}
}

// lit reads the literal w (true, false, null) at s.i.
func (s *scanner) lit(w string) bool {
	if len(s.b)-s.i < len(w) || string(s.b[s.i:s.i+len(w)]) != w {
		return s.fail()
	}
	s.i += len(w)
	return true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// num reads a number at s.i; integer reports that it has neither a
// fraction nor an exponent.
func (s *scanner) num() (integer bool) {
	b, i := s.b, s.i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	default:
		return s.fail()
	}
	integer = true
	if i < len(b) && b[i] == '.' {
		integer = false
		i++
		if i >= len(b) || !isDigit(b[i]) {
			return s.fail()
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		integer = false
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || !isDigit(b[i]) {
			return s.fail()
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	s.i = i
	return integer
}

// member moves to the n-th member (from 0) of the object whose '{' has
// been consumed: it returns the member's key (raw, see keyEsc) and leaves
// s.i at its value, or returns false after the closing '}' or on error.
func (s *scanner) member(n int) ([]byte, bool) {
	s.ws()
	c := s.peek()
	if n > 0 {
		switch c {
		case ',':
			s.i++
			s.ws()
			c = s.peek()
		case '}':
			s.i++
			return nil, false
		default:
			return nil, s.fail()
		}
	} else if c == '}' {
		s.i++
		return nil, false
	}
	if c != '"' {
		return nil, s.fail()
	}
	start, end, esc := s.str()
	if s.err {
		return nil, false
	}
	s.keyEsc = esc
	s.ws()
	if s.peek() != ':' {
		return nil, s.fail()
	}
	s.i++
	s.ws()
	return s.b[start:end], true
}

// elem moves to the n-th element (from 0) of the array whose '[' has been
// consumed, leaving s.i at it, or returns false after the closing ']' or on
// error.
func (s *scanner) elem(n int) bool {
	s.ws()
	c := s.peek()
	if n > 0 {
		switch c {
		case ',':
			s.i++
			s.ws()
			return true
		case ']':
			s.i++
			return false
		default:
			return s.fail()
		}
	}
	if c == ']' {
		s.i++
		return false
	}
	return true
}

// open consumes the '{' or '[' at s.i, counting depth.
func (s *scanner) open() bool {
	s.i++
	s.depth++
	if s.depth > maxDepth {
		return s.fail()
	}
	return true
}

func (s *scanner) close() { s.depth-- }

// skip validates and skips the value at s.i.
func (s *scanner) skip() bool {
	if s.valid {
		s.skipValid()
		return true
	}
	return s.skipChecked()
}

// skipChecked validates and skips the value at s.i, in one loop.
func (s *scanner) skipChecked() bool {
	b, i := s.b, s.i
	var closers [maxDepth + 1]byte // the closing bracket expected at each depth
	depth := 0
value:
	if i >= len(b) {
		return s.fail()
	}
	switch b[i] {
	case '"':
		end, _ := strEnd(b, i+1)
		if end < 0 {
			return s.fail()
		}
		i = end + 1
	case '{', '[':
		if depth++; depth+s.depth > maxDepth {
			return s.fail()
		}
		closer := byte('}')
		if b[i] == '[' {
			closer = ']'
		}
		closers[depth] = closer
		i++
		for i < len(b) && isSpace(b[i]) {
			i++
		}
		if i < len(b) && b[i] == closer {
			i++
			depth--
			break
		}
		if closer == '}' {
			goto key
		}
		goto value
	case 't':
		if len(b)-i < 4 || string(b[i:i+4]) != "true" {
			return s.fail()
		}
		i += 4
	case 'f':
		if len(b)-i < 5 || string(b[i:i+5]) != "false" {
			return s.fail()
		}
		i += 5
	case 'n':
		if len(b)-i < 4 || string(b[i:i+4]) != "null" {
			return s.fail()
		}
		i += 4
	default:
		s.i = i
		s.num()
		if s.err {
			return false
		}
		i = s.i
	}
after:
	if depth == 0 {
		s.i = i
		return true
	}
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	if i >= len(b) {
		return s.fail()
	}
	switch b[i] {
	case ',':
		i++
		for i < len(b) && isSpace(b[i]) {
			i++
		}
		if closers[depth] == '}' {
			goto key
		}
		goto value
	case closers[depth]:
		i++
		depth--
		goto after
	}
	return s.fail()
key:
	if i >= len(b) || b[i] != '"' {
		return s.fail()
	}
	if end, _ := strEnd(b, i+1); end < 0 {
		return s.fail()
	} else {
		i = end + 1
	}
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	if i >= len(b) || b[i] != ':' {
		return s.fail()
	}
	i++
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	goto value
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// null consumes a null at s.i and reports whether there was one.
func (s *scanner) null() bool {
	if s.peek() == 'n' {
		s.lit("null")
		return true
	}
	return false
}

// end checks that nothing but white space follows the top-level value.
func (s *scanner) end() bool {
	s.ws()
	if s.i != len(s.b) {
		return s.fail()
	}
	return !s.err
}

// text reads a string value into a new string (null is ""), and fails on
// any other type.
func (s *scanner) text() string {
	switch s.peek() {
	case '"':
		start, end, esc := s.str()
		if s.err {
			return ""
		}
		if esc {
			return s.string(appendUnquoted(nil, s.b[start:end]))
		}
		return s.string(s.b[start:end])
	case 'n':
		s.lit("null")
	default:
		s.fail()
	}
	return ""
}

// check reads a string or null that nothing reads later: it is checked,
// as encoding/json would, and not kept.
func (s *scanner) check() {
	switch s.peek() {
	case '"':
		s.str()
	case 'n':
		s.lit("null")
	default:
		s.fail()
	}
}

func (s *scanner) string(b []byte) string {
	if s.arena != nil {
		return s.arena.String(b)
	}
	return string(b)
}

// word reads a string or null like text, returning one of words without
// allocating when it is one of them.
func (s *scanner) word(words []string) string {
	if s.peek() == '"' {
		i := s.i
		start, end, esc := s.str()
		if s.err {
			return ""
		}
		if !esc {
			for _, w := range words {
				if w == string(s.b[start:end]) {
					return w
				}
			}
		}
		s.i = i
	}
	return s.text()
}

// words reads an array of strings like texts, with word.
func (s *scanner) words(words []string) []string {
	var out []string
	s.array(func() {
		if out == nil {
			out = make([]string, 0, 4)
		}
		out = append(out, s.word(words))
	})
	return out
}

// boolean reads true, false or null (ok false).
func (s *scanner) boolean() (v, ok bool) {
	switch s.peek() {
	case 't':
		return true, s.lit("true")
	case 'f':
		return false, s.lit("false")
	case 'n':
		s.lit("null")
	default:
		s.fail()
	}
	return false, false
}

// foldsTo reports whether key, which matched none of names exactly, would
// still match one of them in encoding/json, which matches names without
// regard to case. Keys with escapes or non-ASCII bytes are never passed
// here (the fast path gives up on them first).
func foldsTo(key []byte, names ...string) bool {
	for _, n := range names {
		if len(n) != len(key) {
			continue
		}
		i := 0
		for i < len(n) && lower(key[i]) == lower(n[i]) {
			i++
		}
		if i == len(n) {
			return true
		}
	}
	return false
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// getu4 decodes \uXXXX from the beginning of s, returning the hex value,
// or it returns -1 (as encoding/json's).
func getu4(s []byte) rune {
	if len(s) < 6 || s[0] != '\\' || s[1] != 'u' {
		return -1
	}
	var r rune
	for _, c := range s[2:6] {
		switch {
		case '0' <= c && c <= '9':
			c = c - '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}

// appendUnquoted appends the contents of a string that str validated,
// unescaped and coerced to UTF-8 as encoding/json does (unquoteBytes): an
// invalid byte or a lone surrogate becomes U+FFFD.
func appendUnquoted(dst, s []byte) []byte {
	for r := 0; r < len(s); {
		c := s[r]
		switch {
		case c == '\\':
			r++
			switch s[r] {
			case 'b':
				dst = append(dst, '\b')
			case 'f':
				dst = append(dst, '\f')
			case 'n':
				dst = append(dst, '\n')
			case 'r':
				dst = append(dst, '\r')
			case 't':
				dst = append(dst, '\t')
			case 'u':
				rr := getu4(s[r-1:])
				r += 5
				if utf16.IsSurrogate(rr) {
					if dec := utf16.DecodeRune(rr, getu4(s[r:])); dec != utf8.RuneError {
						dst = utf8.AppendRune(dst, dec)
						r += 6
						continue
					}
					rr = utf8.RuneError
				}
				dst = utf8.AppendRune(dst, rr)
				continue
			default: // '"', '\\', '/'
				dst = append(dst, s[r])
			}
			r++
		case c < utf8.RuneSelf:
			dst = append(dst, c)
			r++
		default:
			rr, size := utf8.DecodeRune(s[r:])
			dst = utf8.AppendRune(dst, rr)
			r += size
		}
	}
	return dst
}

// fields reads the object at s.i (null reads as none), calling fn with the
// index in names of each member it names, s.i at the member's value, and
// skipping the others. It fails on anything but an object or null, and on
// a key that is escaped, non-ASCII, repeated, or that matches a name only
// without regard to case (encoding/json's rules, which the caller leaves
// to encoding/json).
func (s *scanner) fields(names []string, fn func(i int)) bool {
	if s.null() {
		return true
	}
	if s.peek() != '{' || !s.open() {
		return s.fail()
	}
	var seen uint64
	for n := 0; ; n++ {
		key, ok := s.member(n)
		if !ok {
			break
		}
		if s.keyEsc {
			return s.fail()
		}
		i := 0
		for i < len(names) && names[i] != string(key) {
			i++
		}
		if i == len(names) {
			if foldsTo(key, names...) {
				return s.fail()
			}
			s.skip()
		} else {
			if seen&(1<<i) != 0 {
				return s.fail()
			}
			seen |= 1 << i
			fn(i)
		}
		if s.err {
			return false
		}
	}
	s.close()
	return !s.err
}

// array reads the array at s.i (null reads as empty), calling fn with s.i
// at each element. It fails on anything but an array or null.
func (s *scanner) array(fn func()) bool {
	if s.null() {
		return true
	}
	if s.peek() != '[' || !s.open() {
		return s.fail()
	}
	for n := 0; s.elem(n); n++ {
		fn()
		if s.err {
			return false
		}
	}
	s.close()
	return !s.err
}

// texts reads an array of strings (null elements are "") or null.
func (s *scanner) texts() []string {
	var out []string
	s.array(func() { out = append(out, s.text()) })
	return out
}

// skipValid skips the value at s.i of JSON known to be valid: it only
// finds where the value ends. On invalid JSON it stops somewhere within
// b, never past its end.
func (s *scanner) skipValid() {
	b, i := s.b, s.i
	depth := 0
	for i < len(b) {
		switch b[i] {
		case '"':
			i = stringEnd(b, i+1)
			if depth == 0 {
				s.i = i
				return
			}
		case '{', '[':
			depth++
			i++
		case '}', ']':
			if depth == 0 { // the end of the object or array holding a scalar
				s.i = i
				return
			}
			depth--
			i++
			if depth == 0 {
				s.i = i
				return
			}
		case ',', ' ', '\t', '\r', '\n':
			if depth == 0 {
				s.i = i
				return
			}
			i++
		default:
			i++
		}
	}
	s.i = i
}

// stringEnd returns the index after the closing quote of the string whose
// contents start at b[i], or len(b). The string is known to be valid.
func stringEnd(b []byte, i int) int {
	for {
		for i+8 <= len(b) {
			x := binary.LittleEndian.Uint64(b[i : i+8])
			q := x ^ (lo * '"')
			bs := x ^ (lo * '\\')
			if m := ((q-lo)&^q | (bs-lo)&^bs) & hi; m != 0 {
				i += bits.TrailingZeros64(m) >> 3
				goto found
			}
			i += 8
		}
		for i < len(b) && b[i] != '"' && b[i] != '\\' {
			i++
		}
	found:
		switch {
		case i >= len(b):
			return len(b)
		case b[i] == '"':
			return i + 1
		default: // a backslash and the byte it escapes
			i += 2
		}
	}
}
