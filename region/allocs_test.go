package region_test

import (
	"context"
	"testing"

	"github.com/corralcache/corral/region"
)

// TestGetOrCreateHitAllocs checks that a hit on a fresh value allocates
// nothing in the region, on a backend that keeps values, with and without
// call options. The race detector changes allocation counts, so the test
// command runs this test in a pass without it.
func TestGetOrCreateHitAllocs(t *testing.T) {
	if testing.CoverMode() != "" || raceEnabled {
		t.Skip("allocation counts differ under -cover and -race; scripts/test.sh runs this without them")
	}
	r := newRegion(t, region.Config{})
	ctx := context.Background()
	create := func(context.Context) (payload, error) { return payload{ID: 1}, nil }
	if _, err := region.GetOrCreate(ctx, r, "k", create); err != nil {
		t.Fatal(err)
	}
	var o region.Outcome
	for name, opts := range map[string][]region.CallOption{
		"no options":     nil,
		"report outcome": {region.ReportOutcome(&o)},
	} {
		if a := testing.AllocsPerRun(1000, func() { _, _ = region.GetOrCreate(ctx, r, "k", create, opts...) }); a != 0 {
			t.Errorf("%s: a hit allocates %v times, want 0", name, a)
		}
	}
	if o != region.OutcomeHit {
		t.Errorf("outcome %v, want hit", o)
	}
}
