package storage

import "testing"

// TestURLIDGolden pins URLID: its values are keys in every crawl file, and
// dedupe.Fingerprint must agree with it (its test pins the same three
// values). They are xxHash64 with seed 0, as signed integers; "" is xxHash64's
// well-known 0xef46db3751d8e999.
func TestURLIDGolden(t *testing.T) {
	tests := []struct {
		url  string
		want int64
	}{
		{"https://example.com/", -6625428494627397169}, // 0xa40dbfe31cfba1cf
		{"http://a.test/p?q=1", 8741070364845295733},   // 0x794e852f454c4875
		{"", -1205034819632174695},                     // 0xef46db3751d8e999
	}
	db := openTest(t)
	for _, tt := range tests {
		if got := URLID(tt.url); got != tt.want {
			t.Errorf("URLID(%q) = %d, want %d", tt.url, got, tt.want)
		}
		// The migration keys old rows with the SQL function: it must agree.
		var got int64
		if err := db.rw.QueryRowContext(t.Context(), `SELECT trawl_fingerprint(?)`, tt.url).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != tt.want {
			t.Errorf("trawl_fingerprint(%q) = %d, want %d", tt.url, got, tt.want)
		}
	}
}

func TestIDOf(t *testing.T) {
	const u = "https://example.com/"
	tests := []struct {
		name string
		id   int64
		want int64
	}{
		{"not given", 0, URLID(u)},
		{"given", 42, 42}, // the caller's fingerprint is trusted, not recomputed
		{"given negative", -7, -7},
	}
	for _, tt := range tests {
		if got := idOf(tt.id, u); got != tt.want {
			t.Errorf("%s: idOf(%d, %q) = %d, want %d", tt.name, tt.id, u, got, tt.want)
		}
	}
}
