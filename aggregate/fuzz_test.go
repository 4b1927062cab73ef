package aggregate

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"slices"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzScan checks the scanner against encoding/json: it accepts exactly
// what json.Valid accepts, and the members it records of an object put back
// together are the same object.
func FuzzScan(f *testing.F) {
	for _, s := range []string{
		`{}`, ` {"a" : 1, "b":[true,false,null], "c":{"d":"e\u00e9\n"}} `, `[1,-0.5e+3,"x"]`, `"\ud800"`,
		`{"a":1,}`, `{"a"}`, `01`, `1.`, `-`, `1e`, `"\x"`, "\"\x01\"", `tru`, `nul`, `{"a":1} x`, ``, ` `,
		`[[[[[[[[[[]]]]]]]]]]`, `{"\"":1}`, `"abcdefghijklmnopqrstuvwxyz\"0123456789"`, "\"\xff\xfe\"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ms, vs, ve, kind, err := parseTop(data, nil, true)
		if valid := json.Valid(data); valid != (err == nil) {
			t.Fatalf("parseTop(%q) error %v, json.Valid %v", data, err, valid)
		}
		if _, _, _, _, err2 := parseTop(data, nil, false); (err2 == nil) != (err == nil) {
			t.Fatalf("parseTop(%q) with and without recording disagree: %v, %v", data, err, err2)
		}
		if err != nil {
			return
		}
		if kind != data[vs] || !bytes.Equal(bytes.TrimSpace(data), data[vs:ve]) {
			t.Fatalf("parseTop(%q) value [%d:%d] kind %q", data, vs, ve, kind)
		}
		if kind != '{' {
			if len(ms) != 0 {
				t.Fatalf("parseTop(%q) recorded members of %s", data, kindName(kind))
			}
			return
		}
		var b backend
		var obj []byte
		obj = append(obj, '{')
		for i := range ms {
			if i > 0 {
				obj = append(obj, ',')
			}
			m := &ms[i]
			name := b.memberName(data, m)
			var want string
			if err := json.Unmarshal(data[m.keyOff:m.keyEnd], &want); err != nil || string(name) != want {
				t.Fatalf("member name %q, want %q (%v)", name, want, err)
			}
			obj = append(append(append(obj, b.memberKey(data, m)...), ':'), data[m.valOff:m.valEnd]...)
		}
		obj = append(obj, '}')
		var c1, c2 bytes.Buffer
		if err := json.Compact(&c1, data); err != nil {
			t.Fatal(err)
		}
		if err := json.Compact(&c2, obj); err != nil {
			t.Fatalf("members of %q rebuild invalid JSON %q: %v", data, obj, err)
		}
		if c1.String() != c2.String() {
			t.Fatalf("members of %q rebuild %q", data, obj)
		}
	})
}

// topMembers decodes a body's top-level members in order with
// encoding/json, as the reference for FuzzMerge.
func topMembers(data []byte) (keys []string, vals []string, ok bool) {
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, nil, false
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, false
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, nil, false
		}
		var c bytes.Buffer
		if err := json.Compact(&c, raw); err != nil {
			return nil, nil, false
		}
		keys, vals = append(keys, tok.(string)), append(vals, c.String())
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return nil, nil, false
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, nil, false
	}
	return keys, vals, true
}

