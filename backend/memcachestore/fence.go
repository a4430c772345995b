package memcachestore

import (
	"hash/fnv"

	"github.com/corralcache/corral/backend"
)

// The versions of a Store on a Pool.
//
// A key's version is the CAS value of its item, and CAS values count per
// server: two servers of a pool hand out the same ones, the more likely
// the closer their ages and loads. When the Pool moves a key to a stand-in
// (or back) while a lease of it is held, the stand-in's item could hold
// the very CAS value the lease read on the other server, and the holder's
// store would go through over a newer lease or write. So a version handed
// out on the meta protocol also names its server: bit 63 set, a 15-bit
// hash of the server's address (the same in every process) in bits 48 to
// 62, and the CAS value in the low 48 bits (2^48 writes: years at a
// million writes a second). A store whose key now maps to another server
// is refused without being sent. A CAS value of 48 bits or more is handed
// out as it is, unchecked.
//
// What this does not cover: a server restarted on the same address while
// a lease is held starts its CAS values again from 1 (see the package
// documentation's NOTE).
const (
	versionTagged  = 1 << 63
	versionCASBits = 48
	versionCASMask = 1<<versionCASBits - 1
)

// serverTag is the tag of the server at addr: 15 bits of its FNV-1a hash.
func serverTag(addr string) uint16 {
	h := fnv.New32a()
	_, _ = h.Write([]byte(addr))
	return uint16(h.Sum32() & 0x7fff)
}

// version returns the version of cas, read from key (mangled) on the
// server the Pool maps it to.
func (s *Store) version(key string, cas uint64) backend.Version {
	if s.pool == nil || cas == 0 || cas > versionCASMask {
		return backend.Version(cas)
	}
	return backend.Version(versionTagged | uint64(s.pool.serverOf(key).tag)<<versionCASBits | cas)
}

// casOf returns the CAS value v names for key (mangled), or false when v
// was handed out by another server than the one key maps to now. A Store
// on another client than a Pool cannot tell the server, and takes the CAS
// value of a tagged version as it is.
func (s *Store) casOf(key string, v backend.Version) (uint64, bool) {
	u := uint64(v)
	switch {
	case u&versionTagged == 0:
		return u, true
	case s.pool == nil:
		return u & versionCASMask, true
	case uint16(u>>versionCASBits)&0x7fff != s.pool.serverOf(key).tag:
		return 0, false
	}
	return u & versionCASMask, true
}
