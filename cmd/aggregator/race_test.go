//go:build race

package main

// raceEnabled slows tests that measure time: the race detector makes every
// request several times dearer, and a closed loop of 64 clients would then
// measure the machine, not the aggregator.
const raceEnabled = true
