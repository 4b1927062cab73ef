package dedupe

import (
	"hash/fnv"
	"math/bits"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// randomWords returns n words drawn from a vocabulary of 300, from a fixed
// seed: the same text on every run and every platform.
func randomWords(seed uint64, n int) []string {
	r := rand.New(rand.NewPCG(seed, 1))
	vocab := make([]string, 300)
	for i := range vocab {
		b := make([]byte, 2+r.IntN(8))
		for j := range b {
			b[j] = byte('a' + r.IntN(26))
		}
		vocab[i] = string(b)
	}
	words := make([]string, n)
	for i := range words {
		words[i] = vocab[r.IntN(len(vocab))]
	}
	return words
}

// wordHash is the documented hash of one word, computed with the standard
// library's FNV-1a and lower-casing.
func wordHash(word string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(strings.ToLower(word)))
	return h.Sum64()
}

// featureHash is the documented hash of one shingle of three words.
func featureHash(w1, w2, w3 uint64) uint64 {
	return fmix64(bits.RotateLeft64(w1, 42) ^ bits.RotateLeft64(w2, 21) ^ w3)
}

// refSimHash computes SimHash's documented definition independently and
// slowly: words with strings.FieldsFunc, which decodes invalid UTF-8 as a
// U+FFFD that is neither letter nor digit; one vote per feature and bit.
func refSimHash(text string) uint64 {
	words := strings.FieldsFunc(text, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
	if len(words) == 0 {
		return 0
	}
	hashes := make([]uint64, 0, len(words)+2)
	for len(hashes)+len(words) < ShingleWords {
		hashes = append(hashes, 0) // padding of a short text
	}
	for _, w := range words {
		hashes = append(hashes, wordHash(w))
	}
	var features []uint64
	for i := ShingleWords; i <= len(hashes); i++ {
		features = append(features, featureHash(hashes[i-3], hashes[i-2], hashes[i-1]))
	}
	var sum uint64
	for bit := range 64 {
		ones := 0
		for _, f := range features {
			if f&(1<<bit) != 0 {
				ones++
			}
		}
		if ones > len(features)-ones {
			sum |= 1 << bit
		}
	}
	return sum
}

// TestSimHashSpec checks SimHash against its documented definition on texts
// of one and two shingles, where the majority vote is easy to do by hand.
func TestSimHashSpec(t *testing.T) {
	w := wordHash
	tests := []struct {
		name string
		text string
		want uint64
	}{
		{"empty", "", 0},
		{"no words", " \t\n.,;!? -- 🙂 \xff \u0301 \ufffd", 0},
		{"one word", "hello", featureHash(0, 0, w("hello"))},
		{"two words", "Hello, WORLD!", featureHash(0, w("hello"), w("world"))},
		{"three words", "a-b\tc", featureHash(w("a"), w("b"), w("c"))},
		{"order matters", "c b a", featureHash(w("c"), w("b"), w("a"))},
		{"invalid utf8 separates", "a\xffb\xe2\x82c", featureHash(w("a"), w("b"), w("c"))},
		{"lower-cased to ascii", "\u212a\u0130", featureHash(0, 0, w("ki"))}, // Kelvin sign, dotted capital I
		{"non-ascii digits", "٣٤ ５", featureHash(0, w("٣٤"), w("５"))},
		// Two shingles: a bit is set where both have it (one against one is
		// not a majority).
		{"four words", "Straße ÜBER 42 façade", featureHash(w("straße"), w("über"), w("42")) & featureHash(w("über"), w("42"), w("façade"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := SimHash(tt.text); got != tt.want {
				t.Errorf("SimHash(%q) = %#016x, want %#016x", tt.text, got, tt.want)
			}
		})
	}
}

// textPieces are the parts of the random texts of TestSimHashReference:
// words in several scripts and cases, separators, and invalid UTF-8.
var textPieces = []string{
	"the", "Quick", "BROWN", "fox", "42", "x", "Z9", "a1b2",
	"façade", "Straße", "ÜBER", "naïve", "ÉCOLE", "ǅungla", "İstanbul", "\u212aelvin",
	"ДОБРО", "пожаловать", "Ёж", "東京", "日本語のテキスト", "한국어", "٣٤٥", "ｆｕｌｌ", "Ωmega",
	" ", " ", " ", "  ", "\t", "\n", ", ", ". ", "-", "'", "_", "\x00", "🙂", "\u0301", "\u00a0", "\ufffd", "—",
	"\xff", "\x80", "\xe2\x82", "\xed\xa0\x80", "\xf0\x9f", "\xc3",
}

// randomText joins n random pieces from textPieces, seeded: a separator
// follows most words, so that some words run into each other.
func randomText(r *rand.Rand, n int) string {
	var b strings.Builder
	for range n {
		b.WriteString(textPieces[r.IntN(len(textPieces))])
		if r.IntN(4) != 0 {
			b.WriteByte(" .,\n"[r.IntN(4)])
		}
	}
	return b.String()
}

// TestSimHashReference compares SimHash with refSimHash on texts of every
// length from 0 to over 255 features (where the byte counters are flushed),
// and on long ones.
func TestSimHashReference(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var texts []string
	for n := range 300 {
		texts = append(texts, randomText(r, n))
	}
	for range 20 {
		texts = append(texts, randomText(r, 300+r.IntN(3000)))
	}
	for n := range 600 { // ASCII words only: exactly n-2 features around 255 and 510
		if n <= 3 || n >= 250 && n <= 262 || n >= 505 {
			texts = append(texts, strings.Join(randomWords(uint64(n), n), " "))
		}
	}
	bytes := make([]byte, 2000)
	for range 50 { // random bytes, mostly invalid UTF-8
		for i := range bytes {
			bytes[i] = byte(r.Uint32())
		}
		texts = append(texts, string(bytes[:r.IntN(len(bytes))]))
	}
	texts = append(texts,
		strings.Repeat("a ", 1000), strings.Repeat("Ab ", 256), strings.Repeat("\xff", 300),
		"Trawl is a polite, resumable web crawler. Über-long pages: 42 façades, 7 straße; naïve café ДОБРО пожаловать 東京")
	for _, text := range texts {
		if got, want := SimHash(text), refSimHash(text); got != want {
			t.Errorf("SimHash(%.80q) (%d bytes) = %#016x, want %#016x", text, len(text), got, want)
		}
	}
}

func FuzzSimHash(f *testing.F) {
	f.Add("")
	f.Add("Hello, WORLD! the quick brown fox")
	f.Add("Straße ÜBER 42 façade ДОБРО 東京 \u212a \xff\xe2\x82x")
	f.Fuzz(func(t *testing.T, text string) {
		if got, want := SimHash(text), refSimHash(text); got != want {
			t.Errorf("SimHash(%q) = %#016x, want %#016x", text, got, want)
		}
		// In pieces: split at every rune boundary of a short prefix, with
		// and without a Break between the pieces.
		for i := range text {
			if i > 64 {
				break
			}
			a, b := text[:i], text[i:]
			var h SimHasher
			h.Write([]byte(a))
			h.Write([]byte(b))
			if got, want := h.Sum64(), SimHash(text); got != want {
				t.Errorf("Write(%q), Write(%q) = %#016x, want SimHash %#016x", a, b, got, want)
			}
			h.Reset()
			h.Write([]byte(a))
			h.Break()
			if mid := h.Sum64(); mid != SimHash(a) {
				t.Errorf("Sum64 after Write(%q) = %#016x, want %#016x", a, mid, SimHash(a))
			}
			h.Write([]byte(b))
			if got, want := h.Sum64(), SimHash(a+" "+b); got != want {
				t.Errorf("Write(%q), Break, Write(%q) = %#016x, want %#016x", a, b, got, want)
			}
		}
	})
}

// TestASCIILower checks SimHash's ASCII table against the Unicode functions
// that define words.
func TestASCIILower(t *testing.T) {
	for c := range rune(utf8.RuneSelf) {
		want := byte(0)
		if unicode.IsLetter(c) || unicode.IsDigit(c) {
			want = byte(unicode.ToLower(c))
		}
		if got := asciiLower[c]; got != want {
			t.Errorf("asciiLower[%q] = %q, want %q", c, got, want)
		}
	}
}

// TestSimHashGolden pins values that are stored in databases: if this test
// fails, old fingerprints no longer compare with new ones.
func TestSimHashGolden(t *testing.T) {
	tests := []struct {
		text string
		want uint64
	}{
		{"the quick brown fox jumps over the lazy dog", 0x52179731b1561452},
		{"Trawl is a polite, resumable web crawler. Über-long pages: 42 façades, 7 straße; naïve café ДОБРО пожаловать 東京", 0x94a268a39f366771},
		{strings.Join(randomWords(1, 1000), " "), 0x02a1ed2ac1ae78c0},
	}
	for _, tt := range tests {
		if got := SimHash(tt.text); got != tt.want {
			t.Errorf("SimHash(%.40q...) = %#016x, want %#016x", tt.text, got, tt.want)
		}
	}
}

func TestSimHashSimilarity(t *testing.T) {
	words := randomWords(1, 500)
	text := strings.Join(words, " ")
	base := SimHash(text)

	for _, same := range []string{text, strings.ToUpper(text), strings.ReplaceAll(text, " ", ",\n  ")} {
		if d := Distance(base, SimHash(same)); d != 0 {
			t.Errorf("the same words with other case or separators are %d bits away, want 0", d)
		}
	}

	// One word changed, at 100 places in turn. A bit flips only where the
	// vote was within the 6 changed shingles of a tie, so most distances are
	// 1 to 3; a few are more.
	var dists []int
	for i := 0; i < len(words); i += 5 {
		changed := slices.Clone(words)
		changed[i] = "zzyzx"
		dists = append(dists, Distance(base, SimHash(strings.Join(changed, " "))))
	}
	slices.Sort(dists)
	within3 := 0
	for _, d := range dists {
		if d <= 3 {
			within3++
		}
	}
	if within3 < len(dists)*3/4 || dists[len(dists)-1] > 8 {
		t.Errorf("one word changed in 500: distances %v, want 3/4 of them <= 3 and all <= 8", dists)
	}
	t.Logf("one word changed in 500: distances %v", dists)

	for seed := uint64(2); seed < 12; seed++ {
		other := SimHash(strings.Join(randomWords(seed, 500), " "))
		if d := Distance(base, other); d < 20 {
			t.Errorf("unrelated text (seed %d) is %d bits away, want >= 20", seed, d)
		}
	}
}

func TestDistance(t *testing.T) {
	tests := []struct {
		a, b uint64
		want int
	}{
		{0, 0, 0},
		{0, ^uint64(0), 64},
		{0b1011, 0b0001, 2},
		{1 << 63, 1, 2},
	}
	for _, tt := range tests {
		if got := Distance(tt.a, tt.b); got != tt.want {
			t.Errorf("Distance(%#x, %#x) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestSimHashNoAlloc(t *testing.T) {
	text := strings.Join(randomWords(1, 200), " ") + " Über façade"
	if allocs := testing.AllocsPerRun(20, func() { SimHash(text) }); allocs != 0 {
		t.Errorf("SimHash allocates %v times, want 0", allocs)
	}
}

func BenchmarkSimHash(b *testing.B) {
	text := strings.Join(randomWords(1, 1000), " ")
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		SimHash(text)
	}
}

// BenchmarkSimHashNonASCII measures the Unicode path: Cyrillic, accented
// Latin and CJK words.
func BenchmarkSimHashNonASCII(b *testing.B) {
	words := randomWords(1, 1000)
	for i, w := range words {
		switch i % 4 {
		case 0:
			words[i] = strings.Map(func(r rune) rune { return r - 'a' + 'А' }, w) // Cyrillic capitals
		case 1:
			words[i] = w + "é"
		case 2:
			words[i] = strings.Map(func(r rune) rune { return r - 'a' + '東' }, w)
		}
	}
	text := strings.Join(words, " ")
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		SimHash(text)
	}
}
