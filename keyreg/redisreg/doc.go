// Package redisreg is a [keyreg.Registry] shared through Redis, so that one
// process can invalidate what another cached: "GetUser(42)" or every result
// of GetUser.
//
// Each function's records are one Redis sorted set, under the key
// Options.Prefix + the function's name (see [Registry.Group]). A member is a
// recorded key; its score is when the value stored under that key expires on
// the server (its hard TTL from the moment it was recorded, plus
// [ClockSkew]), or +inf for values without a TTL. Times are taken from
// the Redis server's clock, in Lua, so the clocks of the processes do not
// matter.
//
// # Bound
//
// The registry never grows without bound: every record removes the members
// whose value has expired, and the set itself expires (PEXPIREAT) with the
// last of its members. So a function's set holds at most the keys whose
// value may still be in Redis, plus those recorded within ClockSkew of their
// expiry. Records without a TTL (a region without expiration) live until
// they are forgotten, like the values they point to; a member whose value
// Redis evicted under memory pressure stays until then, which is harmless:
// deleting a missing key is not an error.
//
// # Recording in the same round trip as the value
//
// A region whose backend is a [github.com/corralcache/corral/backend/redisstore.Store]
// records a key in the same round trip as the value write: the store queues
// the record with [QueueRecord] in the pipeline (a MULTI/EXEC transaction on
// a single node) that sets the values. The region does this when its
// Registry has a Group method, as Registry does.
//
// # ForgetAll and concurrent records
//
// ForgetAll reads and deletes the set in one MULTI/EXEC transaction, so a
// record is either in the returned keys (and the caller deletes its value)
// or made after the transaction, into a fresh set. On a single node, a
// value written with its record in one transaction is therefore never left
// unrecorded by a concurrent ForgetAll. (A value computed from data older
// than the invalidation and stored after it is the ordinary cache-aside race,
// which no registry can see; region-wide invalidation, which compares
// creation times, covers it.)
package redisreg
