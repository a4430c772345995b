// Command corral is the operations tool for regions declared in a corral
// configuration file (see package config): it checks the servers, lists
// the regions and their settings, inspects an entry, lists the keys
// recorded for a cached function and invalidates
// a region, a cached function, or one of its results — for the incident
// where a row was fixed by hand and its cached copies must go from every
// process.
//
// Usage:
//
//	corral [flags] ping
//	corral [flags] regions
//	corral [flags] inspect <region> <key>
//	corral [flags] inspect <region> <function> <arg ...>
//	corral [flags] keys <region> <function>
//	corral [flags] invalidate <region> [--hard|--soft]
//	corral [flags] invalidate <region> <function> [arg ...]
//	corral [flags] invalidate --tag <tag> [--tag <tag> ...] [region ...]
//	corral help
//
// Flags, anywhere on the line (-flag or --flag):
//
//	--config file   the configuration file (default $CORRAL_CONFIG, else corral.yaml)
//	--json          print results as JSON, and errors, warnings and log lines
//	                on stderr as JSON objects, one a line
//	--timeout d     give up after d (default 10s)
//	-h, --help      print the usage on stdout and exit 0 (as corral help does)
//
// regions lists every region of the file with its URL (without user or
// password), its expiration ("never" without one), and its near cache,
// encryption (key IDs, never keys) and early refresh settings; it touches
// no server.
//
// invalidate <region> retires every entry of the region in every process
// (--hard, the default: read as missing; --soft: stale, served while one
// caller regenerates). invalidate <region> <function> retires every result
// of the cached function (what Func.InvalidateAll does); with arguments,
// only the result for them (Func.Invalidate). Either way the registry is
// asked first whether it knows the function and the result: a misspelt
// function, or arguments of another type or count (which derive another
// key), is invalidated all the same but warned about, with exit status 1.
// A registry that lists keys (Redis, and a memory region's, which starts
// empty in each run) knows the functions with results cached now;
// memcached's cannot list keys, so it knows whether one result is recorded
// but not whether a function exists: invalidating a whole function there
// prints a note that its name could not be checked. inspect <region> <function>
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
// (inspect: no entry; keys: none recorded; invalidate: a function or
// result the registry does not know) or the operation failed, and 2 for a
// usage error (printed with the usage on stderr).
//
// go-redis's own log lines (a failed dial) are routed to the command's
// logger (see redisstore.RouteClientLogs), so under --json they are JSON
// too. The command knows the built-in URL schemes only: a file with a
// disk:// region (diskstore, a module of its own) cannot be read by it.
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
