package frontier

import (
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// TestDeniedTakesNoToken: URLs that Config.Denied refuses are handed out at
// once, marked Denied, without a politeness token and outside MaxPages:
// the host's real requests keep their pace of one a second.
func TestDeniedTakesNoToken(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		denied := func(it Item) bool { return strings.Contains(it.URL, "/9") }
		q := New(Config{PerHost: 1, MaxDepth: -1, MaxPages: 3, Denied: denied},
			&intervalGate{interval: time.Second, next: map[string]time.Time{}}, nil)
		for _, n := range []int{1, 90, 91, 2, 92, 93, 94, 3, 4} {
			q.Push(item("a", n))
		}
		start := time.Now()
		var got []string
		for {
			it, err := q.Next(t.Context())
			if err != nil {
				break // io.EOF: MaxPages first attempts handed out, the rest left
			}
			got = append(got, strings.TrimPrefix(it.URL, "http://a/")+map[bool]string{true: " denied", false: ""}[it.Denied]+
				" at "+time.Since(start).String())
			q.Done(it)
		}
		want := []string{"1 at 0s", "90 denied at 0s", "91 denied at 0s", "2 at 1s", "92 denied at 1s", "93 denied at 1s",
			"94 denied at 1s", "3 at 2s"}
		if !slices.Equal(got, want) {
			t.Errorf("handed out\n%q\nwant\n%q", got, want)
		}
		if s := q.Stats(); s.Handed != 3 || s.Held != 2*time.Second {
			t.Errorf("Stats Handed %d, Held %v; want 3 (the denied ones not counted), 2s", s.Handed, s.Held)
		}
	})
}
