package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// The visit journal's records, format 2 (magic "TRAWLJ2\n"): the visits of
// a record in a binary form of our own, which a crawl writes for every page.
// Format 1 was a gob stream; the profile of a crawl had gob's Encode at 2 %
// of the crawler's CPU, most of it reflection over Visit and Page field by
// field. A journal of format 1, left by an older build, is still read
// (readJournal).
//
// A record is a uvarint count of visits, then each visit: a presence byte
// and its Page, its Links, Discovered, Aliases, Sitemaps and Drops (each a
// uvarint count and the elements), CrawlID and Merge. Integers are varints,
// strings a uvarint length and the bytes, times a presence byte and the Unix
// time in nanoseconds. TestJournalCodecRoundTrip fills every field of a
// Visit, so a field added without its line here fails it.

// appendVisits appends the encoding of visits to b.
func appendVisits(b []byte, visits []Visit) []byte {
	e := encoder{b}
	e.uint(uint64(len(visits)))
	for i := range visits {
		e.visit(&visits[i])
	}
	return e.b
}

// decodeVisits decodes a record's visits.
func decodeVisits(b []byte) ([]Visit, error) {
	d := decoder{b: b}
	n := d.count(1)
	visits := make([]Visit, n)
	for i := range visits {
		d.visit(&visits[i])
	}
	if d.err == nil && len(d.b) > 0 {
		d.err = fmt.Errorf("%d bytes after the last visit", len(d.b))
	}
	if d.err != nil {
		return nil, d.err
	}
	return visits, nil
}

type encoder struct{ b []byte }

func (e *encoder) uint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *encoder) int(v int64)   { e.b = binary.AppendVarint(e.b, v) }
func (e *encoder) str(s string)  { e.uint(uint64(len(s))); e.b = append(e.b, s...) }
func (e *encoder) bool(v bool) {
	if v {
		e.b = append(e.b, 1)
	} else {
		e.b = append(e.b, 0)
	}
}

func (e *encoder) time(t time.Time) {
	e.bool(!t.IsZero())
	if !t.IsZero() {
		e.int(t.UnixNano())
	}
}

func (e *encoder) visit(v *Visit) {
	e.bool(v.Page != nil)
	if v.Page != nil {
		e.page(v.Page)
	}
	e.uint(uint64(len(v.Links)))
	for _, l := range v.Links {
		e.str(l.Dst)
		e.int(l.DstID)
		e.bool(l.Nofollow)
		e.bool(l.Queued)
	}
	for _, us := range [...][]URL{v.Discovered, v.Aliases} {
		e.uint(uint64(len(us)))
		for _, u := range us {
			e.int(u.ID)
			e.str(u.URL)
			e.str(u.Host)
			e.int(int64(u.Depth))
			e.int(u.Seq)
		}
	}
	e.uint(uint64(len(v.Sitemaps)))
	for _, s := range v.Sitemaps {
		e.str(s.Host)
		e.str(s.URL)
	}
	e.uint(uint64(len(v.Drops)))
	for _, d := range v.Drops {
		e.str(d.Reason)
		e.int(int64(d.Count))
		e.str(d.Example)
	}
	e.int(v.CrawlID)
	e.bool(v.Merge)
}

func (e *encoder) page(p *Page) {
	e.int(p.ID)
	e.int(p.Seq)
	e.str(p.URL)
	e.str(p.Host)
	e.str(p.FinalURL)
	e.int(int64(p.Status))
	e.str(p.ContentType)
	e.str(p.Title)
	e.int(int64(p.Depth))
	e.time(p.FetchedAt)
	e.int(int64(p.Duration))
	e.int(p.Size)
	e.bool(p.Truncated)
	e.str(p.ContentHash)
	e.str(p.Canonical)
	e.uint(uint64(len(p.Redirects)))
	for _, r := range p.Redirects {
		e.str(r)
	}
	e.int(int64(p.Attempts))
	e.str(p.Error)
	e.bool(p.Answered)
	e.str(p.ErrorClass)
	e.str(p.Charset)
	e.bool(p.NoIndex)
	e.bool(p.NoFollow)
	e.bool(p.LinksCapped)
	e.uint(p.SimHash)
	e.str(p.ETag)
	e.str(p.LastMod)
	e.str(p.Text)
	e.str(p.Lang)
	e.str(p.WARCFile)
	e.int(p.WARCOffset)
	e.bool(p.Unchanged)
	e.bool(p.Refetch)
}

