// Package config sets regions up from a URL or a configuration file, the
// way database/sql takes a DSN: one URL names a region's backend, its
// dogpile locker and its key registry together (memory://, redis://,
// rediss://, redis+cluster://, redis+sentinel://, rediss+sentinel://,
// memcached://; see Open), and a YAML file declares named regions with
// their URL, serializer, compression, expiration, grace, lock TTL and
// wait, stale policy, background regeneration, failure policy, near cache,
// encryption keyring and early refresh (see Load; docs/config.md in the
// repository is the reference of every field).
//
// Load makes every region once, at application setup, into a Regions value
// that hands them out by name and closes them, and their clients, once:
//
//	regions, err := config.Load("corral.yaml", config.Options{})
//	if err != nil { ... }              // names the file, line and field
//	defer regions.Close()
//	if err := regions.Ping(ctx); err != nil { ... } // optional startup check
//	users, err := regions.Region("users")
//
// Secrets come from the environment: ${NAME} in a URL or a keyring key, or
// the whole value in CORRAL_REGIONS_<NAME>_<FIELD>. Every field can be
// overridden the same way (CORRAL_REGIONS_USERS_EXPIRATION=5m), and the
// defaults: block's with CORRAL_DEFAULTS_<FIELD>. Errors and logs show URLs
// with their user and password replaced by "xxxxx", and never a key.
//
// Schemes other modules provide are given explicitly, per call, in
// Options.Schemes: there is no global list to register into, and no
// package registers anything when imported. The SQLite store is one:
//
//	regions, err := config.Load("corral.yaml", config.Options{
//		Schemes: map[string]config.Opener{"disk": diskstore.OpenURL},
//	})
//
// The corral command (cmd/corral) reads the same file for operations:
// ping, list the regions, inspect a key, list and invalidate a cached
// function's keys, invalidate a region.
package config
