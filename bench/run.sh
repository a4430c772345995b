#!/usr/bin/env bash
# Runs every benchmark scenario for corral and its peers in one run and
# writes the table to BENCHMARKS.md at the repository root. The benchmarks
# start their own redis-server and memcached on free loopback ports; this
# script installs them from Debian packages when they are missing (as
# scripts/test.sh does).
#
# COUNT (default 3) and BENCHTIME (default 1s) tune the timed scenarios.
set -euo pipefail
cd "$(dirname "$0")"

missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
command -v memcached >/dev/null || missing+=(memcached)
if ((${#missing[@]})); then
	echo "installing ${missing[*]} from Debian packages"
	sudo=""
	[ "$(id -u)" = 0 ] || sudo="sudo"
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

count=${COUNT:-3}
benchtime=${BENCHTIME:-1s}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

go vet ./...
# Timed scenarios: hits in memory and in Redis, multi-get, disk beside both,
# the near cache, and memcached's cold miss and hit.
go test -run '^$' -bench '^Benchmark(MemoryHit|RedisHit|RedisMiss|RedisMulti|InvalidateTags|Disk|NearHit|NearMixed|MemcachedMiss|MemcachedHit)$' -benchmem \
	-count "$count" -benchtime "$benchtime" -timeout 30m . | tee "$out/timed.txt"
# Event scenarios: one stampede or one expiry per run.
go test -run '^$' -bench '^Benchmark(Stampede|Expiry|ExpiryOutcomes)$' \
	-count "$count" -benchtime 1x -timeout 30m . | tee "$out/events.txt"

# Near cache propagation: 1,000 writes per run.
go test -run '^$' -bench '^Benchmark(NearPropagation|InvalidationStream)$' \
	-count "$count" -benchtime 1000x -timeout 30m . | tee "$out/near.txt"

go run ./cmd/report -o ../BENCHMARKS.md -command "${BENCH_COMMAND:-make bench}" "$out/timed.txt" "$out/events.txt" "$out/near.txt" >/dev/null
echo "wrote BENCHMARKS.md"
