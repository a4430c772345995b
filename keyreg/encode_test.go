package keyreg_test

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/corralcache/corral/keyreg"
)

type (
	myInt    int
	myString string
	myBytes  []byte
	myMap    map[string]int
)

type point struct {
	X, Y int
}

type user struct {
	Name  string
	Age   uint8
	Tags  []string
	Where *point
	Meta  map[string]any
	_     int
}

type hidden struct {
	Name   string
	secret int
}

// upper encodes by value receiver as its upper-cased form.
type upper string

func (u upper) AppendCacheKey(dst []byte) []byte { return append(dst, strings.ToUpper(string(u))...) }

// ptrEnc encodes through a pointer receiver.
type ptrEnc struct{ n int }

func (p *ptrEnc) AppendCacheKey(dst []byte) []byte { return fmt.Appendf(dst, "P%d", p.n) }

type badText struct{}

func (badText) MarshalText() ([]byte, error) { return nil, errors.New("boom") }

type node struct {
	Next *node
}

func mustArgs(t *testing.T, args ...any) string {
	t.Helper()
	b, err := keyreg.AppendArgs(nil, args...)
	if err != nil {
		t.Fatalf("AppendArgs(%#v) = %v", args, err)
	}
	return string(b)
}

func TestAppendArgs(t *testing.T) {
	i := 7
	epoch1 := time.Unix(1, 0)
	var nilPtr *int
	var nilSlice []int
	var nilMap map[string]int
	tests := []struct {
		name string
		args []any
		want string
	}{
		{"none", nil, ""},
		{"nil", []any{nil}, "n"},
		{"bools", []any{true, false}, "t,f"},
		{"int", []any{42}, "i42"},
		{"negative", []any{-7}, "i-7"},
		{"int8", []any{int8(-128)}, "i-128"},
		{"int16", []any{int16(300)}, "i300"},
		{"int32", []any{int32(5)}, "i5"},
		{"int64 min", []any{int64(math.MinInt64)}, "i-9223372036854775808"},
		{"uint", []any{uint(42)}, "u42"},
		{"uint8", []any{uint8(255)}, "u255"},
		{"uint16", []any{uint16(1)}, "u1"},
		{"uint32", []any{uint32(2)}, "u2"},
		{"uint64 max", []any{uint64(math.MaxUint64)}, "u18446744073709551615"},
		{"uintptr", []any{uintptr(3)}, "u3"},
		{"float64", []any{1.5}, "d1.5"},
		{"float64 big", []any{1e21}, "d1e+21"},
		{"float32 widened", []any{float32(0.5)}, "d0.5"},
		{"negative zero", []any{math.Copysign(0, -1)}, "d-0"},
		{"NaN", []any{math.NaN()}, "dNaN"},
		{"Inf", []any{math.Inf(1), math.Inf(-1)}, "d+Inf,d-Inf"},
		{"complex", []any{complex(1, -2)}, "c(1-2i)"},
		{"complex64", []any{complex64(complex(0.5, 1))}, "c(0.5+1i)"},
		{"string", []any{"hello"}, "s5:hello"},
		{"empty string", []any{""}, "s0:"},
		{"string with separators", []any{"a:b,c"}, "s5:a:b,c"},
		{"utf8 length in bytes", []any{"é"}, "s2:é"},
		{"bytes", []any{[]byte("hi")}, "b6869"},
		{"empty bytes", []any{[]byte{}}, "b"},
		{"byte array", []any{[2]byte{0xab, 0x01}}, "bab01"},
		{"named int", []any{myInt(3)}, "i3"},
		{"duration", []any{2 * time.Second}, "i2000000000"},
		{"named string", []any{myString("x")}, "s1:x"},
		{"named bytes", []any{myBytes("x")}, "b78"},
		{"pointer", []any{&i}, "i7"},
		{"nil pointer", []any{nilPtr}, "n"},
		{"slice", []any{[]int{1, 2}}, "[i1,i2]"},
		{"nil slice", []any{nilSlice}, "[]"},
		{"empty slice", []any{[]int{}}, "[]"},
		{"array", []any{[2]string{"a", "b"}}, "[s1:a,s1:b]"},
		{"slice of any", []any{[]any{1, "a", nil}}, "[i1,s1:a,n]"},
		{"map", []any{map[string]int{"b": 2, "a": 1}}, "{s1:a=i1,s1:b=i2}"},
		{"nil map", []any{nilMap}, "{}"},
		{"named map", []any{myMap{"z": 0}}, "{s1:z=i0}"},
		{"map int keys", []any{map[int]bool{10: true, 9: false}}, "{i10=t,i9=f}"},
		{"struct", []any{point{1, 2}}, "(X=i1,Y=i2)"},
		{"struct pointer", []any{&point{1, 2}}, "(X=i1,Y=i2)"},
		{"nested struct", []any{user{
			Name: "Bob", Age: 30, Tags: []string{"x"}, Where: &point{3, 4},
			Meta: map[string]any{"k": []int{1}},
		}}, "(Name=s3:Bob,Age=u30,Tags=[s1:x],Where=(X=i3,Y=i4),Meta={s1:k=[i1]})"},
		{"empty struct", []any{struct{}{}}, "()"},
		{"time", []any{time.Date(2024, 1, 2, 3, 4, 5, 6, time.UTC)}, "T2024-01-02T03:04:05.000000006Z"},
		{"time in struct", []any{struct{ At time.Time }{time.Unix(0, 0)}}, "(At=T1970-01-01T00:00:00Z)"},
		{"time pointer", []any{&epoch1}, "T1970-01-01T00:00:01Z"},
		{"KeyEncoder", []any{upper("ab")}, "k2:AB"},
		{"KeyEncoder pointer receiver", []any{ptrEnc{5}}, "k2:P5"},
		{"KeyEncoder pointer", []any{&ptrEnc{6}}, "k2:P6"},
		{"KeyEncoder nil pointer", []any{(*ptrEnc)(nil)}, "n"},
		{"KeyEncoder in slice", []any{[]ptrEnc{{1}, {2}}}, "[k2:P1,k2:P2]"},
		{"TextMarshaler", []any{net.IPv4(10, 0, 0, 1)}, "m8:10.0.0.1"},
		{"TextMarshaler pointer receiver", []any{big.NewInt(12345)}, "m5:12345"},
		{"several", []any{1, "a", true}, "i1,s1:a,t"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mustArgs(t, tt.args...); got != tt.want {
				t.Errorf("AppendArgs(%#v) = %q, want %q", tt.args, got, tt.want)
			}
		})
	}
}

