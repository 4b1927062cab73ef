package warc

import (
	"bytes"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func mustKey(t *testing.T, digest string) digestKey {
	t.Helper()
	d, ok := parseDigest([]byte(digest))
	if !ok {
		t.Fatalf("parseDigest(%q) failed", digest)
	}
	return d.key()
}

func sha1Digest(payload string) string {
	sum := sha1.Sum([]byte(payload))
	return "sha1:" + base32.StdEncoding.EncodeToString(sum[:])
}

// TestParseDigest: a digest decodes to the same value in every encoding gowarc reads, and
// anything else (unknown algorithm, wrong length, a character outside the encoding) does
// not decode.
func TestParseDigest(t *testing.T) {
	sum := sha1.Sum([]byte("payload"))
	want, _ := parseDigest([]byte("sha1:" + base32.StdEncoding.EncodeToString(sum[:])))
	if want.alg != algSHA1 || !bytes.Equal(want.sum[:want.n], sum[:]) {
		t.Fatalf("parseDigest of a SHA-1 in base32 = %v, want its bytes", want)
	}
	b32 := base32.StdEncoding.EncodeToString(sum[:])
	same := map[string]string{
		"base32":           "sha1:" + b32,
		"base32 lowercase": "sha1:" + strings.ToLower(b32),
		"name in capitals": "SHA-1:" + b32,
		"base16":           "sha1:" + hex.EncodeToString(sum[:]),
		"base16 capitals":  "sha1:" + strings.ToUpper(hex.EncodeToString(sum[:])),
		"base64":           "sha1:" + base64.StdEncoding.EncodeToString(sum[:]),
		"base64 unpadded":  "sha1:" + base64.RawStdEncoding.EncodeToString(sum[:]),
	}
	for name, s := range same {
		t.Run(name, func(t *testing.T) {
			if got, ok := parseDigest([]byte(s)); !ok || got != want {
				t.Errorf("parseDigest(%q) = %v, %v; want the digest's bytes", s, got, ok)
			}
		})
	}
	m := md5.Sum([]byte("payload"))
	s256 := sha256.Sum256([]byte("payload"))
	others := []struct {
		name, s string
		alg     uint8
		sum     []byte
	}{
		{"md5 base16", "md5:" + hex.EncodeToString(m[:]), algMD5, m[:]},
		{"md5 base32 padded (as long as base16)", "md5:" + base32.StdEncoding.EncodeToString(m[:]), algMD5, m[:]},
		{"md5 base32 unpadded", "md5:" + strings.TrimRight(base32.StdEncoding.EncodeToString(m[:]), "="), algMD5, m[:]},
		{"sha256 base16", "sha256:" + hex.EncodeToString(s256[:]), algSHA256, s256[:]},
		{"sha-256 base32", "sha-256:" + base32.StdEncoding.EncodeToString(s256[:]), algSHA256, s256[:]},
	}
	for _, c := range others {
		t.Run(c.name, func(t *testing.T) {
			got, ok := parseDigest([]byte(c.s))
			if !ok || got.alg != c.alg || !bytes.Equal(got.sum[:got.n], c.sum) {
				t.Errorf("parseDigest(%q) = %v, %v; want algorithm %d, %x", c.s, got, ok, c.alg, c.sum)
			}
			if got.key() == want.key() {
				t.Errorf("the key of %q is that of a SHA-1", c.s)
			}
		})
	}
	for _, s := range []string{
		"", "sha1", "sha1:", b32, "shax:" + b32, "sha3:" + b32,
		"sha1:" + b32[:31], "sha1:" + b32 + "A", "sha1:1" + b32[1:], // 1 is not base32
		"sha1:" + b32[:31] + "=", "sha1:" + hex.EncodeToString(sum[:])[:39] + "g",
		"md5:" + hex.EncodeToString(sum[:]), // a SHA-1's length under md5
		"sha1:" + b32 + " ",
	} {
		if got, ok := parseDigest([]byte(s)); ok {
			t.Errorf("parseDigest(%q) = %v, want no digest", s, got)
		}
	}
}

// TestSeenTableEvictsOldest: the table keeps its cap, forgets the oldest digest first
// (a hit does not make one younger), and a digest added again keeps its place with its
// new location.
func TestSeenTableEvictsOldest(t *testing.T) {
	tab := newSeenTable(3)
	keys := make([]digestKey, 6)
	for i := range keys {
		keys[i] = mustKey(t, sha1Digest(fmt.Sprint(i)))
	}
	at := func(i int) Location {
		return Location{File: fmt.Sprintf("f-%05d.warc.gz", i%2+1), Offset: int64(100 * i)}
	}
	held := func() []int {
		var in []int
		for i, k := range keys {
			if loc, ok := tab.get(k); ok {
				if loc != at(i) && loc != at(i+10) {
					t.Errorf("digest %d at %v, want %v", i, loc, at(i))
				}
				in = append(in, i)
			}
		}
		return in
	}
	for i := range 3 {
		tab.add(keys[i], at(i))
	}
	tab.get(keys[0]) // a hit: 0 stays the oldest
	tab.add(keys[1], at(11))
	if loc, _ := tab.get(keys[1]); loc != at(11) {
		t.Errorf("digest 1 added again at %v: get = %v", at(11), loc)
	}
	for i, want := range [][]int{{1, 2, 3}, {2, 3, 4}, {3, 4, 5}} {
		tab.add(keys[3+i], at(3+i))
		if got := held(); fmt.Sprint(got) != fmt.Sprint(want) || tab.Len() != 3 {
			t.Errorf("after adding digest %d: holds %v (Len %d), want %v", 3+i, got, tab.Len(), want)
		}
	}
	if len(tab.names) != 2 {
		t.Errorf("%d file names kept for 2 files: %v", len(tab.names), tab.names)
	}
}

// TestSeenTableModel: many adds and lookups on a small table, checked against a map and a
// FIFO list: the slots stay consistent through evictions that shift clusters back and the
// ring's wrap.
func TestSeenTableModel(t *testing.T) {
	const capacity, pool = 37, 300
	tab := newSeenTable(capacity)
	keys := make([]digestKey, pool)
	for i := range keys {
		keys[i] = mustKey(t, sha1Digest(fmt.Sprint(i)))
	}
	model := map[int]Location{}
	var order []int // oldest first
	rng := rand.New(rand.NewPCG(1, 2))
	for step := range 20_000 {
		i := rng.IntN(pool)
		loc := Location{File: fmt.Sprint("f", rng.IntN(5)), Offset: int64(step)}
		tab.add(keys[i], loc)
		if _, ok := model[i]; !ok {
			if len(order) == capacity {
				delete(model, order[0])
				order = order[1:]
			}
			order = append(order, i)
		}
		model[i] = loc
		if tab.Len() != len(model) {
			t.Fatalf("step %d: Len %d, want %d", step, tab.Len(), len(model))
		}
		if step%97 == 0 || step > 19_900 {
			for j, k := range keys {
				got, ok := tab.get(k)
				if want, in := model[j]; ok != in || got != want {
					t.Fatalf("step %d: get(%d) = %v, %v; want %v, %v", step, j, got, ok, want, in)
				}
			}
		}
	}
}

// TestDedupeUndecodableNeverMatches: index lines whose digest does not decode are not
// remembered, so a payload never becomes a revisit through one; the same digest in
// another encoding matches; a line naming a record whose digest is another is not
// followed to it.
func TestDedupeUndecodableNeverMatches(t *testing.T) {
	dir := t.TempDir()
	w := mustOpen(t, Config{Dir: dir, Name: "u"})
	a := mustWrite(t, w, exchange("http://a.test/a", "payload A", 200))
	b := mustWrite(t, w, exchange("http://a.test/b", "payload B", 200))
	_ = w.Close()
	digest := digestOf(t, dir, a)
	b32 := strings.TrimPrefix(digest, "sha1:")
	raw, err := base32.StdEncoding.DecodeString(b32)
	if err != nil {
		t.Fatal(err)
	}
	rest := func(loc Location) string {
		return fmt.Sprintf("\turn:uuid:%s\t2026-01-01T00:00:00Z\t%s\t%d\thttp://a.test/a\n", strings.Repeat("0", 36), loc.File, loc.Offset)
	}
	for _, c := range []struct {
		name, lines string
		remembered  int
		revisit     bool
	}{
		{"cut short", "sha1:" + b32[:31] + rest(a), 0, false},
		{"too long", "sha1:" + b32 + "A" + rest(a), 0, false},
		{"not base32", "sha1:" + b32[:31] + "1" + rest(a), 0, false},
		{"unknown algorithm", "sha9:" + b32 + rest(a), 0, false},
		{"no algorithm", b32 + rest(a), 0, false},
		{"md5 of a SHA-1's length", "md5:" + hex.EncodeToString(raw) + rest(a), 0, false},
		{"the record has another digest", digest + rest(b), 1, false},
		{"base16 of the same digest", "sha1:" + hex.EncodeToString(raw) + rest(a), 1, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := os.WriteFile(indexPath(dir, "u"), []byte(c.lines), 0o644); err != nil {
				t.Fatal(err)
			}
			w := mustOpen(t, Config{Dir: dir, Name: "u"})
			if n := w.seen.Len(); n != c.remembered {
				t.Errorf("%d digests remembered, want %d", n, c.remembered)
			}
			loc := mustWrite(t, w, exchange("http://a.test/again", "payload A", 200))
			_ = w.Close()
			rec := mustRead(t, dir, loc)
			if got := rec.Type == "revisit"; got != c.revisit || (got && !refersTo(rec, mustRead(t, dir, a))) {
				t.Errorf("payload A again: %s record naming %q, want revisit %v (of %v)", rec.Type, rec.Headers["WARC-Refers-To"], c.revisit, a)
			}
		})
	}
}

