package main

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"

	"github.com/trawl/trawl/fetch"
	"github.com/trawl/trawl/warc"
)

// crawlName is the name of the crawl in --db path: the file's base name without its
// extension ("crawl" for ./data/crawl.db), which names its WARC files.
func crawlName(dbPath string) string {
	base := filepath.Base(dbPath)
	if name := strings.TrimSuffix(base, filepath.Ext(base)); name != "" {
		return name
	}
	return base
}

// openArchive opens the WARC writer of a crawl with settings set, or returns nil when it
// archives nothing.
func openArchive(set settings, dbPath string, seeds []string, log *slog.Logger) (*warc.Writer, error) {
	if set.WARC == "" {
		return nil, nil
	}
	robots := "obey"
	if set.IgnoreRobots {
		robots = "ignore"
	}
	w, err := warc.Open(warc.Config{
		Dir: set.WARC, Name: crawlName(dbPath), MaxSize: int64(set.WARCSize),
		Software: "Trawl/" + fetch.Version + " (https://github.com/trawl/trawl)",
		Info: map[string]string{
			"robots": robots, "http-header-user-agent": cmp.Or(set.UserAgent, fetch.DefaultUserAgent),
			"isPartOf": crawlName(dbPath), "description": "seeds: " + strings.Join(seeds, " "),
		},
		Log: log,
	})
	if err != nil {
		return nil, fmt.Errorf("--warc %s: %w", set.WARC, err)
	}
	return w, nil
}

// archiveOf is the WARC writer as the fetcher's Archive.
type archiveOf struct{ w *warc.Writer }

// Archive implements fetch.Archive.
func (a archiveOf) Archive(_ context.Context, ex *fetch.Exchange) (fetch.Location, error) {
	req, err := ex.Request.Reader()
	if err != nil {
		return fetch.Location{}, err
	}
	resp, err := ex.Response.Reader()
	if err != nil {
		return fetch.Location{}, err
	}
	loc, err := a.w.Write(warc.Exchange{
		URI: ex.URL.String(), Date: ex.Date, IP: ex.IP, Request: req, Response: resp,
		Truncated: ex.Truncated, NotModified: ex.Status == http.StatusNotModified,
		Prior: warc.Location{File: ex.Prior.File, Offset: ex.Prior.Offset},
	})
	return fetch.Location{File: loc.File, Offset: loc.Offset}, err
}
