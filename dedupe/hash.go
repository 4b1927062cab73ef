package dedupe

import (
	"crypto/sha256"
	"encoding/hex"
)

// ContentHash returns the lower-case hex SHA-256 of body: 64 characters, the
// value stored in the pages.content_hash column. Equal bodies give equal hashes
// whatever URL they were fetched from, which is how mirrors and duplicate pages
// are found. It is safe for concurrent use and does not retain body.
func ContentHash(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])
}
