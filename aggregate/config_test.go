package aggregate

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func TestDurationYAMLAndJSON(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{in: `150ms`, want: 150 * time.Millisecond},
		{in: `"2s"`, want: 2 * time.Second},
		{in: `1m30s`, want: 90 * time.Second},
		{in: `0`, want: 0},
		{in: `300`, wantErr: true}, // no unit: refused, not guessed
		{in: `soon`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var y struct {
				D Duration `yaml:"d"`
			}
			err := yaml.Unmarshal([]byte("d: "+tt.in), &y)
			if (err != nil) != tt.wantErr || err == nil && time.Duration(y.D) != tt.want {
				t.Errorf("yaml %q = %v, %v; want %v, error %v", tt.in, y.D, err, tt.want, tt.wantErr)
			}
			js := tt.in
			if !strings.HasPrefix(js, `"`) && js != "0" && js != "300" {
				js = `"` + js + `"`
			}
			var j struct{ D Duration }
			err = json.Unmarshal([]byte(`{"D":`+js+`}`), &j)
			if (err != nil) != tt.wantErr || err == nil && time.Duration(j.D) != tt.want {
				t.Errorf("json %s = %v, %v; want %v, error %v", js, j.D, err, tt.want, tt.wantErr)
			}
		})
	}
	// Round trip through both encoders.
	in := Endpoint{Path: "/a", Timeout: Duration(1500 * time.Millisecond), Cache: Cache{TTL: Duration(time.Minute)}}
	for name, codec := range map[string]struct {
		marshal   func(any) ([]byte, error)
		unmarshal func([]byte, any) error
	}{"json": {json.Marshal, json.Unmarshal}, "yaml": {yaml.Marshal, yaml.Unmarshal}} {
		data, err := codec.marshal(in)
		if err != nil {
			t.Fatalf("%s marshal: %v", name, err)
		}
		if !strings.Contains(string(data), "1.5s") {
			t.Errorf("%s wrote %s, want the duration as 1.5s", name, data)
		}
		var out Endpoint
		if err := codec.unmarshal(data, &out); err != nil || out.Timeout != in.Timeout || out.Cache.TTL != in.Cache.TTL {
			t.Errorf("%s round trip of %s = %+v, %v", name, data, out, err)
		}
	}
}

func TestEndpointYAMLFieldNames(t *testing.T) {
	const doc = `
path: /users/:id
method: GET
timeout: 300ms
report_key: _backends
cache: {ttl: 5s, size: 10}
backends:
  - name: profile
    url: http://127.0.0.1:9001/users/{id}?lang={lang}
    query: [lang, page]
    timeout: 200ms
    group: profile
    target: data.user
    allow: [a]
    deny: [b]
    mapping: {a: c}
    collection: items
    required: true
    max_concurrent: 4
    rate: 10.5
    burst: 2
    headers: [Authorization]
    max_body: 2048
`
	var ep Endpoint
	dec := yaml.NewDecoder(strings.NewReader(doc))
	dec.KnownFields(true)
	if err := dec.Decode(&ep); err != nil {
		t.Fatal(err)
	}
	want := Endpoint{
		Path: "/users/:id", Method: "GET", Timeout: Duration(300 * time.Millisecond), ReportKey: "_backends",
		Cache: Cache{TTL: Duration(5 * time.Second), Size: 10},
		Backends: []Backend{{
			Name: "profile", URL: "http://127.0.0.1:9001/users/{id}?lang={lang}", Query: []string{"lang", "page"},
			Timeout: Duration(200 * time.Millisecond), Group: "profile", Target: "data.user", Allow: []string{"a"},
			Deny: []string{"b"}, Mapping: map[string]string{"a": "c"}, Collection: "items", Required: true,
			MaxConcurrent: 4, Rate: 10.5, Burst: 2, Headers: []string{"Authorization"}, MaxBody: 2048,
		}},
	}
	got, _ := json.Marshal(ep)
	exp, _ := json.Marshal(want)
	if string(got) != string(exp) {
		t.Errorf("decoded\n%s\nwant\n%s", got, exp)
	}
}

