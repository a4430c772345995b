package serializer

import (
	"reflect"
	"sync"

	"github.com/cespare/xxhash/v2"
)

// typeTags caches TypeTag's results: reflect.Type → uint32.
var typeTags sync.Map

// TypeTag returns a 32-bit tag of the Go type t, for Meta.Type: a hash of
// its package path and name (or of its description, for unnamed types),
// the same in every process and build. Interface types and nil give zero,
// which matches any type: a reader that wants an interface accepts whatever
// was written.
func TypeTag(t reflect.Type) uint32 {
	if t == nil || t.Kind() == reflect.Interface {
		return 0
	}
	if tag, ok := typeTags.Load(t); ok {
		return tag.(uint32)
	}
	name := t.String()
	if t.Name() != "" {
		name = t.PkgPath() + "." + t.Name()
	}
	tag := uint32(xxhash.Sum64String(name)) | 1 // never zero
	typeTags.Store(t, tag)
	return tag
}