func TestAppendArgsAppends(t *testing.T) {
	b, err := keyreg.AppendArgs([]byte("pre|"), 1)
	if err != nil || string(b) != "pre|i1" {
		t.Errorf("AppendArgs(pre|, 1) = %q, %v; want %q", b, err, "pre|i1")
	}
}

func TestTimeZones(t *testing.T) {
	utc := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	zones := []*time.Location{time.FixedZone("A", 3600), time.FixedZone("B", -5*3600), time.Local}
	want := mustArgs(t, utc)
	for _, z := range zones {
		if got := mustArgs(t, utc.In(z)); got != want {
			t.Errorf("zone %v: %q, want %q", z, got, want)
		}
	}
	// The monotonic reading does not matter either.
	now := time.Now()
	if a, b := mustArgs(t, now), mustArgs(t, now.Round(0)); a != b {
		t.Errorf("with monotonic clock %q, without %q", a, b)
	}
}

func TestMapOrderIndependent(t *testing.T) {
	a := map[string]int{}
	b := map[string]int{}
	for i := range 100 {
		a[fmt.Sprint(i)] = i
	}
	for i := 99; i >= 0; i-- {
		b[fmt.Sprint(i)] = i
	}
	want := mustArgs(t, a)
	for range 20 { // map iteration order is randomised per range
		if got := mustArgs(t, b); got != want {
			t.Fatalf("same map, different keys:\n%q\n%q", got, want)
		}
	}
	// Keys that encode alike (int and int64 1) still give a fixed order.
	m := map[any]string{1: "x", int64(1): "y"}
	want = mustArgs(t, m)
	for range 20 {
		if got := mustArgs(t, m); got != want {
			t.Fatalf("map[any] with equal encoded keys: %q then %q", want, got)
		}
	}
}

