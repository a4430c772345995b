// Package redisstore is a corral backend on Redis, built on
// github.com/redis/go-redis/v9. It works with any go-redis client: a single
// node, a Redis Cluster, or a Sentinel-managed failover client.
//
// Values are Redis strings written with SET PX (the region's hard TTL); a
// miss (redis.Nil) becomes [backend.ErrNotFound]. Multi-key calls
// take one round trip on a single node (MGET, DEL, a pipeline of SETs). On a
// Cluster, whose keys live in different hash slots, they are sent as a
// pipeline of single-key commands, which go-redis splits into one batch per
// node, sent in parallel; results come back in the order of the keys.
//
// # Wire format and conditional writes
//
// Every string the Store writes begins with a 9-byte header in the same key,
// so a value and its version never straddle hash slots: a kind byte (0xF5
// for a value, 0xF6 for a placeholder) and the write's version, 8 bytes
// big-endian. A value follows its header; a placeholder is the header alone.
// Every read path (GET, MGET, a Cluster's pipeline of GETs) strips the
// header, so a hit is still one command, and reports a placeholder — or any
// string without a header of ours, such as one another client wrote or one
// written by a corral release before headers — as missing.
//
// Each write draws a random 64-bit version. [Store.GetForUpdate] and
// [Store.SetIf] ([backend.Conditional]) are Lua scripts on one key each, sent
// as one pipeline for all keys: one round trip on a single node or a
// Cluster. GetForUpdate takes a new lease on each key with a version it
// draws: on a value it rewrites the header's 8 version bytes in place
// (SETRANGE at offset 1: O(1), the value and its TTL untouched) and returns
// the value; on a placeholder, or a key that holds nothing of ours, it
// stores a new placeholder (SET PX) of the placeholder TTL. Every version
// handed out before for the key then stops matching. SetIf compares
// the 9 header bytes (GETRANGE, without reading the value) with the version
// it was given and writes only on a match. Scripts go by digest (EVALSHA);
// after a server restart or SCRIPT FLUSH the calls that failed for it are
// sent again with the script's body, one more round trip.
//
// # Recording keys with their values
//
// [Store.SetMultiGrouped] writes values and records their keys in a
// [github.com/corralcache/corral/keyreg/redisreg] registry in the same round
// trip, and [Store.SetIfGrouped] ([backend.ConditionalGrouper]) does the
// same for conditional writes. A region uses them when its backend is a
// Store and its registry a redisreg.Registry sharing the same Redis.
//
// Connection options, TLS, AUTH and ACL users are go-redis's: build the
// client yourself and pass it to [New], or give a redis://, rediss:// or
// unix:// URL to [Open] (or [NewClient]), which takes go-redis's query
// options plus dialer_retries, dialer_retry_timeout, ca_file, cert_file and
// key_file (mutual TLS) and skip_verify, rejects a malformed URL, and never
// puts the URL's user or password in an error ([RedactURL] does the same
// for your logs).
//
// # When Redis is down
//
// A region falls through to its creator while Redis is unreachable, so the
// time each failed call takes is what callers wait on top of the creator.
// A client from a URL ([Open], [NewClient]) fails fast by default: dial,
// read and write timeouts of 200ms, one retry and one dial attempt, unless
// the URL sets them (a first call on a port where nothing listens falls
// through in about 0.1 s, against 8.5 s with go-redis's defaults).
// go-redis retries a failed dial several times with a pause between tries by
// default; for a client you build, fail fast instead: set short DialTimeout,
// ReadTimeout and WriteTimeout (e.g. 200ms) and DialerRetries: 1 (and
// MaxRetries: 1) in the client's options. The client reconnects by itself
// when Redis comes back.
//
// go-redis sends a command whose reply timed out again (MaxRetries), so one
// operation against a Redis that accepts connections but never answers
// would cost two read timeouts and a backoff. A Store bounds each operation
// by the client's ReadTimeout ([Options].Timeout): the first attempt keeps
// its whole read timeout, the resend is not made, and a reset connection,
// which fails at once, is still retried. The bound stops the resend, not a
// reply in progress (unless the client has ContextTimeoutEnabled, which is
// best left off: a new connection's handshake and first command take two
// round trips).
//
// go-redis logs some failures by itself ("redis: connection pool: failed to
// dial after 1 attempts"), to standard error, whatever the regions'
// Config.Logger: it has one logger per process and no option per client.
// [RouteClientLogs] sends those lines to a slog.Logger of yours instead; it
// changes go-redis's process-wide logger, so the program calls it once,
// from main.
package redisstore
