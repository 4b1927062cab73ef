// Package dedupe decides whether a URL has been seen before.
//
// It owns the canonical form of a URL ([Canonical], [CanonicalURL], and a
// [Canonicalizer] for other tracking-parameter rules than
// [DefaultStripParams]), which is the key under which a page is stored and
// deduplicated; the seen-set ([Set]), which remembers which keys are in
// flight and which are already durable; the detection of URL traps
// ([Traps]); and the content fingerprints of a fetched page: [ContentHash]
// for exact copies, [SimHash] and [Clusters] for near-duplicates.
//
// The seen-set keeps keys that were added but not yet written in a sync.Map,
// keys known to be written in an LRU cache, and falls back to a [Durable]
// store (SQLite today) for everything else, so its memory stays bounded
// however large the crawl grows.
package dedupe
