package aggregate

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestShaping(t *testing.T) {
	tests := []struct {
		name     string
		backends []Backend
		bodies   map[string]string // by URL path
		want     string            // merged body
		outcomes string
		errs     []string // substrings of the non-ok reports' errors, in order
	}{
		{
			name:     "plain merge, first backend wins a collision",
			backends: []Backend{{Name: "a", URL: "http://h/a"}, {Name: "b", URL: "http://h/b"}},
			bodies:   map[string]string{"/a": ` { "x" : 1 , "y": {"deep": [1, 2]} } `, "/b": `{"y":"late","z":null}`},
			want:     `{"x":1,"y":{"deep": [1, 2]},"z":null}`,
			outcomes: "a=ok b=ok",
		},
		{
			name:     "duplicate key inside one body: the first wins",
			backends: []Backend{{Name: "a", URL: "http://h/a"}},
			bodies:   map[string]string{"/a": `{"k":1,"k":2,"\u006b":3,"K":4}`},
			want:     `{"k":1,"K":4}`,
			outcomes: "a=ok",
		},
		{
			name:     "escaped keys collide with plain ones",
			backends: []Backend{{Name: "a", URL: "http://h/a"}, {Name: "b", URL: "http://h/b"}},
			bodies:   map[string]string{"/a": `{"\u00e9t\u00e9":1}`, "/b": `{"été":2,"a\"b":3}`},
			want:     `{"\u00e9t\u00e9":1,"a\"b":3}`,
			outcomes: "a=ok b=ok",
		},
		{
			name:     "group takes any value, raw",
			backends: []Backend{{Name: "a", URL: "http://h/a", Group: "user"}, {Name: "b", URL: "http://h/b", Group: "orders"}, {Name: "c", URL: "http://h/c", Group: "n"}},
			bodies:   map[string]string{"/a": `{"id": 7}`, "/b": ` [1, 2] `, "/c": `42`},
			want:     `{"user":{"id": 7},"orders":[1, 2],"n":42}`,
			outcomes: "a=ok b=ok c=ok",
		},
		{
			name:     "group collides with a field of an earlier backend",
			backends: []Backend{{Name: "a", URL: "http://h/a"}, {Name: "b", URL: "http://h/b", Group: "user"}},
			bodies:   map[string]string{"/a": `{"user":"first"}`, "/b": `{"id":7}`},
			want:     `{"user":"first"}`,
			outcomes: "a=ok b=ok",
		},
		{
			name:     "target",
			backends: []Backend{{Name: "a", URL: "http://h/a", Target: "data.user"}},
			bodies:   map[string]string{"/a": `{"meta":1,"data":{"other":2,"user":{"id":7,"name":"x"}}}`},
			want:     `{"id":7,"name":"x"}`,
			outcomes: "a=ok",
		},
		{
			name:     "target with group",
			backends: []Backend{{Name: "a", URL: "http://h/a", Target: "data", Group: "g"}},
			bodies:   map[string]string{"/a": `{"data":{"id":7}}`},
			want:     `{"g":{"id":7}}`,
			outcomes: "a=ok",
		},
		{
			name:     "target to an array with collection",
			backends: []Backend{{Name: "a", URL: "http://h/a", Target: "data", Collection: "items"}},
			bodies:   map[string]string{"/a": `{"data":[{"id":1},{"id":2}]}`},
			want:     `{"items":[{"id":1},{"id":2}]}`,
			outcomes: "a=ok",
		},
		{
			name:     "target missing",
			backends: []Backend{{Name: "a", URL: "http://h/a", Target: "data.user"}, {Name: "b", URL: "http://h/b", Target: "data.user"}},
			bodies:   map[string]string{"/a": `{"data":{}}`, "/b": `{"data":[1]}`},
			want:     `{}`,
			outcomes: "a=invalid b=invalid",
			errs:     []string{`target data.user: no field "user"`, "target data.user: data is an array, not an object"},
		},
		{
			name:     "allow",
			backends: []Backend{{Name: "a", URL: "http://h/a", Allow: []string{"id", "name", "absent"}}},
			bodies:   map[string]string{"/a": `{"id":7,"secret":"s","name":"x"}`},
			want:     `{"id":7,"name":"x"}`,
			outcomes: "a=ok",
		},
		{
			name:     "deny",
			backends: []Backend{{Name: "a", URL: "http://h/a", Deny: []string{"secret"}}},
			bodies:   map[string]string{"/a": `{"id":7,"secret":"s","name":"x"}`},
			want:     `{"id":7,"name":"x"}`,
			outcomes: "a=ok",
		},
		{
			name:     "mapping, and a renamed field replaces one that had its new name",
			backends: []Backend{{Name: "a", URL: "http://h/a", Mapping: map[string]string{"id": "user_id", "nick": "name"}}},
			bodies:   map[string]string{"/a": `{"id":7,"name":"old","nick":"new"}`},
			want:     `{"user_id":7,"name":"new"}`,
			outcomes: "a=ok",
		},
		{
			name:     "mapping swaps names",
			backends: []Backend{{Name: "a", URL: "http://h/a", Mapping: map[string]string{"a": "b", "b": "a"}}},
			bodies:   map[string]string{"/a": `{"a":1,"b":2}`},
			want:     `{"b":1,"a":2}`,
			outcomes: "a=ok",
		},
		{
			name: "target, deny, mapping and group together",
			backends: []Backend{{Name: "a", URL: "http://h/a", Target: "u", Deny: []string{"pw"},
				Mapping: map[string]string{"name": "login"}, Group: "user"}},
			bodies:   map[string]string{"/a": `{"u":{"id":7,"name":"x","pw":"p","extra":true}}`},
			want:     `{"user":{"id":7,"login":"x","extra":true}}`,
			outcomes: "a=ok",
		},
		{
			name:     "collection, renamed",
			backends: []Backend{{Name: "a", URL: "http://h/a", Collection: "collection", Mapping: map[string]string{"collection": "orders"}}},
			bodies:   map[string]string{"/a": `[{"id":1}]`},
			want:     `{"orders":[{"id":1}]}`,
			outcomes: "a=ok",
		},
		{
			name:     "collection on an object",
			backends: []Backend{{Name: "a", URL: "http://h/a", Collection: "items"}},
			bodies:   map[string]string{"/a": `{"id":1}`},
			want:     `{}`,
			outcomes: "a=invalid",
			errs:     []string{`collection "items" wants an array`},
		},
		{
			name:     "array without collection or group",
			backends: []Backend{{Name: "a", URL: "http://h/a"}, {Name: "b", URL: "http://h/b", Allow: []string{"x"}}, {Name: "c", URL: "http://h/c"}},
			bodies:   map[string]string{"/a": `[1,2]`, "/b": `[1]`, "/c": `"str"`},
			want:     `{}`,
			outcomes: "a=invalid b=invalid c=invalid",
			errs:     []string{"response is an array; set collection or group", "response is an array; set collection", "response is a string, not an object; set group"},
		},
		{
			name:     "keys with escapes through shaping",
			backends: []Backend{{Name: "a", URL: "http://h/a", Allow: []string{"é", "<b>"}, Mapping: map[string]string{"<b>": "b&c"}}},
			bodies:   map[string]string{"/a": `{"\u00e9":1,"<b>":2,"z":3}`},
			want:     `{"\u00e9":1,"b\u0026c":2}`,
			outcomes: "a=ok",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := mustNew(t, Endpoint{Path: "/p", Backends: tt.backends}, staticClient(tt.bodies))
			r := a.Do(t.Context(), Request{})
			if string(r.Body) != tt.want {
				t.Errorf("body = %s, want %s", r.Body, tt.want)
			}
			if !json.Valid(r.Body) {
				t.Errorf("body %s is not valid JSON", r.Body)
			}
			if got := outcomes(r); got != tt.outcomes {
				t.Errorf("outcomes = %s, want %s", got, tt.outcomes)
			}
			var errs []string
			for _, b := range r.Backends {
				if b.Outcome != OK {
					errs = append(errs, b.Error)
				}
			}
			if len(errs) != len(tt.errs) {
				t.Fatalf("errors %q, want %q", errs, tt.errs)
			}
			for i := range errs {
				if !strings.Contains(errs[i], tt.errs[i]) {
					t.Errorf("error %d = %q, want it to contain %q", i, errs[i], tt.errs[i])
				}
			}
		})
	}
}
