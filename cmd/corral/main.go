// Command corral is the operations tool for regions declared in a corral
// configuration file (see package config): it checks the servers, inspects
// an entry, lists the keys recorded for a cached function and invalidates
// a region, a cached function, or one of its results — for the incident
// where a row was fixed by hand and its cached copies must go from every
// process.
//
// Usage:
//
//	corral [flags] ping
//	corral [flags] inspect <region> <key>
//	corral [flags] inspect <region> <function> <arg ...>
//	corral [flags] keys <region> <function>
//	corral [flags] invalidate <region> [--hard|--soft]
//	corral [flags] invalidate <region> <function> [arg ...]
//
// Flags, anywhere on the line (-flag or --flag):
//
//	--config file   the configuration file (default $CORRAL_CONFIG, else corral.yaml)
//	--json          print results as JSON
//	--timeout d     give up after d (default 10s)
//
// invalidate <region> retires every entry of the region in every process
// (--hard, the default: read as missing; --soft: stale, served while one
// caller regenerates). invalidate <region> <function> retires every result
// of the cached function (what Func.InvalidateAll does); with arguments,
// only the result for them (Func.Invalidate). inspect <region> <function>
// <arg ...> inspects that result. <function> is the name the function was
// cached under (region.Named). Each argument is one JSON value, and derives
// the same key as the Go value the program passed:
//
//	42, -7           a signed integer of any size (int, int64, int32 …)
//	{"$uint": 42}    an unsigned integer (uint, uint64 …)
//	1.5, 1e3         a float (a number with a fraction or exponent)
//	"alice"          a string (quote it for the shell: '"alice"')
//	true, false      a bool
//	null             a nil pointer or interface
//	[1, 2]           a slice or array of such values
//	{"a": 1}         a map with string keys
//	{"$time": "2026-01-02T15:04:05Z"}   a time.Time (RFC 3339)
//
// A pointer is given as the value it points to. Structs, maps with
// non-string keys, []byte, and types with their own key encoding
// (keyreg.KeyEncoder, encoding.TextMarshaler) cannot be written: invalidate
// the whole function instead.
//
// The exit status is 0 on success, 1 when what was asked for is not found
// (inspect: no entry; keys: none recorded) or the operation failed, and 2
// for a usage error.
package main

import (
	"context"
	"os"
	"os/signal"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
