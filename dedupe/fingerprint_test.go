package dedupe

import (
	"math"
	"testing"
)

// TestURLFingerprintGolden pins URLFingerprint: these values are primary keys
// in every crawl database, so a change of function, seed or byte order must
// fail here, not silently make stored URLs look new. The first two are the
// published XXH64 test vectors (seed 0).
func TestURLFingerprintGolden(t *testing.T) {
	tests := []struct {
		key  string
		want int64
	}{
		{"", -1205034819632174695},                                                        // 0xef46db3751d8e999
		{"abc", 4952883123889572249},                                                      // 0x44bc2cf5ad770999
		{"http://example.com/", -165090377989900879},                                      // 0xfdb57b2d0813b5b1
		{"https://example.com/", -6625428494627397169},                                    // 0xa40dbfe31cfba1cf
		{"https://example.com/a?b=c", 7221325786184677828},                                // 0x64374d8ad4e7f9c4
		{"https://xn--bcher-kva.example/%C3%BCber", 1015017798501715416},                  // 0x0e16114f5864cdd8
		{"https://www.example.org/path/to/page.html?id=42&lang=en", -2266201014983527116}, // 0xe08cd62f0846f534
	}
	for _, tt := range tests {
		if got := URLFingerprint(tt.key); got != tt.want {
			t.Errorf("URLFingerprint(%q) = %d (%#016x), want %d (%#016x)", tt.key, got, uint64(got), tt.want, uint64(tt.want))
		}
	}
}

func TestFromHash(t *testing.T) {
	tests := []struct {
		name string
		h    uint64
		want int64
	}{
		{"zero is none, so it becomes 1", 0, 1},
		{"one", 1, 1},
		{"sign bit kept", 1 << 63, math.MinInt64},
		{"all ones", math.MaxUint64, -1},
		{"max int64", math.MaxInt64, math.MaxInt64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := fromHash(tt.h); got != tt.want {
				t.Errorf("fromHash(%#x) = %d, want %d", tt.h, got, tt.want)
			}
		})
	}
}

func TestURLFingerprintNoAlloc(t *testing.T) {
	key := "https://www.example.org/path/to/page.html?id=42&lang=en"
	if n := testing.AllocsPerRun(100, func() { URLFingerprint(key) }); n != 0 {
		t.Errorf("URLFingerprint allocates %v times, want 0", n)
	}
}

func BenchmarkURLFingerprint(b *testing.B) {
	keys := benchURLs()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		URLFingerprint(keys[i%len(keys)])
		i++
	}
}
