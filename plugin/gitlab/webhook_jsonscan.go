package gitlab

import (
	"encoding/binary"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// This file is a single-pass JSON reader for webhook payloads. It accepts
// exactly the documents encoding/json accepts and decodes the values it is
// asked for with encoding/json's semantics (null leaves a value alone, keys
// match case-insensitively after an exact match fails, a repeated key decodes
// into the same value again, invalid UTF-8 becomes U+FFFD), so the lean
// decoder in webhook_decode.go gives the same answers as json.Unmarshal into
// the same structs (FuzzLeanDecoderMatchesEncodingJSON checks that). It is
// faster because it validates while it decodes instead of in a separate pass,
// skips unwanted values without building anything, and writes the strings it
// keeps into one buffer instead of allocating each.

// maxJSONDepth is encoding/json's nesting limit.
const maxJSONDepth = 10000

// jsonError is a syntax or type error at a byte offset of the document. Its
// text never quotes the document: a payload may carry anything.
type jsonError struct {
	offset int
	msg    string
}

func (e *jsonError) Error() string { return fmt.Sprintf("%s at byte %d", e.msg, e.offset) }

// plainStringByte marks the bytes a string may hold without a closer look:
// printable ASCII other than '"' and '\\'.
var plainStringByte = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// stringFlags say what a scanned string holds beyond plain ASCII.
const (
	strEscape = 1 << iota // a backslash escape
	strHigh               // a byte >= 0x80
)

// jsonScanner reads one document. Decoded strings are written one after
// another into arena and are substrings of it: one allocation for all of
// them, sized by the caller's hint. A strings.Builder only ever appends, so
// a string taken from it never changes.
type jsonScanner struct {
	data  []byte
	pos   int
	depth int
	arena strings.Builder
	// scratch holds a string while it is unquoted.
	scratch []byte
	// kinds holds the kinds ('{' or '[') of the containers skip is inside:
	// the first ones in inline, deeper ones in extra.
	kinds  int
	inline [48]byte
	extra  []byte
}

// init prepares s to read data; stringBytes is about how many bytes of
// strings the caller will decode.
func (s *jsonScanner) init(data []byte, stringBytes int) {
	s.data = data
	s.arena.Grow(stringBytes)
}

func (s *jsonScanner) pushKind(c byte) {
	if s.kinds < len(s.inline) {
		s.inline[s.kinds] = c
	} else {
		s.extra = append(s.extra, c)
	}
	s.kinds++
}

func (s *jsonScanner) topKind() byte {
	if i := s.kinds - 1; i < len(s.inline) {
		return s.inline[i]
	}
	return s.extra[s.kinds-1-len(s.inline)]
}

func (s *jsonScanner) popKind() {
	s.kinds--
	if s.kinds >= len(s.inline) {
		s.extra = s.extra[:s.kinds-len(s.inline)]
	}
}

func (s *jsonScanner) syntaxError(msg string) error { return &jsonError{offset: s.pos, msg: msg} }

func (s *jsonScanner) typeError(want string) error {
	return &jsonError{offset: s.pos, msg: "cannot decode this value into " + want}
}

// ws skips whitespace.
func (s *jsonScanner) ws() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// peek is the byte at the cursor, or 0 at the end.
func (s *jsonScanner) peek() byte {
	if s.pos < len(s.data) {
		return s.data[s.pos]
	}
	return 0
}

// document reads the whole input as one value: an object, whose members go to
// member, or null (which, as for encoding/json into a struct, sets nothing).
// Anything else is a type error; trailing non-space is a syntax error.
func (s *jsonScanner) document(member func(key []byte) error) error {
	s.ws()
	var err error
	switch s.peek() {
	case '{':
		err = s.object(member)
	case 'n':
		err = s.literal("null")
	case 0:
		if s.pos >= len(s.data) {
			return s.syntaxError("unexpected end of JSON input")
		}
		return s.syntaxError("invalid character looking for beginning of value")
	default:
		start := s.pos
		if err = s.skip(); err == nil {
			s.pos = start
			err = s.typeError("an object")
		}
	}
	if err != nil {
		return err
	}
	s.ws()
	if s.pos != len(s.data) {
		return s.syntaxError("invalid character after top-level value")
	}
	return nil
}

// enter counts one more level of nesting.
func (s *jsonScanner) enter() error {
	s.depth++
	if s.depth > maxJSONDepth {
		return &jsonError{offset: s.pos, msg: "exceeded max depth"}
	}
	return nil
}

// object reads the object at the cursor. For each member it reads the key
// and the colon, then calls member, which must consume the value (decode or
// skip it).
func (s *jsonScanner) object(member func(key []byte) error) error {
	if err := s.enter(); err != nil {
		return err
	}
	s.pos++ // '{'
	s.ws()
	if s.peek() == '}' {
		s.pos++
		s.depth--
		return nil
	}
	for {
		if s.peek() != '"' {
			return s.syntaxError("expected a string key")
		}
		key, err := s.key()
		if err != nil {
			return err
		}
		s.ws()
		if s.peek() != ':' {
			return s.syntaxError("expected ':' after object key")
		}
		s.pos++
		s.ws()
		if err := member(key); err != nil {
			return err
		}
		s.ws()
		switch s.peek() {
		case ',':
			s.pos++
			s.ws()
		case '}':
			s.pos++
			s.depth--
			return nil
		default:
			return s.syntaxError("expected ',' or '}' after object value")
		}
	}
}

// array reads the array at the cursor, calling elem for each element with
// its index; elem must consume the value. It returns how many there were.
func (s *jsonScanner) array(elem func(i int) error) (int, error) {
	if err := s.enter(); err != nil {
		return 0, err
	}
	s.pos++ // '['
	s.ws()
	if s.peek() == ']' {
		s.pos++
		s.depth--
		return 0, nil
	}
	for i := 0; ; i++ {
		if err := elem(i); err != nil {
			return i, err
		}
		s.ws()
		switch s.peek() {
		case ',':
			s.pos++
			s.ws()
		case ']':
			s.pos++
			s.depth--
			return i + 1, nil
		default:
			return i, s.syntaxError("expected ',' or ']' after array element")
		}
	}
}

// key reads an object key: its bytes, unquoted if need be. The bytes are
// only valid until the next call.
func (s *jsonScanner) key() ([]byte, error) {
	raw, flags, err := s.scanString()
	if err != nil || flags == 0 {
		return raw, err
	}
	return []byte(unquoteJSON(raw)), nil
}

// scanString reads the string at the cursor, validating it, and returns the
// bytes between its quotes.
func (s *jsonScanner) scanString() (raw []byte, flags int, err error) {
	data := s.data
	i := s.pos + 1
	for {
		// Eight bytes at a time while none of them needs a closer look.
		for i+8 <= len(data) && !needsLook(binary.LittleEndian.Uint64(data[i:])) {
			i += 8
		}
		for i < len(data) && plainStringByte[data[i]] {
			i++
		}
		if i >= len(data) {
			s.pos = i
			return nil, 0, s.syntaxError("unexpected end of JSON input in string")
		}
		switch c := data[i]; {
		case c == '"':
			raw = data[s.pos+1 : i]
			s.pos = i + 1
			return raw, flags, nil
		case c == '\\':
			flags |= strEscape
			if i+1 >= len(data) {
				s.pos = i
				return nil, 0, s.syntaxError("unexpected end of JSON input in string escape")
			}
			switch data[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				for k := i + 2; k < i+6; k++ {
					if k >= len(data) || !isHex(data[k]) {
						s.pos = k
						return nil, 0, s.syntaxError("invalid character in \\u hexadecimal character escape")
					}
				}
				i += 6
			default:
				s.pos = i + 1
				return nil, 0, s.syntaxError("invalid character in string escape code")
			}
		case c < 0x20:
			s.pos = i
			return nil, 0, s.syntaxError("invalid control character in string literal")
		default:
			flags |= strHigh
			i++
		}
	}
}

// needsLook reports whether any of the eight bytes in x is a quote, a
// backslash, a control character or not ASCII (the bit tricks are from
// "Bit Twiddling Hacks": hasless and haszero).
func needsLook(x uint64) bool {
	const (
		ones  = 0x0101010101010101
		highs = 0x8080808080808080
	)
	quote := x ^ (ones * '"')
	backslash := x ^ (ones * '\\')
	return (x|(x-ones*0x20)|(quote-ones)&^quote|(backslash-ones)&^backslash)&highs != 0
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// str decodes a string into *dst. null leaves *dst alone; any other kind of
// value is a type error.
func (s *jsonScanner) str(dst *string) error {
	switch s.peek() {
	case '"':
		raw, flags, err := s.scanString()
		if err != nil {
			return err
		}
		if flags != 0 && (flags != strHigh || !utf8.Valid(raw)) {
			if cap(s.scratch) < len(raw)+2*utf8.UTFMax {
				s.scratch = make([]byte, 0, 2*len(raw)+64) // room for this string and most to come
			}
			s.scratch = unquoteAppend(s.scratch[:0], raw)
			raw = s.scratch
		}
		start := s.arena.Len()
		s.arena.Write(raw)
		*dst = s.arena.String()[start:]
		return nil
	case 'n':
		return s.literal("null")
	default:
		return s.wrongType("a string")
	}
}

// int decodes an integer that fits int64 into *dst (encoding/json parses the
// literal with strconv.ParseInt: no fraction, no exponent). null leaves *dst
// alone.
func (s *jsonScanner) int(dst *int64) error {
	c := s.peek()
	if c == 'n' {
		return s.literal("null")
	}
	if c != '-' && (c < '0' || c > '9') {
		return s.wrongType("an integer")
	}
	start := s.pos
	raw, isInt, err := s.scanNumber()
	if err != nil {
		return err
	}
	if !isInt {
		s.pos = start
		return s.typeError("an integer")
	}
	neg := raw[0] == '-'
	digits := raw
	if neg {
		digits = raw[1:]
	}
	if len(digits) > 19 { // JSON has no leading zeros: 20 digits are >= 10^19 > 2^63
		s.pos = start
		return s.typeError("an integer")
	}
	var u uint64
	for _, d := range digits {
		u = u*10 + uint64(d-'0')
	}
	switch {
	case neg && u <= 1<<63:
		*dst = -int64(u)
	case !neg && u <= 1<<63-1:
		*dst = int64(u)
	default:
		s.pos = start
		return s.typeError("an integer")
	}
	return nil
}

// boolean decodes true or false into *dst; null leaves it alone.
func (s *jsonScanner) boolean(dst *bool) error {
	switch s.peek() {
	case 't':
		if err := s.literal("true"); err != nil {
			return err
		}
		*dst = true
		return nil
	case 'f':
		if err := s.literal("false"); err != nil {
			return err
		}
		*dst = false
		return nil
	case 'n':
		return s.literal("null")
	default:
		return s.wrongType("a boolean")
	}
}

// objectOrNull reads an object into member, or a null that sets nothing.
func (s *jsonScanner) objectOrNull(member func(key []byte) error) error {
	switch s.peek() {
	case '{':
		return s.object(member)
	case 'n':
		return s.literal("null")
	default:
		return s.wrongType("an object")
	}
}

// wrongType reports a value of the wrong kind. A syntax error inside that
// value wins, as it does for encoding/json, which validates first.
func (s *jsonScanner) wrongType(want string) error {
	start := s.pos
	if err := s.skip(); err != nil {
		return err
	}
	s.pos = start
	return s.typeError(want)
}

// literal reads true, false or null.
func (s *jsonScanner) literal(word string) error {
	end := s.pos + len(word)
	if end > len(s.data) || string(s.data[s.pos:end]) != word {
		for i := 0; i < len(word); i++ {
			if s.pos >= len(s.data) {
				return s.syntaxError("unexpected end of JSON input in literal")
			}
			if s.data[s.pos] != word[i] {
				return s.syntaxError("invalid character in literal")
			}
			s.pos++
		}
	}
	s.pos = end
	return nil
}

// scanNumber reads a number and says whether it is an integer literal (no
// fraction, no exponent).
func (s *jsonScanner) scanNumber() (raw []byte, isInt bool, err error) {
	data := s.data
	start := s.pos
	i := s.pos
	if i < len(data) && data[i] == '-' {
		i++
	}
	switch {
	case i < len(data) && data[i] == '0':
		i++
	case i < len(data) && '1' <= data[i] && data[i] <= '9':
		for i < len(data) && '0' <= data[i] && data[i] <= '9' {
			i++
		}
	default:
		s.pos = i
		return nil, false, s.syntaxError("invalid character in numeric literal")
	}
	isInt = true
	if i < len(data) && data[i] == '.' {
		isInt = false
		i++
		if i >= len(data) || data[i] < '0' || data[i] > '9' {
			s.pos = i
			return nil, false, s.syntaxError("invalid character after decimal point in numeric literal")
		}
		for i < len(data) && '0' <= data[i] && data[i] <= '9' {
			i++
		}
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		isInt = false
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		if i >= len(data) || data[i] < '0' || data[i] > '9' {
			s.pos = i
			return nil, false, s.syntaxError("invalid character in exponent of numeric literal")
		}
		for i < len(data) && '0' <= data[i] && data[i] <= '9' {
			i++
		}
	}
	s.pos = i
	return data[start:i], isInt, nil
}

// skip reads and validates one value of any kind without decoding it. It
// walks nested containers with an explicit stack, so no input can exhaust
// the goroutine's stack.
func (s *jsonScanner) skip() error {
	base := s.kinds
	for {
		// A value starts here.
		s.ws()
		switch c := s.peek(); {
		case c == '{' || c == '[':
			if err := s.enter(); err != nil {
				return err
			}
			s.pushKind(c)
			s.pos++
			s.ws()
			closer := byte('}')
			if c == '[' {
				closer = ']'
			}
			if s.peek() == closer {
				s.pos++
				s.popKind()
				s.depth--
				break
			}
			if c == '{' {
				if err := s.skipKey(); err != nil {
					return err
				}
			}
			continue
		case c == '"':
			if _, _, err := s.scanString(); err != nil {
				return err
			}
		case c == 't':
			if err := s.literal("true"); err != nil {
				return err
			}
		case c == 'f':
			if err := s.literal("false"); err != nil {
				return err
			}
		case c == 'n':
			if err := s.literal("null"); err != nil {
				return err
			}
		case c == '-' || '0' <= c && c <= '9':
			if _, _, err := s.scanNumber(); err != nil {
				return err
			}
		case c == 0 && s.pos >= len(s.data):
			return s.syntaxError("unexpected end of JSON input")
		default:
			return s.syntaxError("invalid character looking for beginning of value")
		}
		// A value ended: close containers until another value is due.
		for {
			if s.kinds == base {
				return nil
			}
			s.ws()
			top := s.topKind()
			c := s.peek()
			if c == ',' {
				s.pos++
				if top == '{' {
					s.ws()
					if err := s.skipKey(); err != nil {
						return err
					}
				}
				break
			}
			if top == '{' && c == '}' || top == '[' && c == ']' {
				s.pos++
				s.popKind()
				s.depth--
				continue
			}
			if top == '{' {
				return s.syntaxError("expected ',' or '}' after object value")
			}
			return s.syntaxError("expected ',' or ']' after array element")
		}
	}
}

// skipKey reads an object key and its colon.
func (s *jsonScanner) skipKey() error {
	if s.peek() != '"' {
		return s.syntaxError("expected a string key")
	}
	if _, _, err := s.scanString(); err != nil {
		return err
	}
	s.ws()
	if s.peek() != ':' {
		return s.syntaxError("expected ':' after object key")
	}
	s.pos++
	return nil
}

// unquoteJSON decodes the bytes between a string's quotes, already
// validated by scanString, as encoding/json does: escapes resolved, a \u
// surrogate pair joined and a lone surrogate replaced by U+FFFD, and every
// byte of invalid UTF-8 replaced by U+FFFD.
func unquoteJSON(raw []byte) string {
	return string(unquoteAppend(make([]byte, 0, len(raw)+2*utf8.UTFMax), raw))
}

// unquoteAppend is unquoteJSON appending to out.
func unquoteAppend(out, raw []byte) []byte {
	for i := 0; i < len(raw); {
		c := raw[i]
		switch {
		case c == '\\':
			switch e := raw[i+1]; e {
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'u':
				r := hex4(raw[i+2 : i+6])
				i += 6
				if utf16.IsSurrogate(r) {
					if i+6 <= len(raw) && raw[i] == '\\' && raw[i+1] == 'u' {
						if pair := utf16.DecodeRune(r, hex4(raw[i+2:i+6])); pair != unicode.ReplacementChar {
							out = utf8.AppendRune(out, pair)
							i += 6
							continue
						}
					}
					r = unicode.ReplacementChar
				}
				out = utf8.AppendRune(out, r)
				continue
			default: // '"', '\\', '/'
				out = append(out, e)
			}
			i += 2
		case c < utf8.RuneSelf:
			// Copy the run of plain bytes up to the next escape or non-ASCII byte.
			j := i + 1
			for j < len(raw) && raw[j] != '\\' && raw[j] < utf8.RuneSelf {
				j++
			}
			out = append(out, raw[i:j]...)
			i = j
		default:
			r, size := utf8.DecodeRune(raw[i:])
			if r == utf8.RuneError && size == 1 {
				out = utf8.AppendRune(out, utf8.RuneError)
			} else {
				out = append(out, raw[i:i+size]...)
			}
			i += size
		}
	}
	return out
}

// hex4 reads four validated hexadecimal digits.
func hex4(b []byte) rune {
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		default:
			c = c - 'A' + 10
		}
		r = r<<4 | rune(c)
	}
	return r
}

