package aggregate

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// chainClient serves /users/{id} (the profile, after 10ms, with the body
// given), /teams/... (echoing what it got, after 10ms) and /stats (after 30ms),
// and records each team request.
type chainClient struct {
	profile string
	status  int // the profile's status; 0 means 200

	mu    sync.Mutex // guards teams
	teams []*http.Request
}

func (c *chainClient) client() *http.Client {
	return &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		delay := 10 * time.Millisecond
		if r.URL.Path == "/stats" {
			delay = 30 * time.Millisecond
		}
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return nil, r.Context().Err()
		}
		switch {
		case strings.HasPrefix(r.URL.Path, "/users/"):
			if c.status != 0 {
				resp := jsonResponse(r, `{"error":"down"}`)
				resp.StatusCode = c.status
				return resp, nil
			}
			return jsonResponse(r, c.profile), nil
		case strings.HasPrefix(r.URL.Path, "/teams/"):
			c.mu.Lock()
			c.teams = append(c.teams, r)
			c.mu.Unlock()
			return jsonResponse(r, `{"team":"ok"}`), nil
		}
		return jsonResponse(r, `{"stats":1}`), nil
	})}
}

func chainEndpoint(teamRequired bool) Endpoint {
	return Endpoint{Path: "/users/:id", Timeout: Duration(time.Second), ReportKey: "_r", Backends: []Backend{
		{Name: "profile", URL: "http://h/users/{id}"},
		{Name: "stats", URL: "http://h/stats"},
		{Name: "team", URL: "http://h/teams/{profile.team_id}?n={profile.meta.n}&lang={lang}", Query: []string{"lang"},
			SetHeaders: map[string]string{"X-Team": "{profile.team_id}", "X-Who": "user {id} of {profile.meta.n}"},
			Group:      "team", Required: teamRequired},
	}}
}

// TestChained wants a backend that needs another's answer to start as soon
// as it arrives, with its fields in the URL, query and headers, while the
// independent backends run in parallel.
func TestChained(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := &chainClient{profile: `{"name":"ann","team_id":"red 1","meta":{"n":7.5}}`}
		a := mustNew(t, chainEndpoint(false), c.client())
		start := time.Now()
		r := a.Do(t.Context(), Request{Params: map[string]string{"id": "42"}, Query: map[string][]string{"lang": {"de"}}})
		if elapsed := time.Since(start); elapsed != 30*time.Millisecond {
			t.Errorf("Do took %v, want 30ms: profile (10ms) then team (10ms) beside stats (30ms)", elapsed)
		}
		if got := outcomes(r); got != "profile=ok stats=ok team=ok" {
			t.Fatalf("outcomes = %s (%s)", got, r.Body)
		}
		if want := `{"name":"ann","team_id":"red 1","meta":{"n":7.5},"stats":1,"team":{"team":"ok"},"_r":`; !strings.HasPrefix(string(r.Body), want) {
			t.Errorf("body = %s, want prefix %s", r.Body, want)
		}
		if len(c.teams) != 1 {
			t.Fatalf("team called %d times, want once", len(c.teams))
		}
		tr := c.teams[0]
		if got, want := tr.URL.RequestURI(), "/teams/red%201?n=7.5&lang=de"; got != want {
			t.Errorf("team request %s, want %s", got, want)
		}
		if got := tr.Header.Get("X-Team"); got != "red 1" {
			t.Errorf("X-Team = %q, want %q", got, "red 1")
		}
		if got := tr.Header.Get("X-Who"); got != "user 42 of 7.5" {
			t.Errorf("X-Who = %q, want %q", got, "user 42 of 7.5")
		}
	})
}

// TestChainedSkipped wants the second stage skipped, and said so, when the
// first failed or lacks the field, and the status policy applied.
func TestChainedSkipped(t *testing.T) {
	tests := []struct {
		name     string
		profile  string
		status   int
		required bool
		want     string // outcomes
		err      string // team's error
		code     int
	}{
		{"first stage fails", "", 500, false, "profile=error stats=ok team=skipped", "needs backend profile, which ended with error", 200},
		{"first stage fails, second required", "", 500, true, "profile=error stats=ok team=skipped", "needs backend profile, which ended with error", 502},
		{"field missing", `{"name":"ann"}`, 0, true, "profile=ok stats=ok team=skipped",
			"a field it needs is missing: backend profile's answer has no field team_id", 502},
		{"field not a value", `{"team_id":{"x":1},"meta":{"n":1}}`, 0, false, "profile=ok stats=ok team=skipped",
			"a field it needs is missing: backend profile's field team_id is an object, not a string, number or boolean", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c := &chainClient{profile: tt.profile, status: tt.status}
				a := mustNew(t, chainEndpoint(tt.required), c.client())
				r := a.Do(t.Context(), Request{Params: map[string]string{"id": "42"}})
				if got := outcomes(r); got != tt.want {
					t.Errorf("outcomes = %s, want %s", got, tt.want)
				}
				if got := r.Backends[2].Error; got != tt.err {
					t.Errorf("team error = %q, want %q", got, tt.err)
				}
				if got := r.Status(); got != tt.code {
					t.Errorf("status = %d, want %d", got, tt.code)
				}
				if len(c.teams) != 0 {
					t.Errorf("team called %d times, want never", len(c.teams))
				}
				if !strings.Contains(string(r.Body), `"name":"team","outcome":"skipped"`) {
					t.Errorf("report in the body does not say team was skipped: %s", r.Body)
				}
			})
		})
	}
}

// TestChainedDeadline wants a second stage still waiting at the deadline
// reported as a timeout, saying what it waited for.
func TestChainedDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			<-r.Context().Done()
			return nil, r.Context().Err()
		})}
		a := mustNew(t, Endpoint{Path: "/p", Timeout: Duration(100 * time.Millisecond), Backends: []Backend{
			{Name: "first", URL: "http://h/a"}, {Name: "second", URL: "http://h/b/{first.id}"},
		}}, client)
		r := a.Do(t.Context(), Request{})
		if got := outcomes(r); got != "first=timeout second=timeout" {
			t.Errorf("outcomes = %s", got)
		}
		if got := r.Backends[1].Error; !strings.HasPrefix(got, "waiting for the backends it needs: ") {
			t.Errorf("second error = %q", got)
		}
		a.Wait()
	})
}

func TestChainedConfig(t *testing.T) {
	err := Validate([]Endpoint{{Path: "/p", Backends: []Backend{
		{Name: "a", URL: "http://h/{b.id}"},
		{Name: "b", URL: "http://h/{a.}", SetHeaders: map[string]string{"Host": "x", "X-A": "{a.id", "X-B": "{nope.x}"}, Headers: []string{"X-C"}},
		{Name: "c", URL: "http://h/", SetHeaders: map[string]string{"x-c": "1"}, Headers: []string{"X-C"}},
	}}})
	want := []string{
		`endpoint /p: backend a: url: placeholder {b.id}: no backend listed before this one is called "b"`,
		`endpoint /p: backend b: url: placeholder {a.}: empty field name`,
		`endpoint /p: backend b: set_headers: Host cannot be set`,
		`endpoint /p: backend b: set_headers: X-A: "{a.id": '{' without '}' at byte 0`,
		`endpoint /p: backend b: set_headers: X-B: placeholder {nope.x}: no backend listed before this one is called "nope"`,
		`endpoint /p: backend c: set_headers: X-C is also forwarded (headers)`,
	}
	if err == nil {
		t.Fatal("Validate = nil")
	}
	got := strings.Split(err.Error(), "\n")
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("Validate:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
