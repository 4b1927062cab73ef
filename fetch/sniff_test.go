package fetch

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestFetchSniffsBinaryDeclaredHTML: a body sent as text/html whose first bytes are binary
// gets the type it sniffs as, so that callers do not parse it; real HTML, in any of its
// spellings, stays HTML, and a body declared as something else keeps its declared type.
func TestFetchSniffsBinaryDeclaredHTML(t *testing.T) {
	const link = `<a href="/decoy">a link</a>`
	tests := []struct {
		name, ct, body, want string
	}{
		{"png", "text/html", "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01" + link, "image/png"},
		{"gif", "text/html; charset=utf-8", "GIF89a\x01\x00\x01\x00\x80\x00\x00" + link, "image/gif"},
		{"jpeg", "text/html", "\xff\xd8\xff\xe0\x00\x10JFIF\x00" + link, "image/jpeg"},
		{"pdf", "text/html", "%PDF-1.7\n%\xe2\xe3\xcf\xd3\n" + link, "application/pdf"},
		{"zip", "text/html", "PK\x03\x04\x14\x00\x00\x00\x08\x00" + link, "application/zip"},
		{"gzip", "text/html", "\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03" + link, "application/x-gzip"},
		{"webp", "text/html", "RIFF\x24\x00\x00\x00WEBPVP8 " + link, "image/webp"},
		{"xhtml png", "application/xhtml+xml", "\x89PNG\r\n\x1a\n\x00\x00" + link, "image/png"},
		{"nul after html", "text/html", "<!DOCTYPE html><html><body>" + link + "\x00\x00\x00", "application/octet-stream"},
		{"nul past 512 bytes", "text/html", "<html><body>" + strings.Repeat("x", 1000) + "\x00" + link, "application/octet-stream"},
		{"control bytes", "text/html", "<html><body>\x01\x02\x03\x1c" + link, "application/octet-stream"},
		// Text: stays as declared.
		{"html", "text/html; charset=utf-8", "<!DOCTYPE html><html><body>" + link + "\t\r\n\f</body></html>", "text/html"},
		{"html leading space", "text/html", "  \n\t<html>" + link, "text/html"},
		{"xhtml", "application/xhtml+xml", `<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml">` + link, "application/xhtml+xml"},
		{"escape byte", "text/html", "<html><body>\x1b[0m" + link, "text/html"},
		{"nul past the resource header", "text/html", "<html><body>" + strings.Repeat("x", sniffLen) + "\x00" + link, "text/html"},
		{"utf-16le bom", "text/html", "\xff\xfe<\x00h\x00t\x00m\x00l\x00>\x00", "text/html"},
		{"utf-16be bom", "text/html", "\xfe\xff\x00<\x00h\x00t\x00m\x00l\x00>", "text/html"},
		{"utf-16 charset", "text/html; charset=UTF-16LE", "<\x00h\x00t\x00m\x00l\x00>\x00", "text/html"},
		{"binary declared plain", "text/plain", "\x89PNG\r\n\x1a\n\x00\x00", "text/plain"},
		{"html declared png", "image/png", "<html><body>" + link, "image/png"},
	}
	bodies := map[string]string{}
	types := map[string]string{}
	for _, tt := range tests {
		bodies["/"+tt.name] = tt.body
		types["/"+tt.name] = tt.ct
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", types[r.URL.Path])
		_, _ = w.Write([]byte(bodies[r.URL.Path]))
	}))
	defer srv.Close()
	c := newTestClient(t, Config{IgnoreRobots: true}, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := mustURL(t, srv.URL+"/"+strings.ReplaceAll(tt.name, " ", "%20"))
			res, err := c.Fetch(t.Context(), Request{URL: u})
			if err != nil {
				t.Fatalf("Fetch: %v", err)
			}
			if res.ContentType != tt.want {
				t.Errorf("ContentType = %q, want %q", res.ContentType, tt.want)
			}
			if string(res.Body) != tt.body {
				t.Errorf("Body = %q, want the body as sent", res.Body)
			}
		})
	}
}