// decoder reads what encoder wrote; the first error sticks, and from then on
// every read gives zero.
type decoder struct {
	b   []byte
	err error
}

var errJournalShort = errors.New("record ends inside a visit")

func (d *decoder) uint() uint64 { return readVarint(d, binary.Uvarint) }
func (d *decoder) int() int64   { return readVarint(d, binary.Varint) }

// readVarint reads one varint with read (binary.Uvarint or binary.Varint).
func readVarint[T int64 | uint64](d *decoder, read func([]byte) (T, int)) T {
	if d.err != nil {
		return 0
	}
	v, n := read(d.b)
	if n <= 0 {
		d.err = errJournalShort
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a length of elements that take at least size bytes each: one
// the rest of the record cannot hold is an error, not an allocation.
func (d *decoder) count(size int) int {
	n := d.uint()
	if n > uint64(len(d.b)/size) {
		if d.err == nil {
			d.err = fmt.Errorf("count %d past the end of the record", n)
		}
		return 0
	}
	return int(n)
}

func (d *decoder) str() string {
	n := d.count(1)
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *decoder) bool() bool {
	if d.err != nil {
		return false
	}
	if len(d.b) == 0 {
		d.err = errJournalShort
		return false
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v != 0
}

func (d *decoder) time() time.Time {
	if !d.bool() {
		return time.Time{}
	}
	return time.Unix(0, d.int())
}

func (d *decoder) visit(v *Visit) {
	if d.bool() {
		v.Page = new(Page)
		d.page(v.Page)
	}
	if n := d.count(4); n > 0 {
		v.Links = make([]Link, n)
		for i := range v.Links {
			l := &v.Links[i]
			l.Dst, l.DstID, l.Nofollow, l.Queued = d.str(), d.int(), d.bool(), d.bool()
		}
	}
	for _, us := range [...]*[]URL{&v.Discovered, &v.Aliases} {
		if n := d.count(5); n > 0 {
			*us = make([]URL, n)
			for i := range *us {
				u := &(*us)[i]
				u.ID, u.URL, u.Host, u.Depth, u.Seq = d.int(), d.str(), d.str(), int(d.int()), d.int()
			}
		}
	}
	if n := d.count(2); n > 0 {
		v.Sitemaps = make([]Sitemap, n)
		for i := range v.Sitemaps {
			v.Sitemaps[i].Host, v.Sitemaps[i].URL = d.str(), d.str()
		}
	}
	if n := d.count(3); n > 0 {
		v.Drops = make([]Drop, n)
		for i := range v.Drops {
			v.Drops[i].Reason, v.Drops[i].Count, v.Drops[i].Example = d.str(), int(d.int()), d.str()
		}
	}
	v.CrawlID = d.int()
	v.Merge = d.bool()
}

func (d *decoder) page(p *Page) {
	p.ID, p.Seq = d.int(), d.int()
	p.URL, p.Host, p.FinalURL = d.str(), d.str(), d.str()
	p.Status = int(d.int())
	p.ContentType, p.Title = d.str(), d.str()
	p.Depth = int(d.int())
	p.FetchedAt = d.time()
	p.Duration = time.Duration(d.int())
	p.Size = d.int()
	p.Truncated = d.bool()
	p.ContentHash, p.Canonical = d.str(), d.str()
	if n := d.count(1); n > 0 {
		p.Redirects = make([]string, n)
		for i := range p.Redirects {
			p.Redirects[i] = d.str()
		}
	}
	p.Attempts = int(d.int())
	p.Error = d.str()
	p.Answered = d.bool()
	p.ErrorClass, p.Charset = d.str(), d.str()
	p.NoIndex, p.NoFollow, p.LinksCapped = d.bool(), d.bool(), d.bool()
	p.SimHash = d.uint()
	p.ETag, p.LastMod, p.Text, p.Lang, p.WARCFile = d.str(), d.str(), d.str(), d.str(), d.str()
	p.WARCOffset = d.int()
	p.Unchanged, p.Refetch = d.bool(), d.bool()
}
