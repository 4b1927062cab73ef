package h1

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// appendRequest appends req's request line and header to dst, as net/http
// writes them, and checks the header as http.Transport does.
func appendRequest(dst []byte, req *http.Request) ([]byte, error) {
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	if !httpguts.ValidHostHeader(host) || !isASCII(host) {
		return dst, fmt.Errorf("h1: invalid Host header %q", host)
	}
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	ruri := req.URL.RequestURI()
	for i := range len(ruri) {
		if b := ruri[i]; b < ' ' || b == 0x7f {
			return dst, errors.New("net/http: can't write control character in Request.URL")
		}
	}
	dst = append(dst, method...)
	dst = append(dst, ' ')
	dst = append(dst, ruri...)
	dst = append(dst, " HTTP/1.1\r\nHost: "...)
	dst = append(dst, host...)
	dst = append(dst, "\r\n"...)
	if _, ok := req.Header["User-Agent"]; !ok {
		dst = append(dst, "User-Agent: Go-http-client/1.1\r\n"...)
	}
	for k, vs := range req.Header {
		if !httpguts.ValidHeaderFieldName(k) {
			return dst, fmt.Errorf("net/http: invalid header field name %q", k)
		}
		for _, v := range vs {
			if !httpguts.ValidHeaderFieldValue(v) {
				return dst, fmt.Errorf("net/http: invalid header field value for %q", k)
			}
		}
		switch k {
		case "Host", "Content-Length", "Transfer-Encoding", "Trailer":
			continue // written from the request, or not at all, as net/http does
		case "User-Agent":
			if len(vs) > 0 && vs[0] != "" { // an empty one means none
				dst = appendField(dst, k, vs[0]) // the first only, as net/http sends it
			}
			continue
		}
		for _, v := range vs {
			dst = appendField(dst, k, v)
		}
	}
	return append(dst, "\r\n"...), nil
}

// appendField appends one header line, its value trimmed as net/http
// trims it.
func appendField(dst []byte, k, v string) []byte {
	dst = append(dst, k...)
	dst = append(dst, ": "...)
	dst = append(dst, strings.Trim(v, " \t")...)
	return append(dst, "\r\n"...)
}

func isASCII(s string) bool {
	for i := range len(s) {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
