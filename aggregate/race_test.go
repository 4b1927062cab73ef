//go:build race

package aggregate

// raceEnabled: the race detector changes sync.Pool (it drops puts) and
// allocation counts.
const raceEnabled = true