// TestDedupeOriginalRemoved: a payload whose earlier record cannot be read back (its file
// removed while the crawl runs, after the Writer read it once) is archived again as a
// response, said at debug level, and later copies refer to that new response.
func TestDedupeOriginalRemoved(t *testing.T) {
	dir := t.TempDir()
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	w := mustOpen(t, Config{Dir: dir, Name: "g", MaxSize: 1, Log: log}) // a file per exchange
	first := mustWrite(t, w, exchange("http://a.test/1", "the payload", 200))
	dup := mustWrite(t, w, exchange("http://a.test/dup", "the payload", 200)) // read first's file
	mustWrite(t, w, exchange("http://a.test/other", "another payload", 200))  // first's file is closed
	if rec := mustRead(t, dir, dup); !refersTo(rec, mustRead(t, dir, first)) {
		t.Fatalf("the payload again, its record there: %s record naming %q, want a revisit of %v", rec.Type, rec.Headers["WARC-Refers-To"], first)
	}
	if err := os.Remove(filepath.Join(dir, first.File)); err != nil {
		t.Fatal(err)
	}
	again := mustWrite(t, w, exchange("http://a.test/2", "the payload", 200))
	third := mustWrite(t, w, exchange("http://a.test/3", "the payload", 200))
	// A file replaced by another under its name: the one read before is not read again.
	x := mustWrite(t, w, exchange("http://a.test/x", "payload X", 200))
	mustWrite(t, w, exchange("http://a.test/x-dup", "payload X", 200))
	mustWrite(t, w, exchange("http://a.test/other2", "yet another payload", 200))
	other, err := os.ReadFile(filepath.Join(dir, again.File))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, x.File)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, x.File), other, 0o644); err != nil {
		t.Fatal(err)
	}
	xAgain := mustWrite(t, w, exchange("http://a.test/x-again", "payload X", 200))
	_ = w.Close()
	if rec := mustRead(t, dir, xAgain); rec.Type != "response" {
		t.Errorf("the payload whose file was replaced: %s record %v, want a response", rec.Type, rec.Headers)
	}
	if rec := mustRead(t, dir, again); rec.Type != "response" {
		t.Errorf("the payload whose record was removed: %s record %v, want a response", rec.Type, rec.Headers)
	}
	if !strings.Contains(logs.String(), "level=DEBUG") || !strings.Contains(logs.String(), "cannot be read") ||
		!strings.Contains(logs.String(), first.File) {
		t.Errorf("log %q: want a debug line naming %s", logs.String(), first.File)
	}
	if rec := mustRead(t, dir, third); !refersTo(rec, mustRead(t, dir, again)) {
		t.Errorf("the payload once more: %s record naming %q, want a revisit of %v", rec.Type, rec.Headers["WARC-Refers-To"], again)
	}
}

