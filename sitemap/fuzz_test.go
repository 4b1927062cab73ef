package sitemap

import (
	"bytes"
	"encoding/xml"
	"net/url"
	"strings"
	"testing"
	"time"
)

// FuzzParse checks that every entry Parse delivers is an absolute http(s) URL with a
// host, within the caps, and that writing the entries of a complete file out again (as
// XML or text, as they came) and parsing that gives the same entries. More seeds (gzip,
// index, text, malformed, DTD) are in testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	f.Add([]byte(realURLSet))
	f.Add([]byte(index))
	f.Add([]byte("http://a.test/1\r\nhttps://a.test/2\n"))
	f.Add([]byte(`<urlset><url><loc>http://a.test/&amp;</loc><lastmod>2024-01-02T03:04:05.6+07:00</lastmod></url></urlset>`))
	lim := Limits{MaxBytes: 1 << 20, MaxURLs: 1000, MaxLocLen: 512}
	f.Fuzz(func(t *testing.T, data []byte) {
		var got []Entry
		st, err := Parse(bytes.NewReader(data), lim, func(e Entry) error {
			got = append(got, e)
			return nil
		})
		if len(got) != st.Entries || len(got)+st.Skipped > lim.MaxURLs {
			t.Fatalf("%d entries, stats %+v", len(got), st)
		}
		for _, e := range got {
			u, perr := url.Parse(e.Loc)
			if perr != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
				t.Fatalf("delivered %q: not an absolute http(s) url with a host (%v)", e.Loc, perr)
			}
			if e.Kind != st.Kind || e.Kind == Unknown || len(e.Loc) > lim.MaxLocLen || e.Loc != strings.TrimSpace(e.Loc) {
				t.Fatalf("delivered %+v with stats %+v", e, st)
			}
			if !e.LastMod.IsZero() && e.LastMod.Location() != time.UTC {
				t.Fatalf("LastMod %v not in UTC", e.LastMod)
			}
		}
		if err != nil {
			return
		}
		again, ast, err := roundTrip(st.Kind, got, lim)
		if err != nil {
			t.Fatalf("parse of re-serialised %v: %v", st.Kind, err)
		}
		if ast.Kind != st.Kind || ast.Skipped != 0 || len(again) != len(got) {
			t.Fatalf("re-serialised: %d entries, stats %+v; first parse %d entries, %+v", len(again), ast, len(got), st)
		}
		for i := range got {
			if again[i].Loc != got[i].Loc || !again[i].LastMod.Equal(got[i].LastMod) {
				t.Fatalf("entry %d re-parsed as %+v, was %+v", i, again[i], got[i])
			}
		}
	})
}

// roundTrip writes entries as a file of kind and parses it.
func roundTrip(kind Kind, entries []Entry, lim Limits) ([]Entry, Stats, error) {
	var b bytes.Buffer
	root, item := "urlset", "url"
	if kind == Index {
		root, item = "sitemapindex", "sitemap"
	}
	if kind != Text {
		b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n<" + root + ` xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">` + "\n")
	}
	for _, e := range entries {
		if kind == Text {
			b.WriteString(e.Loc + "\n")
			continue
		}
		b.WriteString("<" + item + "><loc>")
		_ = xml.EscapeText(&b, []byte(e.Loc))
		b.WriteString("</loc>")
		if !e.LastMod.IsZero() {
			b.WriteString("<lastmod>" + e.LastMod.Format(time.RFC3339Nano) + "</lastmod>")
		}
		b.WriteString("</" + item + ">\n")
	}
	if kind != Text {
		b.WriteString("</" + root + ">\n")
	}
	var got []Entry
	st, err := Parse(&b, lim, func(e Entry) error {
		got = append(got, e)
		return nil
	})
	return got, st, err
}
