package mcmeta

import (
	"errors"
	"strings"
	"testing"
)

func TestAppendRequest(t *testing.T) {
	tests := []struct {
		name string
		req  Request
		want string
	}{
		{"Get", Request{Cmd: Get, Key: "k", Flags: Flags(nil).Int('N', 30).Flag('c').Flag('v').Flag('t').Flag('f')}, "mg k N30 c v t f\r\n"},
		{"GetNoFlags", Request{Cmd: Get, Key: "k"}, "mg k\r\n"},
		{"Set", Request{Cmd: Set, Key: "k", Value: []byte("abc"), Flags: Flags(nil).Uint('C', 42).Int('T', -1).Uint('F', 7).Flag('c')}, "ms k 3 C42 T-1 F7 c\r\nabc\r\n"},
		{"SetEmpty", Request{Cmd: Set, Key: "k", Flags: Flags(nil).Token('M', "A")}, "ms k 0 MA\r\n\r\n"},
		{"SetCRLFInValue", Request{Cmd: Set, Key: "k", Value: []byte("a\r\nmn\r\n")}, "ms k 7\r\na\r\nmn\r\n\r\n"},
		{"Delete", Request{Cmd: Delete, Key: "k", Flags: Flags(nil).Flag('I').Int('T', 30).Flag('q')}, "md k I T30 q\r\n"},
		{"Arithmetic", Request{Cmd: Arithmetic, Key: "g", Flags: Flags(nil).Int('N', 0).Uint('J', 1700000000000).Int('D', 0).Flag('v')}, "ma g N0 J1700000000000 D0 v\r\n"},
		{"Noop", Request{Cmd: Noop}, "mn\r\n"},
		{"Base64", Request{Cmd: Get, Key: "a key\n", Base64: true, Flags: Flags(nil).Flag('v').Token('O', "17")}, "mg YSBrZXkK b v O17\r\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := AppendRequest([]byte("prefix:"), &tc.req)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != "prefix:"+tc.want {
				t.Fatalf("AppendRequest = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestAppendRequestRefused(t *testing.T) {
	tests := []struct {
		name string
		req  Request
	}{
		{"NoCommand", Request{Key: "k"}},
		{"UnknownCommand", Request{Cmd: 99, Key: "k"}},
		{"EmptyKey", Request{Cmd: Get}},
		{"LongKey", Request{Cmd: Get, Key: strings.Repeat("k", MaxKeyLen+1)}},
		{"LongBase64Key", Request{Cmd: Get, Key: strings.Repeat("k", MaxKeyLen+1), Base64: true}},
		{"SpaceInKey", Request{Cmd: Get, Key: "a b"}},
		{"NewlineInKey", Request{Cmd: Set, Key: "a\r\nmn"}},
		{"DELInKey", Request{Cmd: Get, Key: "a\x7f"}},
		{"CRLFInToken", Request{Cmd: Get, Key: "k", Flags: Flags(nil).Token('O', "x\r\nmn")}},
		{"FlagNotALetter", Request{Cmd: Get, Key: "k", Flags: Flags(" 1")}},
		{"DoubleSpace", Request{Cmd: Get, Key: "k", Flags: Flags("  v")}},
		{"TrailingSpace", Request{Cmd: Get, Key: "k", Flags: Flags(" v ")}},
		{"NoLeadingSpace", Request{Cmd: Get, Key: "k", Flags: Flags("v")}},
		{"NoopWithKey", Request{Cmd: Noop, Key: "k"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := AppendRequest([]byte("x"), &tc.req)
			if !errors.Is(err, ErrBadRequest) {
				t.Fatalf("AppendRequest = %q, %v; want ErrBadRequest", got, err)
			}
			if string(got) != "x" {
				t.Fatalf("AppendRequest changed dst to %q on error", got)
			}
		})
	}
}

func TestQuiet(t *testing.T) {
	if r := (Request{Cmd: Get, Key: "k", Flags: Flags(nil).Flag('v').Flag('q')}); !r.Quiet() {
		t.Error("a request with q is not quiet")
	}
	if r := (Request{Cmd: Get, Key: "k", Flags: Flags(nil).Token('O', "q")}); r.Quiet() {
		t.Error("a request with the opaque token q is quiet")
	}
}
