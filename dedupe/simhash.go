package dedupe

import (
	"math/bits"
	"unicode"
	"unicode/utf8"
)

// ShingleWords is the number of consecutive words in a [SimHash] shingle.
const ShingleWords = 3

// SimHash returns a 64-bit locality-sensitive fingerprint of text (Charikar's
// SimHash): texts that share most of their word sequences get fingerprints
// that differ in few bits (see [Distance]). A page with one word in 500
// changed is typically 1 to 3 bits away; unrelated pages are about 32.
//
// The value is stored (the pages.simhash column) and compared across
// processes and releases, so the algorithm is fixed:
//
//   - a word is a maximal run of Unicode letters and decimal digits
//     (unicode.IsLetter, unicode.IsDigit); everything else separates words,
//     and so does each byte of invalid UTF-8;
//   - a word's hash is the 64-bit FNV-1a of its UTF-8 after lower-casing
//     rune by rune (unicode.ToLower), with nothing appended;
//   - with w1, w2, w3 the hashes of ShingleWords consecutive words in text
//     order, their shingle's hash, the feature, is
//     fmix64(bits.RotateLeft64(w1, 42) ^ bits.RotateLeft64(w2, 21) ^ w3),
//     where fmix64 is MurmurHash3's 64-bit finaliser; a text of n words,
//     0 < n < ShingleWords, has one feature, with its words preceded by
//     ShingleWords-n words of hash 0;
//   - bit i of the result is set when more than half of the features have
//     bit i set, each feature counted once per occurrence.
//
// Text without a word gives 0. Only letters and digits added to Unicode after
// Go 1.26 could change a value, and only for text that uses them. SimHash is
// safe for concurrent use and allocates nothing; ASCII text needs no Unicode
// tables, and each word is hashed once.
func SimHash(text string) uint64 {
	var h SimHasher
	write(&h, text)
	return h.Sum64()
}

// SimHasher computes [SimHash] of a text that arrives in pieces, such as the
// text nodes of an HTML page: after Write(a), Break() and Write(b), Sum64 is
// SimHash(a + " " + b); after Write(a) and Write(b) it is SimHash(a + b),
// provided the split does not fall inside a UTF-8 sequence (the bytes of a
// split rune count as invalid UTF-8). The zero value is ready to use; it
// allocates nothing. A SimHasher is not safe for concurrent use.
type SimHasher struct {
	v      votes
	w1, w2 uint64 // the hashes of the two words before the current one
	h      uint64 // the hash of the word in progress, when inWord
	inWord bool
	words  int
}

// Write adds p to the text. It never fails.
func (s *SimHasher) Write(p []byte) (int, error) {
	write(s, p)
	return len(p), nil
}

// Break ends the word in progress, as a space would.
func (s *SimHasher) Break() {
	if s.inWord {
		s.endWord()
	}
}

// Reset empties s for another text.
func (s *SimHasher) Reset() { *s = SimHasher{} }

// Sum64 returns the SimHash of the text written so far. It does not change
// s: more text may follow.
func (s *SimHasher) Sum64() uint64 {
	t := *s // the word in progress ends here, in a copy
	t.Break()
	switch {
	case t.words == 0:
		return 0
	case t.words < ShingleWords: // w1 and w2 hold the 1 or 2 words, 0-padded in front
		t.v.add(shingleHash(0, t.w1, t.w2))
	}
	return t.v.majority()
}

// endWord counts the word whose hash is s.h.
func (s *SimHasher) endWord() {
	s.words++
	if s.words >= ShingleWords {
		s.v.add(shingleHash(s.w1, s.w2, s.h))
	}
	s.w1, s.w2 = s.w2, s.h
	s.inWord = false
}

// write adds text to s: SimHash's loop, resumable at any byte.
func write[T ~string | ~[]byte](s *SimHasher, text T) {
	h, inWord := s.h, s.inWord
	for i := 0; i < len(text); {
		if !inWord {
			// Skip to the next word.
			if c := text[i]; c < utf8.RuneSelf {
				if asciiLower[c] == 0 {
					i++
					continue
				}
			} else if r, size := decodeRune(text[i:]); !isWordRune(r, size) {
				i += size
				continue
			}
			h, inWord = fnvOffset, true
		}
		// Hash the word, lower-cased, up to the separator after it.
		for i < len(text) {
			c := text[i]
			if c < utf8.RuneSelf {
				c = asciiLower[c]
				if c == 0 {
					break
				}
				h = (h ^ uint64(c)) * fnvPrime
				i++
				continue
			}
			r, size := decodeRune(text[i:])
			if !isWordRune(r, size) {
				break // the next pass of the outer loop skips it
			}
			h = fnvRune(h, unicode.ToLower(r))
			i += size
		}
		if i < len(text) { // a separator ends the word; at the end it may go on
			s.h = h
			s.endWord()
			inWord = false
		}
	}
	s.h, s.inWord = h, inWord
}

