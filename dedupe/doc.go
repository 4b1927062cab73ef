// Package dedupe decides whether a URL has been seen before.
//
// It owns the canonical form of a URL ([Canonical], [CanonicalURL], and a
// [Canonicalizer] for other tracking-parameter rules than
// [DefaultStripParams]), which is the key under which a page is stored and
// deduplicated, and its 64-bit fingerprint ([URLFingerprint]), the key of
// its rows; the in-memory part of the seen-set ([Known]): an exact set of
// fingerprints, bounded in bytes, that spares the crawl's file most lookups
// (the file has the last word: a fingerprint Known has forgotten costs a
// lookup, never a duplicate); the detection of URL traps ([Traps]); and the
// content fingerprints of a fetched page: [ContentHash] for exact copies,
// [SimHash] and [Clusters] for near-duplicates.
package dedupe
