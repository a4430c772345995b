package mcmeta

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"
)

func readOne(t *testing.T, wire string, maxValue int) (Reply, error) {
	t.Helper()
	var rep Reply
	err := ReadReply(bufio.NewReaderSize(strings.NewReader(wire), 64), &rep, maxValue)
	return rep, err
}

func TestReadReply(t *testing.T) {
	tests := []struct {
		name  string
		wire  string
		check func(r Reply) bool
	}{
		{"Value", "VA 3 c42 f7 t-1 s3\r\nabc\r\n", func(r Reply) bool {
			return r.Status == VA && string(r.Value) == "abc" && r.CAS == 42 && r.ClientFlags == 7 && r.TTL == -1 && r.Size == 3 && r.Has('c') && !r.Has('k')
		}},
		{"EmptyValue", "VA 0 c1 t30 f0 W\r\n\r\n", func(r Reply) bool {
			return r.Status == VA && r.Value != nil && len(r.Value) == 0 && r.Win && !r.WinSent && r.TTL == 30 && r.Has('f')
		}},
		{"ValueWithCRLF", "VA 8\r\nEN\r\nMN\r\n\r\n", func(r Reply) bool { return string(r.Value) == "EN\r\nMN\r\n" }},
		{"SentAndStale", "VA 2 c10 t30 Z X\r\nab\r\n", func(r Reply) bool { return r.WinSent && r.Stale && !r.Win }},
		{"Stored", "HD c5\r\n", func(r Reply) bool { return r.Status == HD && r.CAS == 5 && r.Value == nil }},
		{"Bare", "HD\r\n", func(r Reply) bool { return r.Status == HD && !r.Has('c') }},
		{"Miss", "EN\r\n", func(r Reply) bool { return r.Status == EN }},
		{"MissKeyOpaque", "EN O5 knope\r\n", func(r Reply) bool { return r.Status == EN && r.Opaque == "5" && r.Key == "nope" }},
		{"Base64Key", "HD b kYSBrZXk=\r\n", func(r Reply) bool { return r.Key == "a key" }},
		{"NotFound", "NF c0\r\n", func(r Reply) bool { return r.Status == NF && r.CAS == 0 && r.Has('c') }},
		{"NotStored", "NS\r\n", func(r Reply) bool { return r.Status == NS }},
		{"Exists", "EX\r\n", func(r Reply) bool { return r.Status == EX }},
		{"Noop", "MN\r\n", func(r Reply) bool { return r.Status == MN }},
		{"MaxCAS", "HD c18446744073709551615\r\n", func(r Reply) bool { return r.CAS == 1<<64-1 }},
		{"UnknownFlag", "HD h1 l30 c9\r\n", func(r Reply) bool { return r.CAS == 9 && r.Has('h') && r.Has('l') }},
		{"ServerError", "SERVER_ERROR object too large for cache\r\n", func(r Reply) bool {
			return r.Status == ServerError && r.Message == "object too large for cache"
		}},
		{"ClientError", "CLIENT_ERROR bad command line format\r\n", func(r Reply) bool {
			return r.Status == ClientError && r.Message == "bad command line format"
		}},
		{"Error", "ERROR\r\n", func(r Reply) bool { return r.Status == Error }},
		{"Number", "VA 13\r\n1700000000001\r\n", func(r Reply) bool { return string(r.Value) == "1700000000001" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := readOne(t, tc.wire, 0)
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(rep) {
				t.Fatalf("ReadReply(%q) = %+v", tc.wire, rep)
			}
		})
	}
}

func TestReadReplyMalformed(t *testing.T) {
	tests := []struct{ name, wire string }{
		{"NoCRLF", "HD\n"},
		{"Unknown", "XX\r\n"},
		{"TextProtocol", "VALUE k 0 1\r\na\r\nEND\r\n"},
		{"StatusTooLong", "HDX\r\n"},
		{"NoSize", "VA\r\n"},
		{"NegativeSize", "VA -1\r\n"},
		{"SizeNotANumber", "VA x\r\n"},
		{"SizeTooLarge", "VA 11\r\nabcdefghijk\r\n"},
		{"ValueNotEnded", "VA 1\r\nab\r\n"},
		{"BadCAS", "HD cx\r\n"},
		{"CASOverflow", "HD c18446744073709551616\r\n"},
		{"FlagsOverflow", "HD f4294967296\r\n"},
		{"EmptyFlag", "HD  c1\r\n"},
		{"FlagNotALetter", "HD 1\r\n"},
		{"BadBase64Key", "HD b k!!\r\n"},
		{"LongLine", "HD " + strings.Repeat("h1 ", 40) + "\r\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := readOne(t, tc.wire, 10)
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("ReadReply(%q) = %+v, %v; want ErrMalformed", tc.wire, rep, err)
			}
		})
	}
	for _, wire := range []string{"", "HD", "VA 3\r\nab"} {
		if _, err := readOne(t, wire, 0); !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("ReadReply(%q) = %v, want EOF or unexpected EOF", wire, err)
		}
	}
}

// TestReadReplyOwnsValue: a value stays as it was after the reader reads on.
func TestReadReplyOwnsValue(t *testing.T) {
	br := bufio.NewReaderSize(strings.NewReader("VA 2 kx\r\nab\r\nVA 2 ky\r\ncd\r\n"), 16)
	var a, b Reply
	if err := ReadReply(br, &a, 0); err != nil {
		t.Fatal(err)
	}
	if err := ReadReply(br, &b, 0); err != nil {
		t.Fatal(err)
	}
	if string(a.Value) != "ab" || a.Key != "x" || string(b.Value) != "cd" || b.Key != "y" {
		t.Fatalf("replies %+v and %+v", a, b)
	}
	if cap(a.Value) != 2 {
		t.Fatalf("a value has capacity %d: an append would write past it", cap(a.Value))
	}
}

func TestAtLeast(t *testing.T) {
	tests := []struct {
		v    string
		want bool
	}{
		{"1.6.10", true}, {"1.6.18", true}, {"1.6.18-dev", true}, {"1.10.0", true}, {"2.0.0", true},
		{"1.6.9", false}, {"1.5.22", false}, {"1.4.39", false}, {"", false}, {"1.6", false}, {"x.y.z", false},
	}
	for _, tc := range tests {
		if got := AtLeast(tc.v, MinVersion); got != tc.want {
			t.Errorf("AtLeast(%q) = %t, want %t", tc.v, got, tc.want)
		}
	}
}
