package fetch

import (
	"math"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestNewRejectsImpossibleConfig(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string // "" means valid
	}{
		{"zero", Config{}, ""},
		{"unlimited rate", Config{Rate: math.Inf(1)}, ""},
		{"everything set", Config{UserAgent: "Bot/1", Concurrency: 4, PerHost: 1, Rate: 0.5, Burst: 3,
			MaxHosts: 10, Timeout: time.Second, MaxBody: 1, MaxRedirects: 1, RobotsCacheSize: 1}, ""},
		{"negative rate", Config{Rate: -1}, "Config.Rate"},
		{"NaN rate", Config{Rate: math.NaN()}, "Config.Rate"},
		{"negative per host", Config{PerHost: -1}, "Config.PerHost -1 is negative"},
		{"negative concurrency", Config{Concurrency: -2}, "Config.Concurrency"},
		{"negative burst", Config{Burst: -1}, "Config.Burst"},
		{"negative max hosts", Config{MaxHosts: -1}, "Config.MaxHosts"},
		{"negative redirects", Config{MaxRedirects: -1}, "Config.MaxRedirects"},
		{"negative robots cache", Config{RobotsCacheSize: -1}, "Config.RobotsCacheSize"},
		{"negative timeout", Config{Timeout: -time.Second}, "Config.Timeout"},
		{"negative robots retry", Config{RobotsRetry: -1}, "Config.RobotsRetry"},
		{"negative max body", Config{MaxBody: -1}, "Config.MaxBody"},
		{"huge max body", Config{MaxBody: 2 << 30}, "Config.MaxBody"},
		{"header injection", Config{UserAgent: "Bot/1\r\nX-Evil: 1"}, "Config.UserAgent"},
		{"no product token", Config{UserAgent: "/1.0"}, "Config.UserAgent"},
		{"two problems", Config{PerHost: -1, Burst: -1}, "Config.Burst -1 is negative\nfetch: Config.PerHost"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.cfg, nil, nil)
			if tt.wantErr == "" {
				if err != nil || c == nil {
					t.Fatalf("New(%+v) = %v, %v; want a Client", tt.cfg, c, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("New(%+v) error = %v, want one containing %q", tt.cfg, err, tt.wantErr)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	c, err := New(Config{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		UserAgent: DefaultUserAgent, Concurrency: 16, PerHost: 2, Burst: 1, MaxHosts: 10_000,
		Timeout: 30 * time.Second, ConnectTimeout: 10 * time.Second, TLSTimeout: 10 * time.Second,
		HeaderTimeout: 15 * time.Second, MaxBody: 10 << 20, MaxRedirects: 10, RobotsTTL: 24 * time.Hour,
		RobotsRetry: time.Minute, RobotsCacheSize: 10_000, MaxCrawlDelay: 30 * time.Second,
		MaxRetryAfter: 10 * time.Minute,
	}
	if !reflect.DeepEqual(c.cfg, want) { // Config holds a slice and funcs: not comparable
		t.Errorf("defaults = %+v\nwant %+v", c.cfg, want)
	}
	if DefaultUserAgent != "Trawl/0.1.0" {
		t.Errorf("DefaultUserAgent = %q", DefaultUserAgent)
	}
	if c.agent != "Trawl" {
		t.Errorf("product token of the default agent = %q, want Trawl", c.agent)
	}
	tr, ok := c.hc.Transport.(*http.Transport)
	if !ok {
		t.Fatalf("default Transport is %T", c.hc.Transport)
	}
	if !tr.DisableCompression || tr.Proxy != nil || !tr.ForceAttemptHTTP2 || tr.MaxConnsPerHost != 2 ||
		tr.MaxIdleConnsPerHost != 2 || tr.MaxIdleConns != 64 || tr.TLSHandshakeTimeout != 10*time.Second ||
		tr.ResponseHeaderTimeout != 15*time.Second {
		t.Errorf("NewTransport(Config{}) = %+v", tr)
	}
	// The caller's client is not changed.
	hc := &http.Client{}
	if _, err := New(Config{}, hc, nil); err != nil || hc.CheckRedirect != nil {
		t.Errorf("New changed the caller's http.Client")
	}
}

func TestProductToken(t *testing.T) {
	tests := []struct{ ua, want string }{
		{DefaultUserAgent, "Trawl"},
		{"MyBot/2.0", "MyBot"},
		{"MyBot", "MyBot"},
		{"My-Bot_x (compatible)", "My-Bot_x"},
		{"  Spaced/1 ", "Spaced"},
		{"/1.0", ""},
	}
	for _, tt := range tests {
		if got := productToken(tt.ua); got != tt.want {
			t.Errorf("productToken(%q) = %q, want %q", tt.ua, got, tt.want)
		}
	}
}