// FuzzParseDigest: a value that decodes decodes again to the same digest from its bytes
// in base16 and base32 under the algorithm's name; its key is its first bytes.
func FuzzParseDigest(f *testing.F) {
	f.Add("sha1:" + base32.StdEncoding.EncodeToString(make([]byte, 20)))
	f.Add("md5:" + base32.StdEncoding.EncodeToString(make([]byte, 16)))
	f.Add("SHA-256:" + hex.EncodeToString(make([]byte, 32)))
	f.Add("sha512:" + base64.RawStdEncoding.EncodeToString(make([]byte, 64)))
	f.Fuzz(func(t *testing.T, s string) {
		d, ok := parseDigest([]byte(s))
		if !ok {
			return
		}
		name := map[uint8]string{algMD5: "md5", algSHA1: "sha1", algSHA256: "sha256", algSHA512: "sha512"}[d.alg]
		sizes := map[uint8]uint8{algMD5: 16, algSHA1: 20, algSHA256: 32, algSHA512: 64}
		if name == "" || d.n != sizes[d.alg] || !bytes.Equal(d.sum[d.n:], make([]byte, 64-int(d.n))) {
			t.Fatalf("parseDigest(%q) = %+v: bad algorithm, length or tail", s, d)
		}
		for _, again := range []string{name + ":" + hex.EncodeToString(d.sum[:d.n]), name + ":" + base32.StdEncoding.EncodeToString(d.sum[:d.n])} {
			if d2, ok := parseDigest([]byte(again)); !ok || d2 != d {
				t.Fatalf("parseDigest(%q) = %+v, %v; want %+v as from %q", again, d2, ok, d, s)
			}
		}
		if k := d.key(); !bytes.Equal(k.sum[:min(20, int(d.n))], d.sum[:min(20, int(d.n))]) || k.alg != d.alg {
			t.Fatalf("key %+v of %+v", k, d)
		}
	})
}
