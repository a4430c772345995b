#!/usr/bin/env bash
# Runs the HTTP cache tests (the http-cache-tests suite, RFC 9111) against
# httpcache and prints the results by test group. Needs node and npm; it is
# not part of the test command.
#
#   scripts/httpcache-conformance.sh                 the npm release, installed on first use
#   scripts/httpcache-conformance.sh -v 0.4.5        another npm release
#   scripts/httpcache-conformance.sh -s DIR          a checkout of the suite's repository
#                                                    (run `npm install` in it first)
#   scripts/httpcache-conformance.sh -i TEST-ID      one test, with the suite's dump of
#                                                    the requests and responses
#   scripts/httpcache-conformance.sh -o FILE         keep the suite's JSON results in FILE
#   scripts/httpcache-conformance.sh -- ARGS         more flags for the cache, such as
#                                                    -targets Cache-Control or -forward-targeted
#
# Everything runs on 127.0.0.1: the suite's origin server, the cache in
# front of it (httpcache/internal/conformanceproxy: httputil.ReverseProxy
# wrapped in httpcache.New(region, Options{Expiration: time.Minute}) on a
# default in-memory region), and the suite's CLI pointed at the cache.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
here="$root/scripts/httpcache-conformance"

version=0.4.5
suite=""
id=""
keep=""
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }
while getopts "v:s:i:o:h" opt; do
	case "$opt" in
	v) version="$OPTARG" ;;
	s) suite="$(cd "$OPTARG" && pwd)" ;;
	i) id="$OPTARG" ;;
	o) keep="$OPTARG" ;;
	h) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))

for tool in node npm go; do
	command -v "$tool" >/dev/null || { echo "httpcache-conformance: $tool not found" >&2; exit 1; }
done

if [ -z "$suite" ]; then
	# The release from npm, installed once per version beside the user's
	# other caches.
	install="${XDG_CACHE_HOME:-$HOME/.cache}/corral/http-cache-tests-$version"
	suite="$install/node_modules/http-cache-tests"
	if [ ! -f "$suite/package.json" ]; then
		echo "installing http-cache-tests@$version into $install" >&2
		mkdir -p "$install"
		(cd "$install" && npm install --silent --no-audit --no-fund --no-save "http-cache-tests@$version" >&2)
	fi
fi
# The repository keeps the engine under test-engine/; the releases do not.
engine="$suite"
[ -d "$suite/test-engine" ] && engine="$suite/test-engine"
[ -f "$engine/server/server.mjs" ] && [ -f "$engine/cli.mjs" ] || {
	echo "httpcache-conformance: $suite does not hold the suite (server/server.mjs, cli.mjs)" >&2
	exit 1
}

tmp="$(mktemp -d)"
pids=()
cleanup() {
	for pid in "${pids[@]}"; do
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
# The suite's clients must talk to the cache directly.
unset HTTP_PROXY http_proxy HTTPS_PROXY https_proxy ALL_PROXY all_proxy

# wait_line FILE PATTERN: waits (at most 30 s) for a line of FILE matching
# PATTERN and prints it.
wait_line() {
	for _ in $(seq 300); do
		if line="$(grep -m1 -E "$2" "$1" 2>/dev/null)"; then
			echo "$line"
			return
		fi
		sleep 0.1
	done
	echo "httpcache-conformance: timed out waiting for $1:" >&2
	cat "$1" >&2
	exit 1
}

(cd "$root" && go build -o "$tmp/proxy" ./httpcache/internal/conformanceproxy)

# The suite's origin server, on a free loopback port.
npm_config_protocol=http npm_config_port=0 npm_config_pidfile="$tmp/origin.pid" \
	node --import "$here/loopback.mjs" "$engine/server/server.mjs" >"$tmp/origin.log" 2>&1 &
pids+=($!)
origin="$(wait_line "$tmp/origin.log" '^Listening on ' | sed -E 's#^Listening on http://[^:]+:([0-9]+)/.*#\1#')"

"$tmp/proxy" -origin "http://127.0.0.1:$origin" "$@" >"$tmp/proxy.log" 2>&1 &
pids+=($!)
proxy="$(wait_line "$tmp/proxy.log" '^127\.0\.0\.1:[0-9]+$')"

echo "suite: $suite ($(node -p "require('$suite/package.json').version"))" >&2
echo "origin: 127.0.0.1:$origin, cache: $proxy" >&2
if [ -n "$id" ]; then
	npm_config_base="http://$proxy" npm_config_id="$id" node --no-warnings "$engine/cli.mjs"
	exit
fi
npm_config_base="http://$proxy" npm_package_config_id="" node --no-warnings "$engine/cli.mjs" >"$tmp/results.json"
[ -z "$keep" ] || cp "$tmp/results.json" "$keep"
node "$here/summary.mjs" "$suite" "$tmp/results.json"
