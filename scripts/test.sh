#!/usr/bin/env bash
# Runs every test of corral: formatting and vet, unit tests with the race
# detector, and the integration tests against real redis-server, Redis Cluster
# and memcached processes, which the tests start on loopback ports.
#
# On a fresh Debian machine it first installs the servers with apt-get (as
# root, or through sudo).
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
command -v redis-cli >/dev/null || missing+=(redis-tools)
command -v memcached >/dev/null || missing+=(memcached)
if ((${#missing[@]})); then
	echo "installing ${missing[*]} from Debian packages"
	sudo=""
	[ "$(id -u)" = 0 ] || sudo="sudo"
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change:"; echo "$unformatted"; exit 1
fi
go vet ./...

# The modules beside the core — backend/diskstore, extra/corralprom,
# extra/corralotel, examples/configured — have go.mods of their own, so that
# the core's stays free of SQLite, Prometheus and OpenTelemetry; each
# replaces the core with this checkout and is vetted and tested here.
# bench/ is a module too, run by `make bench`: vetted here so that a change
# of the core's API cannot leave it broken until someone benchmarks.
modules=$(find . -name go.mod -not -path ./go.mod -not -path './bench/*' -exec dirname {} \; | sort)
for m in $modules ./bench; do
	(cd "$m" && go vet ./...)
done

# The integration tests fail rather than skip when a server is missing.
export CORRAL_REQUIRE_SERVERS=1
go test -race -count=1 -timeout 30m ./...
for m in $modules; do
	(cd "$m" && go test -race -count=1 -timeout 30m ./...)
done
# The race detector slows the disk backend's SQLite (Go translated from C)
# some thirty times, so its size-bound test inserts 20,000 keys under it,
# and 200,000 in a run of its own without it.
(cd backend/diskstore && go test -count=1 -run 'SizeBound' ./...)
# A few seconds of fuzzing of the reader of the RESP3 replies the tracking
# connections receive: a malformed reply once made it allocate whatever
# count the reply announced.
go test -run '^$' -fuzz '^FuzzReadReply$' -fuzztime 5s ./backend/redisstore/
# Allocation counts are only meaningful without the race detector, so the
# tests that assert them (Test*Allocs) run once more without it.
go test -count=1 -run 'Allocs$' ./...
# A few seconds of fuzzing of the memcached meta-protocol codec: its
# replies come from the network, its requests carry callers' keys.
go test -run '^$' -fuzz '^FuzzMetaReply$' -fuzztime 5s ./internal/mcmeta/
go test -run '^$' -fuzz '^FuzzMetaRequest$' -fuzztime 5s ./internal/mcmeta/
