package keyreg

import (
	"bytes"
	"encoding"
	"errors"
	"fmt"
	"math"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ErrUnencodable is returned (wrapped) by [AppendArgs] and [Key] when an
// argument holds a value that has no canonical encoding: a func, a channel,
// an unsafe pointer, a struct with unexported fields, a value nested deeper
// than 32 levels (which is how cycles surface), or a custom encoder that
// failed. The wrapping error names the argument's position and type.
var ErrUnencodable = errors.New("keyreg: argument cannot be encoded")

// maxDepth bounds the nesting of composite values and pointers; deeper values
// (including pointer cycles) are unencodable.
const maxDepth = 32

// KeyEncoder is implemented by types that choose their own key encoding.
//
// AppendCacheKey appends the value's canonical bytes to dst and returns the
// extended slice. Equal values must append equal bytes and different values
// different bytes; the encoder frames the result with its length, so the
// bytes may contain anything.
type KeyEncoder interface {
	AppendCacheKey(dst []byte) []byte
}

var (
	keyEncoderType    = reflect.TypeFor[KeyEncoder]()
	textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()
	timeType          = reflect.TypeFor[time.Time]()
)

// encodeError is the error behind ErrUnencodable: it names the argument's
// position and type, and where inside the argument the problem lies.
type encodeError struct {
	arg    int
	typ    string // type of the argument
	path   string // where inside the argument, e.g. ".Opts[2]"; empty at the top
	reason string
	cause  error // from a TextMarshaler, if any
}

func (e *encodeError) Error() string {
	msg := fmt.Sprintf("keyreg: argument %d (%s) cannot be encoded", e.arg, e.typ)
	if e.path != "" {
		msg += ": at " + e.path
	}
	if e.reason != "" {
		msg += ": " + e.reason
	}
	if e.cause != nil {
		msg += ": " + e.cause.Error()
	}
	return msg
}

func (e *encodeError) Unwrap() []error {
	if e.cause != nil {
		return []error{ErrUnencodable, e.cause}
	}
	return []error{ErrUnencodable}
}

// AppendArgs appends the canonical encoding of args to dst and returns the
// extended slice. It returns an error wrapping [ErrUnencodable], naming the
// argument's position (counted from 0) and type, when an argument cannot be
// encoded; dst's contents beyond its original length are then unspecified.
//
// The encoding is deterministic (the same arguments give the same bytes in
// every process, run and Go version) and injective up to the equivalences
// listed below: different argument lists give different bytes. Arguments are
// separated by ',' and each is a type-tagged token that stays readable in a
// backend's key listing:
//
//   - nil (a nil interface or nil pointer): n
//   - bool: t or f
//   - signed integers: i42, i-7; unsigned integers: u42
//   - floats: d followed by strconv's shortest 'g' form of the float64 value
//     (d1.5, d1e+21, dNaN, d+Inf); float32 values are widened to float64
//   - complex numbers: c(1+2i)
//   - strings: s<byte length>:<bytes>, e.g. s5:hello, so separators inside a
//     string never collide with the framing
//   - []byte: b followed by lowercase hex
//   - time.Time: T followed by the instant in UTC, RFC 3339 with nanoseconds;
//     the zone and monotonic reading are ignored, so one instant seen from
//     different zones gives one key
//   - slices and arrays: [e1,e2]
//   - maps: {k1=v1,k2=v2} with the pairs sorted by their encoded bytes, so
//     the insertion order does not matter
//   - structs: (Name=v1,Age=v2), exported fields in declaration order; a
//     struct with an unexported field (other than _) is unencodable, since
//     ignoring the field would let different arguments share a cached result
//   - pointers encode as the value they point to
//
// Named types encode like their underlying kind, so time.Duration(5) and
// int64(5) give the same bytes, as do int8(5) and int(5); so do a value and a
// pointer to it. A nil slice or map encodes like an empty one, because Go code
// rarely distinguishes them.
//
// Types may choose their encoding. Precedence, checked on each value and on
// pointers before they are followed: [KeyEncoder] (k<len>:<bytes>); then
// time.Time; then encoding.TextMarshaler (m<len>:<text>); then the kind
// rules above. A method with a pointer receiver is used for addressable
// values and for values a pointer points to.
//
// Funcs, channels, unsafe pointers and values nested more than 32 levels
// deep (pointer cycles among them) are unencodable.
func AppendArgs(dst []byte, args ...any) ([]byte, error) {
	for i, a := range args {
		if i > 0 {
			dst = append(dst, ',')
		}
		var ok bool
		if dst, ok = appendScalar(dst, a); ok {
			continue
		}
		var err *encodeError
		dst, err = appendValue(dst, reflect.ValueOf(a), 0)
		if err != nil {
			err.arg = i
			err.typ = fmt.Sprintf("%T", a)
			return dst, err
		}
	}
	return dst, nil
}

// Extends reports whether key was derived by [Key] from the arguments prefix
// was derived from, followed by one or more further arguments: Key(ns, a, b)
// extends Key(ns, a). Each argument's encoding is self-delimiting, so a key
// extends prefix only when its leading arguments equal prefix's.
func Extends(key, prefix string) bool {
	return len(key) > len(prefix)+1 && key[len(prefix)] == ',' && key[:len(prefix)] == prefix
}

// Key returns namespace + ":" + the canonical encoding of args (see
// [AppendArgs]). The same namespace and arguments give the same key in every
// process, run and Go version. It returns an error wrapping
// [ErrUnencodable] when an argument cannot be encoded.
//
// Keys of one namespace never collide. A namespace containing ':' may in
// principle produce the key of another namespace's arguments; function names
// from [FuncName] contain none.
func Key(namespace string, args ...any) (string, error) {
	// Scalars are encoded in a stack buffer; anything else takes the
	// reflective path, whose buffer escapes.
	var buf [128]byte
	b := append(buf[:0], namespace...)
	b = append(b, ':')
	for i, a := range args {
		if i > 0 {
			b = append(b, ',')
		}
		var ok bool
		if b, ok = appendScalar(b, a); !ok {
			return keySlow(namespace, args)
		}
	}
	return string(b), nil
}

func keySlow(namespace string, args []any) (string, error) {
	b := make([]byte, 0, 128)
	b = append(b, namespace...)
	b = append(b, ':')
	b, err := AppendArgs(b, args...)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// ErrNoStableName is returned (wrapped) by [FuncName] for functions whose
// runtime name is shared with other functions or changes with unrelated
// edits: pass such functions an explicit name.
var ErrNoStableName = errors.New("keyreg: function has no unique, stable name")

// FuncName returns the default identity of the function fn: its fully
// qualified name as runtime.FuncForPC reports it, for example
// "github.com/x/y.GetUser". It returns an error when fn is nil or not a
// func, and one wrapping [ErrNoStableName] when the name cannot identify fn:
//
//   - method values ("pkg.(*T).M-fm"): every receiver of the type shares the
//     name, so one receiver's results would be served for another's;
//   - generic functions ("pkg.F[...]"): every instantiation shares the name,
//     so bytes written for one type would be read as another;
//   - closures and function literals ("pkg.f.func1", "pkg.glob..func1"):
//     several closures of one function, with different captured values,
//     share it, and the number changes when the surrounding code is edited.
//
// Top-level functions and method expressions ("pkg.T.M") have unique,
// stable names; they change only when the function is renamed or moved.
func FuncName(fn any) (string, error) {
	v := reflect.ValueOf(fn)
	if v.Kind() != reflect.Func {
		return "", fmt.Errorf("keyreg: FuncName of %T: not a func", fn)
	}
	if v.IsNil() {
		return "", fmt.Errorf("keyreg: FuncName of nil %T", fn)
	}
	f := runtime.FuncForPC(v.Pointer())
	if f == nil {
		return "", fmt.Errorf("keyreg: FuncName of %T: no name known", fn)
	}
	name := f.Name()
	if why := unstableName(name); why != "" {
		return "", fmt.Errorf("%w: %q is %s; name it explicitly", ErrNoStableName, name, why)
	}
	return name, nil
}

// unstableName says why a runtime function name cannot identify one
// function, or returns "" when it can.
func unstableName(name string) string {
	switch {
	case strings.HasSuffix(name, "-fm"):
		return "a method value, whose name every receiver shares"
	case strings.Contains(name, "[...]"):
		return "a generic function, whose name every instantiation shares"
	case isClosureName(name):
		return "a closure, whose name is shared by its instances and changes with edits"
	}
	return ""
}

// isClosureName reports whether name has an element "funcN" (the compiler's
// name for function literals), as in "pkg.f.func1", "pkg.f.func1.2" or
// "pkg.glob..func1".
func isClosureName(name string) bool {
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		name = name[i+1:]
	}
	for _, part := range strings.Split(name, ".") {
		if digits, ok := strings.CutPrefix(part, "func"); ok && digits != "" && strings.Trim(digits, "0123456789") == "" {
			return true
		}
	}
	return false
}

// appendScalar is the fast path: it encodes the common scalar types without
// reflection and reports whether a was one of them.
func appendScalar(dst []byte, a any) ([]byte, bool) {
	switch x := a.(type) {
	case nil:
		return append(dst, 'n'), true
	case string:
		return appendString(dst, 's', x), true
	case int:
		return strconv.AppendInt(append(dst, 'i'), int64(x), 10), true
	case int64:
		return strconv.AppendInt(append(dst, 'i'), x, 10), true
	case int32:
		return strconv.AppendInt(append(dst, 'i'), int64(x), 10), true
	case uint:
		return strconv.AppendUint(append(dst, 'u'), uint64(x), 10), true
	case uint64:
		return strconv.AppendUint(append(dst, 'u'), x, 10), true
	case uint32:
		return strconv.AppendUint(append(dst, 'u'), uint64(x), 10), true
	case bool:
		return appendBool(dst, x), true
	case float64:
		return appendFloat(dst, x), true
	case []byte:
		return appendBytes(dst, x), true
	case time.Time:
		return appendTime(dst, x), true
	}
	return dst, false
}

func appendBool(dst []byte, b bool) []byte {
	if b {
		return append(dst, 't')
	}
	return append(dst, 'f')
}

func appendFloat(dst []byte, f float64) []byte {
	if math.IsNaN(f) {
		// Every NaN, whatever its payload or sign, is one key.
		return append(dst, "dNaN"...)
	}
	return strconv.AppendFloat(append(dst, 'd'), f, 'g', -1, 64)
}

func appendString(dst []byte, tag byte, s string) []byte {
	dst = append(dst, tag)
	dst = strconv.AppendInt(dst, int64(len(s)), 10)
	dst = append(dst, ':')
	return append(dst, s...)
}

const hexDigits = "0123456789abcdef"

func appendBytes(dst []byte, b []byte) []byte {
	dst = append(dst, 'b')
	dst = slices.Grow(dst, 2*len(b))
	for _, c := range b {
		dst = append(dst, hexDigits[c>>4], hexDigits[c&0xf])
	}
	return dst
}

func appendTime(dst []byte, t time.Time) []byte {
	return t.UTC().AppendFormat(append(dst, 'T'), time.RFC3339Nano)
}

// appendFramed calls enc to append bytes to dst and frames them as
// tag<len>:<bytes>, inserting the prefix in place so that no scratch buffer
// is needed.
func appendFramed(dst []byte, tag byte, enc func([]byte) []byte) []byte {
	start := len(dst)
	dst = enc(dst)
	n := len(dst) - start
	var pre [24]byte
	p := append(pre[:0], tag)
	p = strconv.AppendInt(p, int64(n), 10)
	p = append(p, ':')
	dst = slices.Insert(dst, start, p...)
	return dst
}

func fail(format string, args ...any) *encodeError {
	return &encodeError{reason: fmt.Sprintf(format, args...)}
}

// appendCustom encodes v with its KeyEncoder, time.Time or TextMarshaler
// encoding when it has one, and reports whether it did.
func appendCustom(dst []byte, v reflect.Value) ([]byte, bool, *encodeError) {
	t := v.Type()
	if t.Kind() == reflect.Interface || (t.Kind() == reflect.Pointer && t.Elem() == timeType) {
		// The dynamic value decides once unwrapped; *time.Time is a
		// TextMarshaler, but must encode like time.Time.
		return dst, false, nil
	}
	if t.Implements(keyEncoderType) {
		if t.Kind() == reflect.Pointer && v.IsNil() {
			return append(dst, 'n'), true, nil
		}
		ke := v.Interface().(KeyEncoder)
		return appendFramed(dst, 'k', ke.AppendCacheKey), true, nil
	}
	if t == timeType {
		return appendTime(dst, v.Interface().(time.Time)), true, nil
	}
	if t.Implements(textMarshalerType) {
		if t.Kind() == reflect.Pointer && v.IsNil() {
			return append(dst, 'n'), true, nil
		}
		text, err := v.Interface().(encoding.TextMarshaler).MarshalText()
		if err != nil {
			return dst, true, &encodeError{reason: "MarshalText of " + t.String() + " failed", cause: err}
		}
		return appendString(dst, 'm', string(text)), true, nil
	}
	// A method with a pointer receiver: use it through the address, copying
	// the value when it is not addressable.
	if t.Kind() != reflect.Pointer && t.Kind() != reflect.Interface {
		pt := reflect.PointerTo(t)
		if pt.Implements(keyEncoderType) || pt.Implements(textMarshalerType) {
			if !v.CanAddr() {
				c := reflect.New(t).Elem()
				c.Set(v)
				v = c
			}
			return appendCustom(dst, v.Addr())
		}
	}
	return dst, false, nil
}

// appendValue encodes v by reflection. Errors get their path inside the
// argument filled in on the way back up.
func appendValue(dst []byte, v reflect.Value, depth int) ([]byte, *encodeError) {
	if !v.IsValid() {
		return append(dst, 'n'), nil
	}
	if depth > maxDepth {
		return dst, fail("nested deeper than %d levels (a cycle?)", maxDepth)
	}
	dst, done, err := appendCustom(dst, v)
	if done || err != nil {
		return dst, err
	}
	switch v.Kind() {
	case reflect.Bool:
		return appendBool(dst, v.Bool()), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.AppendInt(append(dst, 'i'), v.Int(), 10), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return strconv.AppendUint(append(dst, 'u'), v.Uint(), 10), nil
	case reflect.Float32, reflect.Float64:
		return appendFloat(dst, v.Float()), nil
	case reflect.Complex64, reflect.Complex128:
		c := v.Complex()
		if math.IsNaN(real(c)) || math.IsNaN(imag(c)) {
			// Normalise NaN payloads and signs, as for floats.
			r, i := real(c), imag(c)
			if math.IsNaN(r) {
				r = math.NaN()
			}
			if math.IsNaN(i) {
				i = math.NaN()
			}
			c = complex(r, i)
		}
		return append(append(dst, 'c'), strconv.FormatComplex(c, 'g', -1, 128)...), nil
	case reflect.String:
		return appendString(dst, 's', v.String()), nil
	case reflect.Pointer:
		if v.IsNil() {
			return append(dst, 'n'), nil
		}
		return appendValue(dst, v.Elem(), depth+1)
	case reflect.Interface:
		if v.IsNil() {
			return append(dst, 'n'), nil
		}
		return appendValue(dst, v.Elem(), depth) // a level only with what it holds
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 && !hasCustomEncoding(v.Type().Elem()) {
			return appendBytes(dst, v.Bytes()), nil
		}
		return appendList(dst, v, depth)
	case reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 && !hasCustomEncoding(v.Type().Elem()) {
			dst = append(dst, 'b')
			for i := range v.Len() {
				c := byte(v.Index(i).Uint())
				dst = append(dst, hexDigits[c>>4], hexDigits[c&0xf])
			}
			return dst, nil
		}
		return appendList(dst, v, depth)
	case reflect.Map:
		return appendMap(dst, v, depth)
	case reflect.Struct:
		return appendStruct(dst, v, depth)
	default: // Func, Chan, UnsafePointer
		return dst, fail("%s values are not supported", v.Type())
	}
}

func hasCustomEncoding(t reflect.Type) bool {
	pt := reflect.PointerTo(t)
	return t.Implements(keyEncoderType) || t.Implements(textMarshalerType) ||
		pt.Implements(keyEncoderType) || pt.Implements(textMarshalerType)
}

func appendList(dst []byte, v reflect.Value, depth int) ([]byte, *encodeError) {
	dst = append(dst, '[')
	for i := range v.Len() {
		if i > 0 {
			dst = append(dst, ',')
		}
		var err *encodeError
		dst, err = appendValue(dst, v.Index(i), depth+1)
		if err != nil {
			err.path = "[" + strconv.Itoa(i) + "]" + err.path
			return dst, err
		}
	}
	return append(dst, ']'), nil
}

func appendMap(dst []byte, v reflect.Value, depth int) ([]byte, *encodeError) {
	n := v.Len()
	if n == 0 {
		return append(dst, '{', '}'), nil
	}
	// Encode every pair into one scratch buffer, then emit the pairs sorted
	// by their bytes. Pairs with equal encoded keys (int(1) and int64(1) in a
	// map[any]) are ordered by their values, so the result stays
	// deterministic.
	var scratch []byte
	ends := make([]int, 0, n)
	iter := v.MapRange()
	for iter.Next() {
		var err *encodeError
		scratch, err = appendValue(scratch, iter.Key(), depth+1)
		if err != nil {
			err.path = "{key}" + err.path
			return dst, err
		}
		scratch = append(scratch, '=')
		scratch, err = appendValue(scratch, iter.Value(), depth+1)
		if err != nil {
			err.path = "{value}" + err.path
			return dst, err
		}
		ends = append(ends, len(scratch))
	}
	pairs := make([][]byte, len(ends))
	start := 0
	for i, end := range ends {
		pairs[i] = scratch[start:end]
		start = end
	}
	slices.SortFunc(pairs, bytes.Compare)
	dst = append(dst, '{')
	for i, p := range pairs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, p...)
	}
	return append(dst, '}'), nil
}

func appendStruct(dst []byte, v reflect.Value, depth int) ([]byte, *encodeError) {
	t := v.Type()
	dst = append(dst, '(')
	first := true
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Name == "_" {
			continue
		}
		if !f.IsExported() {
			return dst, fail("%s has unexported field %s", t, f.Name)
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = append(dst, f.Name...)
		dst = append(dst, '=')
		var err *encodeError
		dst, err = appendValue(dst, v.Field(i), depth+1)
		if err != nil {
			err.path = "." + f.Name + err.path
			return dst, err
		}
	}
	return append(dst, ')'), nil
}
