package aggregate

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/bits"
	"unicode/utf8"
)

// The scanner below validates JSON exactly as json.Valid does (FuzzScan
// checks the agreement) and, in the same pass, records the top-level members
// of an object, so that an unshaped backend is validated and spliced without
// being decoded.

// maxDepth is encoding/json's nesting limit: json.Valid rejects deeper input.
const maxDepth = 10000

// member is one top-level member of a JSON object, as offsets into the
// bytes it was scanned from, so that a slice of members holds no pointers
// (no write barriers, nothing for the collector to scan). Its key is either
// those bytes or a name from the backend's configuration.
type member struct {
	keyOff, keyEnd int   // the key as written, quotes and escapes included
	valOff, valEnd int   // the raw value
	escaped        bool  // the key has escapes: compare it unescaped
	keySrc         uint8 // where the key comes from: fromData, fromGroup, ...
	mapIdx         int32 // with fromMapping: the index in backend.mapTo
}

// Where a member's key comes from.
const (
	fromData       = iota // data[keyOff:keyEnd]
	fromGroup             // Backend.Group
	fromCollection        // Backend.Collection
	fromMapping           // Backend.Mapping's new name mapTo[mapIdx]
)

// syntaxError says where a body stops being JSON.
type syntaxError struct {
	off int
	msg string
}

func (e *syntaxError) Error() string { return fmt.Sprintf("invalid JSON at byte %d: %s", e.off, e.msg) }

// parseTop validates data as exactly one JSON value with optional
// surrounding white space. It returns the value's offsets (without that
// space) and its first byte ('{', '[', '"', 't', 'f', 'n', or a digit or
// '-'). When record is set and the value is an object, its members are
// appended to dst.
func parseTop(data []byte, dst []member, record bool) ([]member, int, int, byte, error) {
	i := skipSpace(data, 0)
	if i == len(data) {
		return dst, 0, 0, 0, &syntaxError{0, "empty body"}
	}
	start := i
	var err error
	if data[i] == '{' && record {
		dst, i, err = scanMembers(data, i, dst)
	} else {
		i, err = scanValue(data, i, 0)
	}
	if err != nil {
		return dst, 0, 0, 0, err
	}
	end := i
	if i = skipSpace(data, i); i != len(data) {
		return dst, 0, 0, 0, &syntaxError{i, "data after the value"}
	}
	return dst, start, end, data[start], nil
}

// asciiOrUTF8 reports whether b is valid UTF-8, quickly for ASCII.
func asciiOrUTF8(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return utf8.Valid(b)
		}
	}
	return true
}

// unescapeKey returns the name a quoted, escaped JSON key stands for.
func unescapeKey(key []byte) []byte {
	var s string
	if err := json.Unmarshal(key, &s); err != nil {
		return key // cannot happen for a scanned key; any stable answer will do
	}
	return []byte(s)
}

// scanMembers scans the object at data[i] (which is '{'), appending its
// members to dst, and returns the index after it.
func scanMembers(data []byte, i int, dst []member) ([]member, int, error) {
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		return dst, i + 1, nil
	}
	for {
		if i >= len(data) || data[i] != '"' {
			return dst, 0, errAt(data, i, "want a key")
		}
		ks := i
		end, escaped := scanString(data, i)
		if end < 0 {
			return dst, 0, errAt(data, i, "bad string")
		}
		if !escaped && !asciiOrUTF8(data[ks+1:end-1]) {
			escaped = true // decoders read invalid UTF-8 as U+FFFD: compare it so
		}
		i = skipSpace(data, end)
		if i >= len(data) || data[i] != ':' {
			return dst, 0, errAt(data, i, "want ':'")
		}
		i = skipSpace(data, i+1)
		vs := i
		var err error
		if i, err = scanValue(data, i, 1); err != nil {
			return dst, 0, err
		}
		dst = append(dst, member{keyOff: ks, keyEnd: end, valOff: vs, valEnd: i, escaped: escaped})
		i = skipSpace(data, i)
		if i < len(data) && data[i] == ',' {
			i = skipSpace(data, i+1)
			continue
		}
		if i < len(data) && data[i] == '}' {
			return dst, i + 1, nil
		}
		return dst, 0, errAt(data, i, "want ',' or '}'")
	}
}

