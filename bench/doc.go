// Package bench compares corral with its Go peers side by side, in one run:
// otter v2, sturdyc, eko/gocache, go-redis/cache, bare go-redis and bare
// gomemcache. It is a module of its own so that the peers never enter
// corral's go.mod.
//
// The benchmarks live in the package's _test.go files; run them all, with a
// redis-server and a memcached started on loopback ports and the table
// written to BENCHMARKS.md, by
//
//	make bench
//
// or bench/run.sh. Sub-benchmarks are named Scenario/variant/library, so the
// report (cmd/report) can set each library beside corral.
package bench
