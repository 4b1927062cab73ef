package testserver

import (
	"net/http"
	"strings"
)

// PathBinaryAsHTMLPrefix is the prefix of /hostile/binary-as-html/<kind>, served when
// SiteConfig.Hostile is set (not linked from the root): binary bodies of several kinds, each
// sent as Content-Type: text/html and each holding, among its bytes, an <a href> to
// PathDecoyPrefix + "binary-" + kind that a crawler must not follow. BinaryAsHTML lists them.
const PathBinaryAsHTMLPrefix = "/hostile/binary-as-html/"

// BinaryKind is one entry of BinaryAsHTML.
type BinaryKind struct {
	Path    string // PathBinaryAsHTMLPrefix + the kind, e.g. "/hostile/binary-as-html/png"
	Sniffed string // the media type its bytes sniff as (WHATWG MIME Sniffing)
	Decoy   string // the path its bytes link to, below PathDecoyPrefix
}

// binaryBodies maps a kind to its sniffed media type and its bytes before the decoy link.
var binaryBodies = map[string]struct{ sniffed, head string }{
	"png":  {"image/png", "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"},
	"gif":  {"image/gif", "GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04"},
	"jpeg": {"image/jpeg", "\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"},
	"pdf":  {"application/pdf", "%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n"},
	"zip":  {"application/zip", "PK\x03\x04\x14\x00\x00\x00\x08\x00\x00\x00!\x00index.html"},
	"gzip": {"application/x-gzip", "\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03"},
	// No signature: an HTML-looking body with a NUL byte, then one with other control bytes.
	"nul":     {"application/octet-stream", "<!DOCTYPE html><html><head><title>NUL</title></head><body>\x00\x00\x00"},
	"control": {"application/octet-stream", "<html><body>\x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0e\x1a\x1c\x1f"},
}

// BinaryAsHTML returns the binary bodies served under PathBinaryAsHTMLPrefix, in a fixed
// order. Each call returns a new slice.
func BinaryAsHTML() []BinaryKind {
	var out []BinaryKind
	for _, k := range []string{"png", "gif", "jpeg", "pdf", "zip", "gzip", "nul", "control"} {
		out = append(out, BinaryKind{Path: PathBinaryAsHTMLPrefix + k, Sniffed: binaryBodies[k].sniffed, Decoy: PathDecoyPrefix + "binary-" + k})
	}
	return out
}

// serveBinaryAsHTML serves PathBinaryAsHTMLPrefix + kind and reports whether kind is one.
func serveBinaryAsHTML(w http.ResponseWriter, kind string) (int, bool) {
	b, ok := binaryBodies[kind]
	if !ok {
		return 0, false
	}
	// The tail has no control byte: what makes each body binary is in its head alone.
	body := b.head + "<a href=\"" + PathDecoyPrefix + "binary-" + kind + "\">a link among binary bytes</a>" +
		strings.Repeat("\x7f\x80\xfe", 64)
	return writeHTML(w, http.StatusOK, "text/html", []byte(body)), true
}
