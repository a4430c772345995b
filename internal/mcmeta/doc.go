// Package mcmeta speaks memcached's meta protocol (memcached 1.6.10 and
// later): an encoder of requests, a decoder of replies, and a [Client] that
// sends pipelines of requests, one round trip per server, over pooled
// connections.
//
// It is corral's own, small on purpose: the memcached store, locker and key
// registry need four commands (mg, ms, md, ma, and mn to end a pipeline)
// and a dozen flags, on the connections and the server selection of
// memcachestore's Pool (gomemcache's key distribution, failover, failure
// accounting), which a general client would replace with its own. See
// docs/memcached.md for the choice.
//
// Requests carry their flags as the protocol spells them ([Flags]): a
// letter, then its token if it takes one. Replies are decoded whatever
// flags the server returns; the ones corral reads are fields of [Reply].
// Keys are sent as they are (corral's keys are legal memcached keys, see
// memcachestore.MangleKey) or base64-encoded with the b flag.
package mcmeta