// FuzzMerge merges any three bodies (two spliced, one grouped) and checks
// the output against a model built with encoding/json: a valid object whose
// keys are the first occurrence of each key in configuration order, with
// that occurrence's value; the same for the same inputs.
func FuzzMerge(f *testing.F) {
	f.Add([]byte(`{"a":1,"b":2}`), []byte(`{"b":3,"c":[1]}`), []byte(`{"x":null}`))
	f.Add([]byte(`{"g":1}`), []byte(`not json`), []byte(`[1,2]`))
	f.Add([]byte(`{"\u0061":1,"a":2}`), []byte(`{}`), []byte(`"s"`))
	f.Add([]byte(` { "k" : { "n" : [ 1 , 2 ] } } `), []byte(`{"k":0,"k":1}`), []byte(``))
	a, err := New(Endpoint{Path: "/p", Backends: []Backend{
		{Name: "a", URL: "http://h/a"}, {Name: "b", URL: "http://h/b"}, {Name: "c", URL: "http://h/c", Group: "g"},
	}}, nil, nil, nil)
	if err != nil {
		f.Fatal(err)
	}
	shaped, err := New(Endpoint{Path: "/p", Backends: []Backend{
		{Name: "a", URL: "http://h/a", Target: "k", Mapping: map[string]string{"a": "b", "b": "a"}, Deny: []string{"c"}},
		{Name: "b", URL: "http://h/b", Collection: "items", Mapping: map[string]string{"items": "a"}},
		{Name: "c", URL: "http://h/c", Allow: []string{"a", "g"}, Group: "grp"},
	}}, nil, nil, nil)
	if err != nil {
		f.Fatal(err)
	}
	mergeWith := func(a *Aggregator, bodies [][]byte) *Result {
		slots := make([]slot, len(bodies))
		for i, b := range a.ep.backends {
			s := &slots[i]
			s.report = BackendReport{Name: b.name, Outcome: OK}
			data, ms, _, err := b.shape(bodies[i], nil, nil)
			if err != nil {
				s.report.Outcome, s.report.Error = Invalid, err.Error()
			} else {
				s.data, s.members = data, ms
			}
			s.arrived = true
		}
		return a.assemble(context.Background(), slots, time.Now())
	}
	merge := func(bodies [][]byte) *Result { return mergeWith(a, bodies) }
	f.Fuzz(func(t *testing.T, b1, b2, b3 []byte) {
		bodies := [][]byte{b1, b2, b3}
		for _, b := range bodies {
			if !utf8.Valid(b) {
				return // encoding/json turns invalid UTF-8 into U+FFFD: not a faithful model
			}
		}
		r := merge(bodies)
		if r2 := merge(bodies); !bytes.Equal(r.Body, r2.Body) {
			t.Fatalf("two merges differ:\n%s\n%s", r.Body, r2.Body)
		}
		// Shaped: no model, but a valid object with unique keys, the same
		// every time.
		s := mergeWith(shaped, bodies)
		if s2 := mergeWith(shaped, bodies); !bytes.Equal(s.Body, s2.Body) {
			t.Fatalf("two shaped merges differ:\n%s\n%s", s.Body, s2.Body)
		}
		if keys, _, ok := topMembers(s.Body); !ok || len(slices.Compact(slices.Sorted(slices.Values(keys)))) != len(keys) {
			t.Fatalf("shaped merge of %q = %q: not an object with unique keys", bodies, s.Body)
		}
		var wantKeys, wantVals []string
		add := func(k, v string) {
			if !slices.Contains(wantKeys, k) {
				wantKeys, wantVals = append(wantKeys, k), append(wantVals, v)
			}
		}
		for i, body := range bodies[:2] {
			keys, vals, ok := topMembers(body)
			if ok != (r.Backends[i].Outcome == OK) {
				t.Fatalf("backend %d body %q: outcome %s (%s), want ok %v", i, body, r.Backends[i].Outcome, r.Backends[i].Error, ok)
			}
			for j := range keys {
				add(keys[j], vals[j])
			}
		}
		var c bytes.Buffer
		if json.Compact(&c, b3) == nil {
			add("g", c.String())
		} else if r.Backends[2].Outcome == OK {
			t.Fatalf("grouped body %q accepted", b3)
		}
		keys, vals, ok := topMembers(r.Body)
		if !ok {
			t.Fatalf("merged body %q is not a JSON object", r.Body)
		}
		if !slices.Equal(keys, wantKeys) || !slices.Equal(vals, wantVals) {
			t.Fatalf("merged %q\nkeys %q vals %q\nwant %q %q", r.Body, keys, vals, wantKeys, wantVals)
		}
	})
}
