//go:build race

package dedupe

// raceEnabled reports whether the race detector is on: it makes atomic
// operations some fifty times slower, so the large single-goroutine tests
// shrink under it. They check properties, not races.
const raceEnabled = true
