//go:build !race

package diskstore_test

const raceEnabled = false