// Distance returns the number of bits in which the fingerprints a and b
// differ, 0 to 64: the Hamming distance.
func Distance(a, b uint64) int { return bits.OnesCount64(a ^ b) }

// SimHash keeps the hashes of the last ShingleWords words in w1, w2 and h:
// these constants do not compile if ShingleWords is not 3.
const (
	_ uint = ShingleWords - 3
	_ uint = 3 - ShingleWords
)

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// asciiLower maps an ASCII letter or digit to its lower case and any other
// ASCII byte to 0: one load and one test per byte in the hot loop.
const asciiLower = "" +
	"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" +
	"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x000123456789\x00\x00\x00\x00\x00\x00" +
	"\x00abcdefghijklmnopqrstuvwxyz\x00\x00\x00\x00\x00" +
	"\x00abcdefghijklmnopqrstuvwxyz\x00\x00\x00\x00\x00"

// isWordRune reports whether r, decoded from size bytes, is part of a word:
// a letter or a digit, and not the error of invalid UTF-8.
func isWordRune(r rune, size int) bool {
	return (r != utf8.RuneError || size > 1) && (unicode.IsLetter(r) || unicode.IsDigit(r))
}

// fnvRune continues the FNV-1a hash h over the UTF-8 of r.
func fnvRune(h uint64, r rune) uint64 {
	var buf [utf8.UTFMax]byte
	for _, c := range buf[:utf8.EncodeRune(buf[:], r)] {
		h = (h ^ uint64(c)) * fnvPrime
	}
	return h
}

// shingleHash is the feature of three consecutive words with hashes w1, w2
// and w3, in text order.
func shingleHash(w1, w2, w3 uint64) uint64 {
	return fmix64(bits.RotateLeft64(w1, 42) ^ bits.RotateLeft64(w2, 21) ^ w3)
}

// fmix64 is MurmurHash3's 64-bit finaliser.
func fmix64(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9e63fd41a4f
	h ^= h >> 33
	return h
}

// votes counts, for each of the 64 bits, how many features have it set.
// Features are first counted in bytes: byte k of lanes[j] counts bit 8k+j,
// and the bytes are added into ones before they can overflow, every 255
// features.
type votes struct {
	lanes [8]uint64
	n     int // features counted in lanes, at most 255
	total int // features counted in ones
	ones  [64]int
}

const lowBytes = 0x0101010101010101 // bit 0 of every byte

func (v *votes) add(h uint64) {
	// Unrolled: the compiler does not unroll the loop.
	v.lanes[0] += h & lowBytes
	v.lanes[1] += h >> 1 & lowBytes
	v.lanes[2] += h >> 2 & lowBytes
	v.lanes[3] += h >> 3 & lowBytes
	v.lanes[4] += h >> 4 & lowBytes
	v.lanes[5] += h >> 5 & lowBytes
	v.lanes[6] += h >> 6 & lowBytes
	v.lanes[7] += h >> 7 & lowBytes
	v.n++
	if v.n == 255 {
		v.flush()
	}
}

// flush adds the byte counters into ones and clears them.
func (v *votes) flush() {
	for j, l := range v.lanes {
		for k := range 8 {
			v.ones[8*k+j] += int(l >> (8 * k) & 0xff)
		}
		v.lanes[j] = 0
	}
	v.total += v.n
	v.n = 0
}

// majority returns the fingerprint: bit i set where more than half of the
// features have it.
func (v *votes) majority() uint64 {
	v.flush()
	var sum uint64
	for i, ones := range v.ones {
		if 2*ones > v.total {
			sum |= 1 << i
		}
	}
	return sum
}

// decodeRune is utf8.DecodeRune for either form of text.
func decodeRune[T ~string | ~[]byte](s T) (rune, int) {
	var b [utf8.UTFMax]byte
	return utf8.DecodeRune(b[:copy(b[:], s)])
}
