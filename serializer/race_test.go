//go:build race

package serializer_test

const raceEnabled = true
