package dedupe

import "github.com/cespare/xxhash/v2"

// URLFingerprint returns the 64-bit fingerprint of key, a canonical URL (see
// [Canonical]): the XXH64 hash of its bytes with seed 0, its bits kept as an
// int64 because SQLite integers are signed. It is the URL's INTEGER PRIMARY
// KEY on disk, so it is the same in every process, on every platform and in
// every version of this package: changing it would make every stored URL
// unreachable. TestURLFingerprintGolden pins it.
//
// It never returns 0, which callers use for "none": a key whose hash is 0 gets
// 1, as does a key whose hash is 1 (two keys in 2^64 instead of one).
//
// Two URLs with the same fingerprint are treated as the same URL: the second
// is taken for seen and never crawled. Among n distinct URLs the expected
// number of colliding pairs is about n²/2^65: some 4e-6 at 12 million URLs and
// 0.027 at a billion, so at a billion URLs there is under a 3% chance that
// any one URL is lost at all. The crawler accepts that in exchange for an
// 8-byte key; a crawl of some tens of billions of URLs (about 6e9 for one
// expected collision) would need a wider key.
//
// It is safe for concurrent use and does not allocate.
func URLFingerprint(key string) int64 {
	return fromHash(xxhash.Sum64String(key))
}

// fromHash turns a 64-bit hash into a fingerprint: the same bits, except that
// 0 becomes 1.
func fromHash(h uint64) int64 {
	if h == 0 {
		return 1
	}
	return int64(h)
}
