// Package integration holds corral's tests against real servers: redis-server
// (single node and a three-master Redis Cluster) and memcached, started by the
// tests on free loopback ports and stopped at the end.
//
// Run them with the project's test command (see README.md), which installs
// the servers from Debian packages when they are missing. Outside CI a test
// whose server binary is missing is skipped with a message; with CI=true it
// fails, so CI never passes without running them.
package integration
