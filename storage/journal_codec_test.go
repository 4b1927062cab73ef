package storage

import (
	"bytes"
	"encoding/binary"
	"encoding/gob"
	"hash/crc32"
	"os"
	"reflect"
	"testing"
	"time"
)

// fill sets every exported field that v reaches to a value that is not its
// zero, different from field to field (n counts them), with two elements in
// each slice; Visit.Ack, which is not stored, is left out.
func fill(v reflect.Value, n *int) {
	*n++
	switch v.Kind() {
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem(), n)
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(time.Unix(1_700_000_000+int64(*n), int64(*n))))
			return
		}
		for i := range v.NumField() {
			if f := v.Type().Field(i); f.IsExported() && f.Type.Kind() != reflect.Chan {
				fill(v.Field(i), n)
			}
		}
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		fill(v.Index(0), n)
		fill(v.Index(1), n)
	case reflect.String:
		v.SetString("s" + string(rune('a'+*n%26)) + string(rune('0'+*n%10)) + "é")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int64:
		v.SetInt(-int64(*n) * 1_000_003)
	case reflect.Uint64:
		v.SetUint(1<<63 + uint64(*n))
	default:
		panic("fill: no case for " + v.Type().String())
	}
}

// TestJournalCodecRoundTrip: every field of a visit comes back from the
// journal's encoding as it went in (a field added to Visit, Page, Link, URL,
// Sitemap or Drop without its line in the codec fails here), and so do the
// empty forms.
func TestJournalCodecRoundTrip(t *testing.T) {
	var full Visit
	n := 0
	fill(reflect.ValueOf(&full).Elem(), &n)
	visits := []Visit{full, {}, {Page: &Page{URL: "https://a.test/"}, Merge: true}}
	b := appendVisits([]byte("prefix"), visits)
	got, err := decodeVisits(b[len("prefix"):])
	if err != nil {
		t.Fatal(err)
	}
	for i := range visits {
		if !reflect.DeepEqual(got[i].Page, visits[i].Page) {
			t.Errorf("visit %d: Page\n%+v\nwant\n%+v", i, got[i].Page, visits[i].Page)
		}
		got[i].Page, visits[i].Page = nil, nil
		if !reflect.DeepEqual(got[i], visits[i]) {
			t.Errorf("visit %d:\n%+v\nwant\n%+v", i, got[i], visits[i])
		}
	}
	// Every cut of the record is an error, never a panic or a shorter list.
	rec := b[len("prefix"):]
	for i := range len(rec) {
		if v, err := decodeVisits(rec[:i]); err == nil {
			t.Fatalf("record cut at %d of %d decoded: %d visits", i, len(rec), len(v))
		}
	}
}

// TestJournalReadsFormat1: a journal left by a build that wrote gob records
// (format 1) is still replayed.
func TestJournalReadsFormat1(t *testing.T) {
	db := openTest(t)
	var stream bytes.Buffer
	enc := gob.NewEncoder(&stream)
	file := []byte(journalMagicGob)
	for n := uint64(1); n <= 2; n++ {
		stream.Reset()
		if err := enc.Encode([]Visit{pageVisit(0, 1, int(n), 2)}); err != nil {
			t.Fatal(err)
		}
		body := append(binary.LittleEndian.AppendUint64(nil, n), stream.Bytes()...)
		file = binary.LittleEndian.AppendUint32(file, uint32(len(body)))
		file = binary.LittleEndian.AppendUint32(file, crc32.Checksum(body, crcTable))
		file = append(file, body...)
	}
	if err := os.WriteFile(db.abs+".visits", file, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := db.LockCrawl(); err != nil {
		t.Fatalf("LockCrawl: %v", err)
	}
	if got := count(t, db, `SELECT count(*) FROM page`); got != 2 {
		t.Errorf("%d pages after replaying a format-1 journal, want 2", got)
	}
}

// FuzzJournalDecode: any record decodes to visits or an error, and what
// decodes encodes back to the same bytes.
func FuzzJournalDecode(f *testing.F) {
	var full Visit
	n := 0
	fill(reflect.ValueOf(&full).Elem(), &n)
	f.Add(appendVisits(nil, []Visit{full}))
	f.Add(appendVisits(nil, []Visit{pageVisit(0, 1, 3, 2)}))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		visits, err := decodeVisits(b)
		if err != nil {
			return
		}
		if again := appendVisits(nil, visits); !bytes.Equal(again, b) {
			// Varints have one canonical form each; a decoder that accepts
			// others is lenient, not wrong: compare the decoded values.
			back, err := decodeVisits(again)
			if err != nil || !reflect.DeepEqual(normal(back), normal(visits)) {
				t.Fatalf("re-encoding changed the visits: %v", err)
			}
		}
	})
}

// normal clears what the encoding does not keep: the location of times.
func normal(vs []Visit) []Visit {
	for i := range vs {
		if p := vs[i].Page; p != nil && !p.FetchedAt.IsZero() {
			p.FetchedAt = p.FetchedAt.UTC()
		}
	}
	return vs
}
