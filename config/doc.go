// Package config sets regions up from a URL or a configuration file, the
// way database/sql takes a DSN: one URL names a region's backend, its
// dogpile locker and its key registry together (memory://, redis://,
// rediss://, redis+cluster://, redis+sentinel://, memcached://; see Open),
// and a YAML file declares named regions with their URL, serializer,
// compression, expiration, grace, lock TTL and wait, stale policy,
// background regeneration and failure policy (see Load).
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
// Secrets come from the environment: ${NAME} in a URL, or the whole URL in
// CORRAL_REGIONS_<NAME>_URL. Every field can be overridden the same way
// (CORRAL_REGIONS_USERS_EXPIRATION=5m). Errors and logs show URLs with
// their user and password replaced by "xxxxx".
//
// The corral command (cmd/corral) reads the same file for operations:
// ping, inspect a key, list and invalidate a cached function's keys,
// invalidate a region.
package config
