package h1

import (
	"bufio"
	"bytes"
	"net/http"
	"net/textproto"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/net/http/httpguts"
)

func hasCTL(s string) bool {
	for i := range len(s) {
		if s[i] < ' ' || s[i] == 0x7f {
			return true
		}
	}
	return false
}

// FuzzAppendRequest checks appendRequest against net/http's rules and its
// own request writer: what it refuses, net/http refuses; what it writes,
// net/http's parser reads back as the request that was given, with the same
// header as net/http's writer gives.
//
// pathQuery is parsed as part of a URL (so it cannot carry control bytes);
// rawQuery, when not empty, is set on the URL as is, as a caller building a
// URL by hand does; host, when not empty, is req.Host.
func FuzzAppendRequest(f *testing.F) {
	f.Add("/a/b?q=1", "", "X-Test", "value", "")
	f.Add("/", "", "User-Agent", "", "")
	f.Add("/", "", "User-Agent", "probe/1", "example.org:8080")
	f.Add("/p%2Fq/%E2%82%AC", "k=%26", "x-lower", " \tpadded\t ", "")
	f.Add("/", "", "Bad Name", "v", "")
	f.Add("/", "", "X-A", "a\r\nX-Injected: 1", "")
	f.Add("/", "", "Host", "other", "h\r\nX: y")
	f.Add("/?", "", "Content-Length", "12", "")
	f.Add("/", "", "Pragma", "no-cache", "")
	f.Add("/", "a=1 HTTP/1.1\r\nX-Injected: yes", "X-A", "v", "")
	f.Add("/", "", "X-Obs", "caf\xe9", "[::1]:80")
	f.Fuzz(func(t *testing.T, pathQuery, rawQuery, name, value, host string) {
		if !strings.HasPrefix(pathQuery, "/") {
			pathQuery = "/" + pathQuery
		}
		req, err := http.NewRequest("GET", "http://example.com"+pathQuery, nil)
		if err != nil {
			t.Skip()
		}
		if rawQuery != "" {
			req.URL.RawQuery = rawQuery
		}
		req.Host = host
		req.Header = http.Header{name: {value}}
		h := host
		if h == "" {
			h = req.URL.Host
		}
		ruri := req.URL.RequestURI()

		out, err := appendRequest([]byte("junk before"), req)
		if !bytes.HasPrefix(out, []byte("junk before")) {
			t.Fatalf("appendRequest did not append: %q", out)
		}
		out = out[len("junk before"):]
		if err != nil {
			if !httpguts.ValidHeaderFieldName(name) || !httpguts.ValidHeaderFieldValue(value) ||
				!httpguts.ValidHostHeader(h) || !isASCII(h) || hasCTL(ruri) {
				return // net/http refuses it too (a non-ASCII Host it would send as punycode)
			}
			t.Fatalf("appendRequest refused a request net/http sends: %v", err)
		}
		if hasCTL(ruri) {
			t.Fatalf("control bytes in the request URI %q were written: %q", ruri, out)
		}
		special := map[string]bool{"Host": true, "Content-Length": true, "Transfer-Encoding": true, "Trailer": true}
		if !httpguts.ValidHeaderFieldName(name) {
			t.Fatalf("invalid header name %q written", name)
		}
		if !special[name] && !(name == "User-Agent" && value == "") && !httpguts.ValidHeaderFieldValue(value) {
			t.Fatalf("invalid header value %q written", value)
		}
		if !httpguts.ValidHostHeader(h) {
			t.Fatalf("invalid Host %q written", h)
		}

		pr, perr := http.ReadRequest(bufio.NewReader(bytes.NewReader(out)))
		var std bytes.Buffer
		werr := req.Write(&std)
		var sr *http.Request
		var serr error
		if werr == nil {
			sr, serr = http.ReadRequest(bufio.NewReader(&std))
		}
		if perr != nil {
			if werr != nil || serr != nil {
				t.Skip() // net/http's own request does not parse either (a space in the query, say)
			}
			t.Fatalf("written request does not parse: %v\n%q", perr, out)
		}
		if pr.Method != "GET" || pr.RequestURI != ruri || pr.Host != h {
			t.Fatalf("parsed %s %q Host %q, want GET %q Host %q\n%q", pr.Method, pr.RequestURI, pr.Host, ruri, h, out)
		}
		if sr != nil && !reflect.DeepEqual(pr.Header, sr.Header) {
			t.Fatalf("header %v, net/http's %v\nh1: %q\nnet/http: %q", pr.Header, sr.Header, out, std.Bytes())
		}
		if sr != nil && sr.RequestURI != pr.RequestURI {
			t.Fatalf("request URI %q, net/http's %q", pr.RequestURI, sr.RequestURI)
		}
		// An ordinary header: its value, trimmed as net/http trims, and
		// nothing else but the User-Agent.
		if name == textproto.CanonicalMIMEHeaderKey(name) && !special[name] && name != "User-Agent" && name != "Pragma" {
			want := strings.Trim(value, " \t")
			if got := pr.Header[name]; len(got) != 1 || got[0] != want {
				t.Fatalf("header %q: %q, want [%q]\n%q", name, got, want, out)
			}
			for k := range pr.Header {
				if k != name && k != "User-Agent" {
					t.Fatalf("unexpected header %q\n%q", k, out)
				}
			}
			if got := pr.Header["User-Agent"]; len(got) != 1 || got[0] != "Go-http-client/1.1" {
				t.Fatalf("User-Agent %q, want the default\n%q", got, out)
			}
		}
		if name == "User-Agent" {
			if value == "" && pr.Header["User-Agent"] != nil {
				t.Fatalf("empty User-Agent: sent %q", pr.Header["User-Agent"])
			}
			if want := strings.Trim(value, " \t"); value != "" && !reflect.DeepEqual(pr.Header["User-Agent"], []string{want}) {
				t.Fatalf("User-Agent %q, want [%q]", pr.Header["User-Agent"], want)
			}
		}
	})
}