// foldKey is the name encoding/json matches a key by when no field has the
// key's exact name: ASCII upper-cased and every other rune folded to the
// smallest rune of its Unicode fold set (so the Kelvin sign matches 'k'),
// returned lower-cased so it can be looked up among this package's
// lower-case field names. ok is false when no field name can match: the key
// is plain lower-case ASCII (the exact lookup already failed) or folds to
// something that is not ASCII.
func foldKey(key []byte) (folded []byte, ok bool) {
	plain := true
	for _, c := range key {
		if c >= utf8.RuneSelf || 'A' <= c && c <= 'Z' {
			plain = false
			break
		}
	}
	if plain {
		return nil, false
	}
	out := make([]byte, 0, len(key))
	for len(key) > 0 {
		r, size := rune(key[0]), 1
		if r >= utf8.RuneSelf {
			r, size = utf8.DecodeRune(key)
			if r = foldRune(r); r >= utf8.RuneSelf {
				return nil, false
			}
		}
		key = key[size:]
		c := byte(r)
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		out = append(out, c)
	}
	return out, true
}

// foldRune is the smallest rune of r's Unicode simple fold set.
func foldRune(r rune) rune {
	for {
		r2 := unicode.SimpleFold(r)
		if r2 <= r {
			return r2
		}
		r = r2
	}
}