// scanValue validates the value starting at data[i] (not white space),
// nested depth containers deep, and returns the index after it.
func scanValue(data []byte, i, depth int) (int, error) {
	if i >= len(data) {
		return 0, errAt(data, i, "want a value")
	}
	switch c := data[i]; {
	case c == '"':
		end, _ := scanString(data, i)
		if end < 0 {
			return 0, errAt(data, i, "bad string")
		}
		return end, nil
	case c == '{':
		if depth++; depth > maxDepth {
			return 0, errAt(data, i, "nested too deep")
		}
		i = skipSpace(data, i+1)
		if i < len(data) && data[i] == '}' {
			return i + 1, nil
		}
		for {
			if i >= len(data) || data[i] != '"' {
				return 0, errAt(data, i, "want a key")
			}
			end, _ := scanString(data, i)
			if end < 0 {
				return 0, errAt(data, i, "bad string")
			}
			i = skipSpace(data, end)
			if i >= len(data) || data[i] != ':' {
				return 0, errAt(data, i, "want ':'")
			}
			var err error
			if i, err = scanValue(data, skipSpace(data, i+1), depth); err != nil {
				return 0, err
			}
			i = skipSpace(data, i)
			if i < len(data) && data[i] == ',' {
				i = skipSpace(data, i+1)
				continue
			}
			if i < len(data) && data[i] == '}' {
				return i + 1, nil
			}
			return 0, errAt(data, i, "want ',' or '}'")
		}
	case c == '[':
		if depth++; depth > maxDepth {
			return 0, errAt(data, i, "nested too deep")
		}
		i = skipSpace(data, i+1)
		if i < len(data) && data[i] == ']' {
			return i + 1, nil
		}
		for {
			var err error
			if i, err = scanValue(data, i, depth); err != nil {
				return 0, err
			}
			i = skipSpace(data, i)
			if i < len(data) && data[i] == ',' {
				i = skipSpace(data, i+1)
				continue
			}
			if i < len(data) && data[i] == ']' {
				return i + 1, nil
			}
			return 0, errAt(data, i, "want ',' or ']'")
		}
	case c == '-' || c >= '0' && c <= '9':
		return scanNumber(data, i)
	case c == 't':
		return scanLiteral(data, i, "true")
	case c == 'f':
		return scanLiteral(data, i, "false")
	case c == 'n':
		return scanLiteral(data, i, "null")
	default:
		return 0, errAt(data, i, "want a value")
	}
}

// scanString returns the index after the string starting at data[i] (which
// is '"'), or -1, and reports whether it has escapes. Like json.Valid it
// accepts any byte from 0x20 up, valid UTF-8 or not.
func scanString(data []byte, i int) (int, bool) {
	escaped := false
	i++
	for {
		// Skip plain bytes eight at a time: t flags the bytes that are '"',
		// '\' or below 0x20. A flag can be spurious only above a true one
		// (a borrow runs upwards), so the lowest is exact.
		for i+8 <= len(data) {
			x := binary.LittleEndian.Uint64(data[i:])
			q, bs := x^(lsb*'"'), x^(lsb*'\\')
			t := ((q - lsb) &^ q) | ((bs - lsb) &^ bs) | ((x - lsb*0x20) &^ x)
			if t &= msb; t != 0 {
				i += bits.TrailingZeros64(t) / 8
				break
			}
			i += 8
		}
		if i >= len(data) {
			return -1, escaped
		}
		c := data[i]
		switch {
		case c == '"':
			return i + 1, escaped
		case c < 0x20:
			return -1, escaped
		case c != '\\':
			i++
			continue
		}
		escaped = true
		if i+1 >= len(data) {
			return -1, escaped
		}
		switch data[i+1] {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			i += 2
		case 'u':
			if i+6 > len(data) {
				return -1, escaped
			}
			for _, h := range data[i+2 : i+6] {
				if !(h >= '0' && h <= '9' || h >= 'a' && h <= 'f' || h >= 'A' && h <= 'F') {
					return -1, escaped
				}
			}
			i += 6
		default:
			return -1, escaped
		}
	}
}

// Byte-parallel masks for scanString.
const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// scanNumber returns the index after the number starting at data[i].
func scanNumber(data []byte, i int) (int, error) {
	start := i
	if data[i] == '-' {
		i++
	}
	switch {
	case i < len(data) && data[i] == '0':
		i++
	case i < len(data) && data[i] >= '1' && data[i] <= '9':
		i = skipDigits(data, i+1)
	default:
		return 0, errAt(data, start, "bad number")
	}
	if i < len(data) && data[i] == '.' {
		j := skipDigits(data, i+1)
		if j == i+1 {
			return 0, errAt(data, start, "bad number")
		}
		i = j
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		j := skipDigits(data, i)
		if j == i {
			return 0, errAt(data, start, "bad number")
		}
		i = j
	}
	return i, nil
}

func skipDigits(data []byte, i int) int {
	for i < len(data) && data[i] >= '0' && data[i] <= '9' {
		i++
	}
	return i
}

func scanLiteral(data []byte, i int, lit string) (int, error) {
	if len(data)-i < len(lit) || string(data[i:i+len(lit)]) != lit {
		return 0, errAt(data, i, "bad literal")
	}
	return i + len(lit), nil
}

func skipSpace(data []byte, i int) int {
	for i < len(data) {
		switch data[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// errAt describes the syntax error at data[i].
func errAt(data []byte, i int, msg string) error {
	if i >= len(data) {
		return &syntaxError{len(data), "unexpected end: " + msg}
	}
	return &syntaxError{i, msg}
}

// appendJSONString appends s as a JSON string, escaping as encoding/json does
// (control characters, quotes, backslashes, <, >, &, U+2028, U+2029) and
// replacing invalid UTF-8 with U+FFFD.
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(append(dst, s[start:]...), '"')
}
