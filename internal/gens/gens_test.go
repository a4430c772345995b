package gens

import (
	"strconv"
	"testing"

	"github.com/corralcache/corral/serializer"
)

// TestJudgeTags: a value's tags retire it when a tag is unknown (not read
// yet), missing on the backend, or counted past what the value carries.
func TestJudgeTags(t *testing.T) {
	var s Set
	a, b := s.Tag("a", "ka"), s.Tag("b", "kb")
	a.Learn(Encode(5))
	b.Learn(Encode(2))
	g := s.Stamp(nil, a, b)
	if got := g.Tags.Slice(); len(got) != 2 || got[0] != (serializer.Tag{Name: "a", Gen: 5}) || got[1] != (serializer.Tag{Name: "b", Gen: 2}) {
		t.Fatalf("Stamp tags %v", got)
	}
	if f := s.Judge(&g, nil); f != Current {
		t.Fatalf("current tags: %v", f)
	}
	b.Learn(Encode(3)) // b invalidated
	if f := s.Judge(&g, nil); f != Retired {
		t.Fatalf("b invalidated: %v, want Retired", f)
	}
	g = s.Stamp(nil, a, b)
	a.Learn(nil) // a's counter lost
	if f := s.Judge(&g, nil); f != Retired {
		t.Fatalf("a missing: %v, want Retired", f)
	}
	a.Made(7)
	if f := s.Judge(&g, nil); f != Retired {
		t.Fatalf("a made again past the stamp: %v, want Retired", f)
	}
	if g := s.Stamp(nil, a, b); s.Judge(&g, nil) != Current {
		t.Fatal("a value stamped after: not Current")
	}
	// A tag this set never read.
	unknown := serializer.Gens{Tags: serializer.MakeTags([]serializer.Tag{{Name: "c", Gen: 1}})}
	if f := s.Judge(&unknown, nil); f != Retired {
		t.Fatalf("an unknown tag: %v, want Retired", f)
	}
	s.Tag("c", "kc") // known of, not read
	if f := s.Judge(&unknown, nil); f != Retired {
		t.Fatalf("a tag not read yet: %v, want Retired", f)
	}
	if got := len(s.KnownTags()); got != 2 {
		t.Fatalf("KnownTags: %d, want a and b", got)
	}
}

// TestTagViewsBounded: past MaxTagViews the set forgets its views; each is
// read again when next needed.
func TestTagViewsBounded(t *testing.T) {
	var s Set
	first := s.Tag("t0", "k0")
	first.Learn(Encode(1))
	for i := 1; i <= MaxTagViews; i++ {
		s.Tag("t"+strconv.Itoa(i), "k")
	}
	if v, ok := s.LookupTag("t0"); ok && v == first {
		t.Fatal("the views were not forgotten past MaxTagViews")
	}
	if n := s.ntags.Load(); n > MaxTagViews {
		t.Fatalf("%d views kept", n)
	}
}
