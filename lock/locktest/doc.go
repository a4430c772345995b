// Package locktest is a conformance suite for [lock.Locker] implementations.
//
// Every Locker in corral, in-process or distributed, runs [Run] in its tests,
// so that the dogpile lock behaves the same whichever backend holds it.
package locktest
