package gens

import (
	"strconv"
	"testing"

	"github.com/corralcache/corral/serializer"
)

// TestTagCurrent: a value's tag is current only when its view was read,
// the counter exists, and the value's count is not behind it; Stamp
// stamps the counts the views hold.
func TestTagCurrent(t *testing.T) {
	var s Set
	a, b := s.Tag("a", "ka"), s.Tag("b", "kb")
	if a.Current(0) {
		t.Fatal("a tag not read yet is current")
	}
	a.Learn(Encode(5))
	b.Learn(Encode(2))
	g := s.Stamp(nil, a, b)
	if got := g.Tags.Slice(); len(got) != 2 || got[0] != (serializer.Tag{Name: "a", Gen: 5}) || got[1] != (serializer.Tag{Name: "b", Gen: 2}) {
		t.Fatalf("Stamp tags %v", got)
	}
	if !a.Current(5) || !b.Current(2) {
		t.Fatal("the stamped counts are not current")
	}
	b.Learn(Encode(3)) // b invalidated
	if b.Current(2) {
		t.Fatal("b invalidated: the old count is current")
	}
	a.Learn(nil) // a's counter lost
	if a.Current(5) || !a.Missing() {
		t.Fatal("a missing: its count is current")
	}
	a.Made(7)
	if a.Current(5) || !a.Current(7) {
		t.Fatal("a made again at 7: want 5 behind, 7 current")
	}
	if got := len(s.KnownTags()); got != 2 {
		t.Fatalf("KnownTags: %d, want a and b", got)
	}
	s.Tag("c", "kc") // known of, not read
	if got := len(s.KnownTags()); got != 2 {
		t.Fatalf("KnownTags after an unread tag: %d, want 2", got)
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
