package fetch

import (
	"mime"
	"strings"
	"testing"
)

// mediaTypeRef is mediaType as it was, on mime.ParseMediaType for every
// value: with parseCharset (charsetParam's general path), the reference of
// FuzzMediaType.
func mediaTypeRef(contentType string) string {
	if strings.TrimSpace(contentType) == "" {
		return ""
	}
	if mt, _, _ := mime.ParseMediaType(contentType); mt != "" {
		return mt
	}
	mt, _, _ := strings.Cut(contentType, ";")
	return strings.ToLower(strings.TrimSpace(mt))
}

var mediaTypeSeeds = []string{
	"", " ", "text/html", "Text/HTML", " text/html ", "text/html; charset=utf-8", "text/html;charset=UTF-8",
	"text/html;  charset=ISO-8859-1", `text/html; charset="utf-8"`, "text/html; charset=utf-8; x=y",
	"text/html; x=y; charset=koi8-r", "text/html; charset=", "text/html; charset=utf-8 ", "text/html ; charset=utf-8",
	"text/html; Charset=Shift_JIS", "text/html; charset*=utf-8''x", "texthtml; charset=utf-8", "/html", "text/",
	"text/html/x", "te{t/html; charset=a", "text/html; charset=u{8", "text/html;", "text/html; charset=a\xff",
	"\u00a0text/html", "text/html; charset=\u00e9", "application/xhtml+xml; charset=windows-1251",
}

// TestMediaType: the Content-Type values of the seeds give what
// mime.ParseMediaType gave, and the common ones take the fast path.
func TestMediaType(t *testing.T) {
	for _, ct := range mediaTypeSeeds {
		checkMediaType(t, ct)
	}
	for _, ct := range []string{"text/html", "text/html; charset=utf-8", "text/html;charset=UTF-8"} {
		if _, ok := simpleCharset(ct); !ok {
			t.Errorf("simpleCharset(%q) is not ok", ct)
		}
	}
}

func checkMediaType(t *testing.T, ct string) {
	t.Helper()
	if got, want := mediaType(ct), mediaTypeRef(ct); got != want {
		t.Errorf("mediaType(%q) = %q, want %q", ct, got, want)
	}
	if got, want := charsetParam(ct), parseCharset(ct); got != want {
		t.Errorf("charsetParam(%q) = %q, want %q", ct, got, want)
	}
}

func FuzzMediaType(f *testing.F) {
	for _, ct := range mediaTypeSeeds {
		f.Add(ct)
	}
	f.Fuzz(checkMediaType)
}
