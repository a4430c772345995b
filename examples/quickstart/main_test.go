package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestQuickstartTellsTheTruth runs the example and checks the claims it
// prints: one slow call for a thousand cold callers, stale values served
// during regeneration, and a fresh read after invalidation.
func TestQuickstartTellsTheTruth(t *testing.T) {
	var out bytes.Buffer
	if err := run(&out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"all 1000 got ada@example.com",
		"the slow function ran 1 time(s)",
		"99 were served the stale value at once, 1 regenerated it",
		"now everyone reads ada@lovelace.example",
		`"db.GetUser:i42" (recorded: true)`,
		"the next call reads countess@example.com from the database (slow calls: 3)",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
