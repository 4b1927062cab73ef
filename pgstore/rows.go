package pgstore

import (
	"cmp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/trawl/trawl/storage"
)

// urlCols are rows of url as the columns of an unnest.
type urlCols struct {
	id, hostID []int64
	url        []string
	depth      []int32
	crawlID    []*int64
}

func (u *urlCols) add(id int64, url string, hostID int64, depth int, crawlID *int64) {
	url = clean(url)
	u.id, u.url, u.hostID, u.depth, u.crawlID = append(u.id, id), append(u.url, url), append(u.hostID, hostID),
		append(u.depth, int32(depth)), append(u.crawlID, crawlID)
}

// sortByID sorts the rows by id, keeping the first of each id.
func (u *urlCols) sortByID() {
	idx := make([]int, len(u.id))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(u.id[a], u.id[b]) })
	var out urlCols
	for n, i := range idx {
		if n > 0 && u.id[i] == u.id[idx[n-1]] {
			continue
		}
		out.add(u.id[i], u.url[i], u.hostID[i], int(u.depth[i]), u.crawlID[i])
	}
	*u = out
}

// dedupe drops the rows whose id came before, keeping the order.
func (u *urlCols) dedupe() {
	seen := make(map[int64]bool, len(u.id))
	var out urlCols
	for i, id := range u.id {
		if !seen[id] {
			seen[id] = true
			out.add(id, u.url[i], u.hostID[i], int(u.depth[i]), u.crawlID[i])
		}
	}
	*u = out
}

// pageCols are rows of page as the columns of an unnest.
type pageCols struct {
	seq, id                                               []int64
	finalURL, contentType, title, contentHash, canonical  []*string
	redirects, errText, errorClass, charset, etag, lastMd []*string
	fetchedAt                                             []string
	status, truncated, attempts, noindex, nofollow        []int32
	capped, failed                                        []int32
	duration, size                                        []int64
	crawlID, simhash                                      []*int64
	lang, warcFile                                        []*string
	warcOffset                                            []*int64
	textSeq                                               []int64 // pages with text: page_text's rows
	textTitle                                             []*string
	text                                                  []string
}

// add appends p's row, at seq.
func (c *pageCols) add(p *storage.Page, seq int64, fetchedAt string, crawlID *int64, attempts int32, redirects *string, simhash *int64) {
	finalURL := p.FinalURL
	if finalURL == p.URL && p.Status > 0 {
		finalURL = "" // the view shows the URL itself
	}
	c.seq, c.id = append(c.seq, seq), append(c.id, p.ID)
	c.finalURL, c.status = append(c.finalURL, nullString(finalURL)), append(c.status, int32(p.Status))
	c.contentType, c.title = append(c.contentType, nullString(p.ContentType)), append(c.title, nullString(p.Title))
	c.fetchedAt, c.duration = append(c.fetchedAt, fetchedAt), append(c.duration, p.Duration.Milliseconds())
	c.size, c.truncated = append(c.size, p.Size), append(c.truncated, flag(p.Truncated))
	c.contentHash, c.canonical = append(c.contentHash, nullString(p.ContentHash)), append(c.canonical, nullString(p.Canonical))
	c.redirects, c.attempts = append(c.redirects, redirects), append(c.attempts, attempts)
	c.errText, c.crawlID = append(c.errText, nullString(p.Error)), append(c.crawlID, crawlID)
	c.errorClass, c.charset = append(c.errorClass, nullString(p.ErrorClass)), append(c.charset, nullString(p.Charset))
	c.noindex, c.nofollow = append(c.noindex, flag(p.NoIndex)), append(c.nofollow, flag(p.NoFollow))
	c.capped, c.simhash = append(c.capped, flag(p.LinksCapped)), append(c.simhash, simhash)
	c.etag, c.lastMd = append(c.etag, nullString(p.ETag)), append(c.lastMd, nullString(p.LastMod))
	c.failed = append(c.failed, flag(p.Error != "" && !p.Answered))
	var warcOffset *int64 // NULL when not archived (a record's offset may be 0)
	if p.WARCFile != "" {
		warcOffset = &p.WARCOffset
	}
	c.lang, c.warcFile, c.warcOffset = append(c.lang, nullString(p.Lang)), append(c.warcFile, nullString(p.WARCFile)), append(c.warcOffset, warcOffset)
	if p.Text != "" {
		c.textSeq, c.textTitle, c.text = append(c.textSeq, seq), append(c.textTitle, nullString(p.Title)), append(c.text, clean(p.Text))
	}
}

// idOf returns id, or the URL's fingerprint when id is 0.
func idOf(id int64, url string) int64 {
	if id != 0 {
		return id
	}
	return storage.URLID(url)
}

// nullString stores "" as NULL, and text PostgreSQL refuses as it can.
func nullString(s string) *string {
	if s == "" {
		return nil
	}
	s = clean(s)
	return &s
}

// clean makes s storable as PostgreSQL text, which holds neither NUL nor
// invalid UTF-8 (SQLite keeps both): a hostile page's title or a server's
// error message must not fail its batch.
func clean(s string) string {
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "\uFFFD")
	}
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	return s
}

// nullInt stores 0 as NULL.
func nullInt(n int64) *int64 {
	if n == 0 {
		return nil
	}
	return &n
}

// flag stores a bool as 0 or 1, as the file does.
func flag(b bool) int32 {
	if b {
		return 1
	}
	return 0
}
