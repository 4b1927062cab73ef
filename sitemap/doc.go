// Package sitemap reads sitemaps (the sitemaps.org protocol) as a stream and walks
// sitemap indexes through a caller-supplied Getter.
//
// # Parsing
//
// [Parse] reads one sitemap file: an XML <urlset>, an XML <sitemapindex>, or a plain
// text sitemap (one URL per line, UTF-8), chosen by the content: a body whose first
// non-blank byte (after an optional UTF-8 byte order mark) is '<' is XML, any other
// body is text. A gzip body is recognised by its magic bytes (1f 8b), never by its name
// or a header, and decompressed as it is read.
//
// XML is read token by token with encoding/xml (no document tree is built), ignoring
// namespaces: <urlset>, <url>, <sitemapindex>, <sitemap>, <loc> and <lastmod> are
// matched by local name, so files with or without the sitemaps.org namespace are read
// alike, and extension elements such as <image:loc> are ignored (only a <loc> that is a
// direct child of <url> or <sitemap> counts). Parsing is lenient about common mistakes:
// a stray '&' or an unknown entity is kept as literal text, and mismatched end tags are
// tolerated. Entities declared in a DTD are never expanded, so "billion laughs"
// documents cost nothing. Only UTF-8 (and US-ASCII) documents are accepted.
//
// Each entry's <loc> is trimmed of surrounding white space; an entry whose loc is
// missing, longer than [Limits].MaxLocLen or not an absolute http or https URL with a
// host is skipped and counted in [Stats].Skipped. <lastmod> accepts the W3C datetime
// forms (YYYY, YYYY-MM, YYYY-MM-DD, with hh:mm, hh:mm:ss or hh:mm:ss.s and a zone Z or
// ±hh:mm); a missing or invalid one leaves [Entry].LastMod zero.
//
// # Caps
//
// A file may decompress to at most [Limits].MaxBytes (default 50 MiB, as the protocol
// says) and hold at most [Limits].MaxURLs entries (default 50,000, counting skipped
// ones); no single XML token (a tag, a run of text, a comment or a DTD) may exceed 1 MiB
// and elements may nest at most 32 deep. Exceeding a size cap stops the parse with an
// error wrapping [ErrTooLarge], after the entries read so far have been delivered:
// parsing streams, so a caller sees every entry that preceded the problem, and the same
// holds for a syntax error half way through a file. Memory use is bounded by these caps,
// not by the size of the input.
//
// # Walking
//
// [Walk] fetches sitemap files through a [Getter] one at a time, breadth first from its
// roots, and delivers the page entries of every urlset and text sitemap it reaches.
// Indexes are followed to a depth of 2: a root index may list indexes, whose children
// are fetched, but the children of an index found at depth 2 (an index inside an index
// inside an index) are not followed. Each sitemap URL is fetched at most once, and at
// most [WalkLimits].MaxSitemaps fetches (default 1,000) and [WalkLimits].MaxURLs
// delivered pages in all (default 1,000,000) are allowed.
//
// Host rules (after sitemaps.org's cross-submission rules): a child sitemap must be on
// the same host as the index that lists it, and a page URL must be on the same host as
// the sitemap that lists it; anything else is skipped and counted in [WalkStats]. "Same
// host" compares host names case-insensitively and ports after dropping the scheme's
// default port; the scheme and the path are not compared. Roots are not checked: the
// caller chose them (from robots.txt, say).
//
// An error on one sitemap (the Getter failed, or the file is malformed or too large) is
// recorded in [WalkStats] and the walk goes on; only the context, the callback or the
// walk-wide caps end it early.
package sitemap
