// Package backendtest is a conformance suite for implementations of
// [backend.Backend]. Each backend's own tests call [Run] (or [RunWith]) with a
// constructor, and the suite checks the behaviour the contract promises:
// misses as [backend.ErrNotFound], round trips of binary, empty and
// overwritten values, multi-key order, deletes of missing keys, hard TTLs,
// awkward keys, and concurrent use.
//
// Like net/http/httptest, the package exists for tests: import it only from
// _test.go files. The suite runs against real servers too, so it namespaces
// its keys with a random prefix and deletes them when each subtest ends.
package backendtest
