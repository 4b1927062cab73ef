package warc

import (
	"bufio"
	"crypto/sha1"
	"encoding/base32"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
)

// BenchmarkWriteExchange: one exchange (a 4 KiB page, distinct payloads: each a response
// record and a line of the digest index) written per op.
//
//	go test -run - -bench WriteExchange -benchtime 3000x ./warc/
func BenchmarkWriteExchange(b *testing.B) {
	w, err := Open(Config{Dir: b.TempDir(), Name: "w"})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	body := strings.Repeat("<p>some words of a page, repeated</p>\n", 110)
	i := 0
	for b.Loop() {
		i++
		if _, err := w.Write(exchange(fmt.Sprintf("http://a.test/p/%d", i), fmt.Sprintf("%d", i)+body, 200)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWriteRevisit: one exchange whose payload was archived before (the same page
// each time), written as a revisit record per op: what a hit in the digest table costs.
//
//	go test -run - -bench WriteRevisit -benchtime 3000x ./warc/
func BenchmarkWriteRevisit(b *testing.B) {
	w, err := Open(Config{Dir: b.TempDir(), Name: "w"})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	body := strings.Repeat("<p>some words of a page, repeated</p>\n", 110)
	if _, err := w.Write(exchange("http://a.test/p/0", body, 200)); err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		i++
		if _, err := w.Write(exchange(fmt.Sprintf("http://a.test/p/%d", i), body, 200)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOpenIndex measures what a resumed crawl's Open costs with a digest index of
// 200,000 lines (the newest 100,000, Dedupe's default, remembered): reading the index's tail
// and filling the table; MiB-kept is the heap the table holds after it (the two GCs a loop
// makes are in ns/op), B/digest the same per digest remembered.
//
//	go test -run - -bench OpenIndex -benchmem ./warc/
func BenchmarkOpenIndex(b *testing.B) {
	dir := b.TempDir()
	w, err := Open(Config{Dir: dir, Name: "b"})
	if err != nil {
		b.Fatal(err)
	}
	loc, err := w.Write(exchange("http://a.test/", "body", 200))
	if err != nil {
		b.Fatal(err)
	}
	_ = w.Close()
	f, err := os.OpenFile(indexPath(dir, "b"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	bw := bufio.NewWriter(f)
	for i := range 200_000 {
		sum := sha1.Sum(fmt.Appendf(nil, "payload %d", i))
		fmt.Fprintf(bw, "sha1:%s\turn:uuid:%036d\t2026-12-06T12:00:00Z\t%s\t%d\thttp://host%d.example.org/path/to/page/%d\n",
			base32.StdEncoding.EncodeToString(sum[:]), i, loc.File, loc.Offset, i%97, i)
	}
	if err := bw.Flush(); err != nil {
		b.Fatal(err)
	}
	_ = f.Close()
	b.ReportAllocs()
	var before, after runtime.MemStats
	for b.Loop() {
		runtime.GC()
		runtime.ReadMemStats(&before)
		w, err := Open(Config{Dir: dir, Name: "b"})
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		if w.seen.Len() != 100_000 {
			b.Fatalf("%d digests remembered, want 100000", w.seen.Len())
		}
		_ = w.Close()
	}
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "MiB-kept")
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/100_000, "B/digest")
}

// BenchmarkReadBack: what a hit in the digest table reads: the header of an earlier
// response record (a 4 KiB or a 32 KiB page), through the Writer's headerReader.
//
//	go test -run - -bench ReadBack ./warc/
func BenchmarkReadBack(b *testing.B) {
	for _, size := range []int{4 << 10, 32 << 10} {
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			dir := b.TempDir()
			w, err := Open(Config{Dir: dir, Name: "r"})
			if err != nil {
				b.Fatal(err)
			}
			body := make([]byte, size)
			for i := range body {
				body[i] = "abcdefghij<>/ \n"[(i*7919)%15] // compresses as a page would, roughly
			}
			loc, err := w.Write(exchange("http://a.test/page", string(body), 200))
			if err != nil {
				b.Fatal(err)
			}
			defer w.Close()
			var r headerReader
			defer r.Close()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := r.refOf(dir, loc, "p"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