// TestInjective lists argument lists that must not share an encoding.
func TestInjective(t *testing.T) {
	type pair struct {
		name string
		a, b []any
	}
	pairs := []pair{
		{"joined vs split", []any{"a:b"}, []any{"a", "b"}},
		{"comma joined vs split", []any{"a,b"}, []any{"a", "b"}},
		{"string vs int", []any{"1"}, []any{1}},
		{"int vs uint", []any{1}, []any{uint(1)}},
		{"int vs float", []any{1}, []any{1.0}},
		{"bool vs string", []any{true}, []any{"t"}},
		{"string vs bytes", []any{"a"}, []any{[]byte("a")}},
		{"slice elems", []any{[]string{"a,b"}}, []any{[]string{"a", "b"}}},
		{"nested vs flat", []any{[]any{1, 2}}, []any{1, 2}},
		{"slice vs list", []any{[]int{1}}, []any{1}},
		{"nil vs empty slice", []any{nil}, []any{[]int{}}},
		{"nil vs empty string", []any{nil}, []any{""}},
		{"empty string vs no args", []any{""}, nil},
		{"zero vs negative zero", []any{0.0}, []any{math.Copysign(0, -1)}},
		{"struct vs map", []any{point{1, 2}}, []any{map[string]int{"X": 1, "Y": 2}}},
		{"string containing a token", []any{"s1:a"}, []any{"a"}},
		{"length prefix", []any{"ab", "c"}, []any{"a", "bc"}},
		{"map split", []any{map[string]string{"a": "b,c=d"}}, []any{map[string]string{"a": "b", "c": "d"}}},
		{"number digits", []any{12, 3}, []any{1, 23}},
		{"TextMarshaler vs string", []any{net.IPv4(1, 2, 3, 4)}, []any{"1.2.3.4"}},
		{"field names", []any{struct{ A, B int }{1, 2}}, []any{struct{ B, A int }{1, 2}}},
		{"instants", []any{time.Unix(0, 1)}, []any{time.Unix(0, 2)}},
	}
	for _, p := range pairs {
		t.Run(p.name, func(t *testing.T) {
			a, b := mustArgs(t, p.a...), mustArgs(t, p.b...)
			if a == b {
				t.Errorf("%#v and %#v both encode as %q", p.a, p.b, a)
			}
		})
	}
}

func TestUnencodable(t *testing.T) {
	cyc := &node{}
	cyc.Next = cyc
	selfMap := map[string]any{}
	selfMap["me"] = selfMap
	var x int
	tests := []struct {
		name string
		args []any
		want string // substring of the message
	}{
		{"func", []any{1, 2, func() {}}, "argument 2 (func()) cannot be encoded"},
		{"chan", []any{1, 2, make(chan int)}, "argument 2 (chan int) cannot be encoded"},
		{"unsafe pointer", []any{unsafe.Pointer(&x)}, "argument 0 (unsafe.Pointer)"},
		{"chan in struct", []any{struct{ C chan int }{}}, "at .C: chan int values are not supported"},
		{"func in slice", []any{[]any{1, func() {}}}, "at [1]: func() values"},
		{"func in map value", []any{map[string]any{"f": func() {}}}, "at {value}"},
		{"unexported field", []any{"a", hidden{}}, "argument 1 (keyreg_test.hidden) cannot be encoded: keyreg_test.hidden has unexported field secret"},
		{"pointer cycle", []any{cyc}, "nested deeper than 32"},
		{"map cycle", []any{selfMap}, "nested deeper than 32"},
		{"failing MarshalText", []any{badText{}}, "MarshalText of keyreg_test.badText failed: boom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := keyreg.AppendArgs(nil, tt.args...)
			if !errors.Is(err, keyreg.ErrUnencodable) {
				t.Fatalf("AppendArgs = %v, want ErrUnencodable", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
			if _, err := keyreg.Key("ns", tt.args...); !errors.Is(err, keyreg.ErrUnencodable) {
				t.Errorf("Key = %v, want ErrUnencodable", err)
			}
		})
	}
}

func TestDepthBound(t *testing.T) {
	var v any = 1
	for range 31 {
		v = []any{v}
	}
	if _, err := keyreg.AppendArgs(nil, v); err != nil {
		t.Errorf("31 levels: %v, want nil", err)
	}
	v = []any{[]any{[]any{v}}}
	if _, err := keyreg.AppendArgs(nil, v); !errors.Is(err, keyreg.ErrUnencodable) {
		t.Errorf("34 levels: %v, want ErrUnencodable", err)
	}
}

func TestKey(t *testing.T) {
	tests := []struct {
		ns   string
		args []any
		want string
	}{
		{"pkg.GetUser", []any{42}, "pkg.GetUser:i42"},
		{"pkg.Search", []any{"go", 10}, "pkg.Search:s2:go,i10"},
		{"pkg.Now", nil, "pkg.Now:"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			got, err := keyreg.Key(tt.ns, tt.args...)
			if err != nil || got != tt.want {
				t.Errorf("Key(%q, %v) = %q, %v; want %q", tt.ns, tt.args, got, err, tt.want)
			}
		})
	}
}

