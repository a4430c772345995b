//go:build race

package diskstore_test

// raceEnabled: the race detector slows SQLite (Go translated from C) some
// thirty times, so the heaviest tests do less under it.
const raceEnabled = true
