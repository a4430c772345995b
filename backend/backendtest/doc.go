// Package backendtest is a conformance suite for implementations of
// [backend.Backend]. Each backend's own tests call [Run] (or [RunWith]) with a
// constructor, and the suite checks the behaviour the contract promises:
// misses as [backend.ErrNotFound], round trips of binary, empty and
// overwritten values, multi-key order, deletes of missing keys, hard TTLs,
// awkward keys, and concurrent use.
//
// A backend that implements [backend.Conditional] is checked against that
// contract too (subtests under "Conditional"): a SetIf succeeds only while
// its key is unchanged since GetForUpdate, and fails after a Set, a Delete,
// another SetIf, another GetForUpdate (a new lease: the first reader's SetIf
// fails even when it comes first) or the expiry of a placeholder; a lease
// leaves a value as it is for readers, TTL included, and replaces a
// placeholder; placeholders are invisible to reads; values round-trip; one
// call may store some keys and not others; of many concurrent SetIfs with
// one version exactly one wins; and of goroutines that each lease a key and
// then SetIf it, exactly one stores, the last to lease. A backend that
// implements [backend.ValueStore] and [backend.ConditionalValueStore] is
// checked the same way for decoded entries (under "ConditionalValueStore").
//
// A backend that implements [backend.Leaser] is checked against that
// contract (under "Leaser"): a lease of a missing key is taken with a
// placeholder no read sees, another holder's finds it held (with the stale
// value and the current Version) and changes nothing, a poll with the
// Version seen reports held, changed (taking nothing) or, once the lock is
// free and the key unchanged, taken; StoreLeased stores only where the key
// is unchanged since the lease — not after a Set, a Delete, another lease
// (after a release, as after an expiry), a GetForUpdate, or the
// placeholder's expiry — and ends the locks it names, the holder's only;
// release and extension are by the holder only, and a release leaves the
// Version; Also is read as GetMulti reads; a key named twice is leased
// once; of concurrent leases of one key exactly one is taken.
//
// Like net/http/httptest, the package exists for tests: import it only from
// _test.go files. The suite runs against real servers too, so it namespaces
// its keys with a random prefix and deletes them when each subtest ends.
package backendtest
