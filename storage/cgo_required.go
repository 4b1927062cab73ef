//go:build !cgo

package storage

// Trawl keeps its crawls in SQLite through github.com/mattn/go-sqlite3,
// which is C: without cgo it cannot be built. This declaration fails to
// compile on purpose, so that the first error a build without cgo prints
// says what to do instead of "undefined: sqlite3.Error".
var _ cgoRequired = "Trawl needs cgo and a C compiler: install gcc (e.g. apt-get install gcc) and build with CGO_ENABLED=1"

// cgoRequired is a type no string converts to.
type cgoRequired struct{}
