package main

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// backendSpec is one upstream of the benchmark's endpoint.
type backendSpec struct {
	Name string // the backend's name in the aggregator's config
	Path string // path and query of the upstream URL, with {id} for the user id
}

// benchBackends returns the three upstreams, in config order: objects with
// disjoint top-level keys (testserver's RouteUser, RouteStats and
// RouteRecommendations), merged side by side with no shaping rule in either
// gateway. The direct baseline calls the first one.
func benchBackends() []backendSpec {
	return []backendSpec{
		{"user", "/users/{id}"},
		{"stats", "/users/{id}/stats"},
		{"recommendations", "/recommendations?user={id}"},
	}
}

// Server limits given to both gateways.
const (
	readHeaderTimeout = 2 * time.Second
	readTimeout       = 5 * time.Second
	writeTimeout      = 10 * time.Second
	idleTimeout       = 60 * time.Second
	maxHeaderBytes    = 16 << 10
)

// aggregatorConfig returns cmd/aggregator's YAML config: one endpoint
// /users/:id with deadline, fanning out to upstreams[i] + benchBackends()[i].Path.
func aggregatorConfig(addr string, deadline time.Duration, upstreams []string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "# Written by aggbench: the same endpoint as the Lura peer's config.\n")
	fmt.Fprintf(&b, "server:\n")
	fmt.Fprintf(&b, "  addr: %s\n", strconv.Quote(addr))
	fmt.Fprintf(&b, "  read_header_timeout: %s\n", readHeaderTimeout)
	fmt.Fprintf(&b, "  read_timeout: %s\n", readTimeout)
	fmt.Fprintf(&b, "  write_timeout: %s\n", writeTimeout)
	fmt.Fprintf(&b, "  idle_timeout: %s\n", idleTimeout)
	fmt.Fprintf(&b, "  max_header_bytes: %d\n", maxHeaderBytes)
	fmt.Fprintf(&b, "  shutdown_timeout: 5s\n")
	fmt.Fprintf(&b, "endpoints:\n")
	fmt.Fprintf(&b, "  - path: /users/:id\n")
	fmt.Fprintf(&b, "    timeout: %s\n", deadline)
	fmt.Fprintf(&b, "    backends:\n")
	for i, be := range benchBackends() {
		fmt.Fprintf(&b, "      - name: %s\n", be.Name)
		fmt.Fprintf(&b, "        url: %s\n", strconv.Quote(upstreams[i]+be.Path))
	}
	return []byte(b.String())
}

// Lura's config file, as much of it as the benchmark sets (KrakenD's format,
// version 3).
type luraFile struct {
	Version           int            `json:"version"`
	Name              string         `json:"name"`
	ListenIP          string         `json:"listen_ip"`
	Port              int            `json:"port"`
	Timeout           string         `json:"timeout"`
	ReadHeaderTimeout string         `json:"read_header_timeout"`
	ReadTimeout       string         `json:"read_timeout"`
	WriteTimeout      string         `json:"write_timeout"`
	IdleTimeout       string         `json:"idle_timeout"`
	MaxHeaderBytes    int            `json:"max_header_bytes"`
	Endpoints         []luraEndpoint `json:"endpoints"`
}

type luraEndpoint struct {
	Endpoint string        `json:"endpoint"`
	Method   string        `json:"method"`
	Timeout  string        `json:"timeout"`
	Backend  []luraBackend `json:"backend"`
}

type luraBackend struct {
	Host       []string `json:"host"`
	URLPattern string   `json:"url_pattern"`
	Encoding   string   `json:"encoding"`
}

// luraConfig returns the Lura peer's JSON config, equivalent to
// aggregatorConfig's: the endpoint /users/{id} with the same deadline,
// backends and server timeouts. Everything else is Lura's default (its
// transport keeps 250 idle connections per host; the aggregator's 256).
func luraConfig(port int, deadline time.Duration, upstreams []string) []byte {
	f := luraFile{
		Version:           3,
		Name:              "aggbench",
		ListenIP:          "127.0.0.1",
		Port:              port,
		Timeout:           deadline.String(),
		ReadHeaderTimeout: readHeaderTimeout.String(),
		ReadTimeout:       readTimeout.String(),
		WriteTimeout:      writeTimeout.String(),
		IdleTimeout:       idleTimeout.String(),
		MaxHeaderBytes:    maxHeaderBytes,
	}
	ep := luraEndpoint{Endpoint: "/users/{id}", Method: "GET", Timeout: deadline.String()}
	for i, be := range benchBackends() {
		ep.Backend = append(ep.Backend, luraBackend{Host: []string{upstreams[i]}, URLPattern: be.Path, Encoding: "json"})
	}
	f.Endpoints = []luraEndpoint{ep}
	out, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		panic("aggbench: marshal Lura config: " + err.Error()) // plain structs of strings and ints
	}
	return append(out, '\n')
}