func TestKeyLong(t *testing.T) {
	long := strings.Repeat("x", 1000)
	got, err := keyreg.Key("ns", long)
	if want := "ns:s1000:" + long; err != nil || got != want {
		t.Errorf("Key of a long string = %q, %v", got, err)
	}
}

func GetUser(int) string { return "" }

type service struct{}

func (service) Method() {}

func TestFuncName(t *testing.T) {
	closure := func() {}
	tests := []struct {
		name string
		fn   any
		want string
	}{
		{"func", GetUser, "github.com/corralcache/corral/keyreg_test.GetUser"},
		{"stdlib", strings.ToUpper, "strings.ToUpper"},
		{"method expression", service.Method, "github.com/corralcache/corral/keyreg_test.service.Method"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := keyreg.FuncName(tt.fn)
			if err != nil || got != tt.want {
				t.Errorf("FuncName = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	var nilFunc func()
	for _, bad := range []any{nil, nilFunc, 42} {
		if got, err := keyreg.FuncName(bad); err == nil {
			t.Errorf("FuncName(%#v) = %q, want an error", bad, got)
		}
	}
	// Names shared by several functions, or that change with edits: two
	// receivers' method values, two instantiations of a generic function,
	// closures (nested too) would otherwise get one identity each.
	a, b := &tenant{id: 1}, &tenant{id: 2}
	nested := func() func() { return func() {} }()
	for name, fn := range map[string]any{
		"method value a":  a.Load,
		"method value b":  b.Load,
		"generic int":     generic[int],
		"generic string":  generic[string],
		"closure":         closure,
		"nested closure":  nested,
		"package literal": packageLiteral,
	} {
		got, err := keyreg.FuncName(fn)
		if !errors.Is(err, keyreg.ErrNoStableName) {
			t.Errorf("%s: FuncName = %q, %v; want an error wrapping ErrNoStableName", name, got, err)
		}
	}
}

type tenant struct{ id int }

func (t *tenant) Load(int) int { return t.id }

func generic[T any](T) T { var zero T; return zero }

var packageLiteral = func() {}

type tuple struct {
	s string
	i int64
	f float64
	b bool
	p []byte
}

func FuzzAppendArgs(f *testing.F) {
	f.Add("a", int64(1), 1.0, true, []byte("x"), "a", int64(1), 1.0, true, []byte("x"))
	f.Add("a:b", int64(0), 0.0, false, []byte{}, "a", int64(0), 0.0, false, []byte(":b"))
	f.Add("", int64(-1), math.Inf(1), false, []byte(nil), "s0:", int64(1), math.NaN(), true, []byte{0})
	f.Fuzz(func(t *testing.T, s1 string, i1 int64, f1 float64, b1 bool, p1 []byte, s2 string, i2 int64, f2 float64, b2 bool, p2 []byte) {
		x := tuple{s1, i1, f1, b1, p1}
		y := tuple{s2, i2, f2, b2, p2}
		ex, err := keyreg.AppendArgs(nil, x.s, x.i, x.f, x.b, x.p)
		if err != nil {
			t.Fatal(err)
		}
		ey, err := keyreg.AppendArgs(nil, y.s, y.i, y.f, y.b, y.p)
		if err != nil {
			t.Fatal(err)
		}
		if equal := string(ex) == string(ey); equal != tupleEqual(x, y) {
			t.Errorf("%+v -> %q\n%+v -> %q\nencodings equal %v, inputs equal %v", x, ex, y, ey, equal, !equal)
		}
		// Wrapped in a struct and a slice, the same must hold.
		type wrap struct {
			S string
			L []any
		}
		wx, err := keyreg.AppendArgs(nil, wrap{x.s, []any{x.i, x.f, x.b, x.p}})
		if err != nil {
			t.Fatal(err)
		}
		wy, err := keyreg.AppendArgs(nil, wrap{y.s, []any{y.i, y.f, y.b, y.p}})
		if err != nil {
			t.Fatal(err)
		}
		if (string(wx) == string(wy)) != tupleEqual(x, y) {
			t.Errorf("wrapped: %q vs %q", wx, wy)
		}
	})
}

// tupleEqual is the equality the encoding respects: floats by bits, except
// that every NaN is one value.
func tupleEqual(x, y tuple) bool {
	fe := math.Float64bits(x.f) == math.Float64bits(y.f) || (math.IsNaN(x.f) && math.IsNaN(y.f))
	return x.s == y.s && x.i == y.i && fe && x.b == y.b && string(x.p) == string(y.p)
}

func BenchmarkKey(b *testing.B) {
	b.Run("int", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if _, err := keyreg.Key("github.com/x/y.GetUser", 1000+i%1000); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("string", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := keyreg.Key("github.com/x/y.GetUser", "alice@example.com"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("struct", func(b *testing.B) {
		b.ReportAllocs()
		arg := user{Name: "Bob", Age: 30, Tags: []string{"a", "b"}, Where: &point{1, 2}}
		for b.Loop() {
			if _, err := keyreg.Key("github.com/x/y.Find", arg); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func ExampleKey() {
	key, err := keyreg.Key("github.com/x/y.GetUser", 42, "eu")
	fmt.Println(key, err)

	type filter struct {
		Name  string
		Limit int
	}
	key, _ = keyreg.Key("github.com/x/y.Find", filter{"bob", 10}, map[string]bool{"b": true, "a": false})
	fmt.Println(key)

	_, err = keyreg.Key("github.com/x/y.Watch", make(chan int))
	fmt.Println(errors.Is(err, keyreg.ErrUnencodable), err)
	// Output:
	// github.com/x/y.GetUser:i42,s2:eu <nil>
	// github.com/x/y.Find:(Name=s3:bob,Limit=i10),{s1:a=f,s1:b=t}
	// true keyreg: argument 0 (chan int) cannot be encoded: chan int values are not supported
}

func ExampleFuncName() {
	name, _ := keyreg.FuncName(strings.ToUpper)
	fmt.Println(name)
	// Output: strings.ToUpper
}

func TestExtends(t *testing.T) {
	key := func(args ...any) string {
		t.Helper()
		k, err := keyreg.Key("f", args...)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	for _, tc := range []struct {
		key, prefix string
		want        bool
	}{
		{key("GET /a", "en"), key("GET /a"), true},
		{key("GET /a", "en", 3), key("GET /a"), true},
		{key("GET /a", "en", 3), key("GET /a", "en"), true},
		{key("GET /a"), key("GET /a"), false},
		{key("GET /ab", "en"), key("GET /a"), false},
		{key(42, "x"), key(4), false},
		{key([]string{"a", "b"}, "x"), key([]string{"a"}), false},
		{key("a,b"), key("a"), false},
	} {
		if got := keyreg.Extends(tc.key, tc.prefix); got != tc.want {
			t.Errorf("Extends(%q, %q) = %v, want %v", tc.key, tc.prefix, got, tc.want)
		}
	}
}