// validBackend is a backend with nothing wrong.
func validBackend(name string) Backend {
	return Backend{Name: name, URL: "http://127.0.0.1:9001/" + name}
}

func TestValidate(t *testing.T) {
	ep := func(path string, bs ...Backend) Endpoint { return Endpoint{Path: path, Backends: bs} }
	withB := func(mod func(*Backend)) Endpoint {
		b := validBackend("profile")
		mod(&b)
		return Endpoint{Path: "/users/:id", Backends: []Backend{b}}
	}
	tests := []struct {
		name string
		eps  []Endpoint
		want []string
	}{
		{"valid", []Endpoint{
			{Path: "/users/:id", Method: "GET", Timeout: Duration(time.Second), ReportKey: "_r",
				Cache: Cache{TTL: Duration(time.Second)}, Backends: []Backend{
					{Name: "profile", URL: "http://127.0.0.1:9001/users/{id}?lang={lang}", Query: []string{"lang", "page"},
						Timeout: Duration(time.Second), Target: "data.user", Allow: []string{"a"}, Deny: []string{"b"},
						Mapping: map[string]string{"a": "c"}, Required: true, MaxConcurrent: 2, Rate: 5, Burst: 3,
						Headers: []string{"authorization"}, MaxBody: 10},
					{Name: "orders", URL: "https://api.test/o?user={id}", Group: "orders", Collection: "items"},
				}},
			ep("/users/:id/orders", validBackend("a")),
			ep("/users/new", validBackend("a")),                                          // gin tells static from parameter
			{Path: "/users/:id", Method: "POST", Backends: []Backend{validBackend("a")}}, // another method
			ep("/files/*path", Backend{Name: "f", URL: "http://h/files/{path}"}),
		}, nil},
		{"no endpoints", nil, []string{"endpoints: no endpoints configured"}},
		{"path", []Endpoint{ep("", validBackend("a")), ep("users", validBackend("a"))}, []string{
			"endpoint #1: path: a path is required",
			`endpoint users: path: "users" does not start with /`,
		}},
		{"path parameters", []Endpoint{
			ep("/a/:", validBackend("a")), ep("/b/:x/:x", validBackend("a")),
			ep("/c/*rest/more", validBackend("a")), ep("/d/:a:b", validBackend("a")),
		}, []string{
			`endpoint /a/:: path: "/a/:": parameter without a name at byte 3`,
			`endpoint /b/:x/:x: path: "/b/:x/:x": parameter "x" appears twice`,
			`endpoint /c/*rest/more: path: "/c/*rest/more": catch-all *rest must be the whole last segment`,
			`endpoint /d/:a:b: path: "/d/:a:b": one parameter per segment`,
		}},
		{"method", []Endpoint{{Path: "/a", Method: "get", Backends: []Backend{validBackend("a")}}},
			[]string{`endpoint /a: method: "get" is not an HTTP method (use upper case, such as GET)`}},
		{"endpoint numbers", []Endpoint{{Path: "/a", Timeout: Duration(-time.Second), Cache: Cache{TTL: Duration(-1)},
			Backends: []Backend{validBackend("a")}}}, []string{
			"endpoint /a: timeout: -1s is negative",
			"endpoint /a: cache.ttl: -1ns is negative",
		}},
		{"cache size", []Endpoint{{Path: "/a", Cache: Cache{Size: -1}, Backends: []Backend{validBackend("a")}}},
			[]string{"endpoint /a: cache.size: -1 is negative"}},
		{"no backends", []Endpoint{ep("/a")}, []string{"endpoint /a: backends: at least one backend is required"}},
		{"backend names", []Endpoint{ep("/a", validBackend("x"), Backend{URL: "http://h/"}, validBackend("x"))}, []string{
			"endpoint /a: backend #2: name: a name is required",
			"endpoint /a: backend #3: name: duplicate name \"x\" (backend #1 has it)",
		}},
		{"backend timeout", []Endpoint{{Path: "/users/:id", Timeout: Duration(time.Second), Backends: []Backend{
			{Name: "profile", URL: "http://h/", Timeout: Duration(2 * time.Second)}}}},
			[]string{"endpoint /users/:id: backend profile: timeout: 2s exceeds the endpoint's 1s"}},
		{"backend timeout over the default", []Endpoint{withB(func(b *Backend) { b.Timeout = Duration(1500 * time.Millisecond) })},
			[]string{"endpoint /users/:id: backend profile: timeout: 1.5s exceeds the endpoint's 1s"}},
		{"backend numbers", []Endpoint{withB(func(b *Backend) {
			b.Timeout, b.MaxBody, b.MaxConcurrent, b.Burst = -1, -1, -1, -1
		})}, []string{
			"endpoint /users/:id: backend profile: timeout: -1ns is negative",
			"endpoint /users/:id: backend profile: max_body: -1 is negative",
			"endpoint /users/:id: backend profile: max_concurrent: -1 is negative",
			"endpoint /users/:id: backend profile: burst: -1 is negative",
		}},
		{"rate", []Endpoint{withB(func(b *Backend) { b.Rate = -2 })},
			[]string{"endpoint /users/:id: backend profile: rate: -2 is not a rate (calls per second, 0 for unlimited)"}},
		{"url missing", []Endpoint{withB(func(b *Backend) { b.URL = "" })},
			[]string{"endpoint /users/:id: backend profile: url: a URL is required"}},
		{"url placeholders", []Endpoint{withB(func(b *Backend) { b.URL = "http://h/u/{id}/{nope}?q={q}" })}, []string{
			"endpoint /users/:id: backend profile: url: unknown placeholder {nope}: not a path parameter, listed in query, nor a field of an earlier backend",
			"endpoint /users/:id: backend profile: url: unknown placeholder {q}: not a path parameter, listed in query, nor a field of an earlier backend",
		}},
		{"url host placeholder", []Endpoint{withB(func(b *Backend) { b.URL = "http://{id}.test/" })},
			[]string{"endpoint /users/:id: backend profile: url: placeholder {id} outside the path and query"}},
		{"url braces", []Endpoint{withB(func(b *Backend) { b.URL = "http://h/a}/{id" })}, []string{
			`endpoint /users/:id: backend profile: url: "http://h/a}/{id": '}' without '{' at byte 10`,
			`endpoint /users/:id: backend profile: url: "http://h/a}/{id": '{' without '}' at byte 12`,
		}},
		{"url relative", []Endpoint{withB(func(b *Backend) { b.URL = "/users/{id}" })}, []string{
			"endpoint /users/:id: backend profile: url: placeholder {id} outside the path and query",
			`endpoint /users/:id: backend profile: url: "/users/{id}": want an absolute http or https URL`,
		}},
		{"url scheme", []Endpoint{withB(func(b *Backend) { b.URL = "ftp://h/x" })},
			[]string{`endpoint /users/:id: backend profile: url: "ftp://h/x": want an absolute http or https URL`}},
		{"url user", []Endpoint{withB(func(b *Backend) { b.URL = "http://u:p@h/x" })},
			[]string{`endpoint /users/:id: backend profile: url: "http://u:p@h/x": user information in the URL (forward an Authorization header instead)`}},
		{"query", []Endpoint{withB(func(b *Backend) { b.Query = []string{"q", "q", "id", ""} })}, []string{
			`endpoint /users/:id: backend profile: query: "q" is listed twice`,
			`endpoint /users/:id: backend profile: query: "id" is also a path parameter, which would shadow it in the url`,
			"endpoint /users/:id: backend profile: query: empty parameter name",
		}},
		{"headers", []Endpoint{withB(func(b *Backend) { b.Headers = []string{"Connection", "bad header", "accept", "Accept"} })}, []string{
			"endpoint /users/:id: backend profile: headers: Connection cannot be forwarded",
			`endpoint /users/:id: backend profile: headers: "bad header" is not a header name`,
			"endpoint /users/:id: backend profile: headers: Accept is listed twice",
		}},
		{"shaping", []Endpoint{withB(func(b *Backend) {
			b.Target, b.Allow, b.Deny = "data..user", []string{"a", "a"}, []string{"a", ""}
			b.Mapping = map[string]string{"x": "z", "y": "z", "": "w"}
		})}, []string{
			`endpoint /users/:id: backend profile: target: "data..user" has an empty segment`,
			`endpoint /users/:id: backend profile: allow: "a" is listed twice`,
			"endpoint /users/:id: backend profile: deny: empty field name",
			`endpoint /users/:id: backend profile: deny: "a" is also allowed`,
			`endpoint /users/:id: backend profile: mapping: "": "w": empty field name`,
			`endpoint /users/:id: backend profile: mapping: "x" and "y" are both renamed to "z"`,
		}},
		{"groups", []Endpoint{{Path: "/a", ReportKey: "r", Backends: []Backend{
			{Name: "x", URL: "http://h/", Group: "g"}, {Name: "y", URL: "http://h/", Group: "g"},
			{Name: "z", URL: "http://h/", Group: "r"}}}}, []string{
			`endpoint /a: backend y: group: "g" is also the group of backend x (the first would hide the second)`,
			`endpoint /a: backend z: group: "r" is also the endpoint's report_key`,
		}},
		{"routes are the router's to check", []Endpoint{
			ep("/users/:id", validBackend("a")), ep("/users/:id", validBackend("a")),
		}, nil},
		{"margin", []Endpoint{
			{Path: "/a", Timeout: Duration(time.Second), Margin: Duration(time.Second), Backends: []Backend{validBackend("a")}},
			{Path: "/b", Margin: Duration(-time.Millisecond), Backends: []Backend{validBackend("a")}},
		}, []string{
			"endpoint /a: margin: 1s leaves nothing of the 1s timeout",
			"endpoint /b: margin: -1ms is negative",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Validate(tt.eps)
			var got []string
			if err != nil {
				for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
					ce, ok := errors.AsType[*ConfigError](e)
					if !ok {
						t.Errorf("error %v is %T, want *ConfigError", e, e)
					} else if ce.Problem == "" {
						t.Errorf("error %v has no problem", e)
					}
					got = append(got, e.Error())
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Validate problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestConfigErrorPlace(t *testing.T) {
	err := Validate([]Endpoint{{Path: "/users/:id", Backends: []Backend{
		validBackend("ok"), {URL: "http://h/", Timeout: Duration(2 * time.Second)}}}})
	ce, ok := errors.AsType[*ConfigError](err)
	if !ok {
		t.Fatalf("Validate = %v, want a *ConfigError", err)
	}
	want := ConfigError{Endpoint: "/users/:id", Backend: "#2", Field: "name", Problem: "a name is required", EndpointIndex: 0, BackendIndex: 1}
	if *ce != want {
		t.Errorf("first problem = %+v, want %+v", *ce, want)
	}
	// The backend's timeout exceeds the endpoint's default: related to it.
	errs := err.(interface{ Unwrap() []error }).Unwrap()
	if ce, ok := errors.AsType[*ConfigError](errs[len(errs)-1]); !ok || ce.Field != "timeout" || ce.Related != "timeout" || ce.BackendIndex != 1 {
		t.Errorf("last problem = %+v, want the backend's timeout, related to the endpoint's", ce)
	}
}

func TestNewValidates(t *testing.T) {
	_, err := New(Endpoint{Path: "/a", Backends: []Backend{{Name: "b", URL: "http://h/{x}"}}}, nil, nil, nil)
	if _, ok := errors.AsType[*ConfigError](err); !ok || !strings.Contains(err.Error(), "unknown placeholder {x}") {
		t.Errorf("New = %v, want the config error", err)
	}
}
