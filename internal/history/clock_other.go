//go:build !linux

package history

import "time"

// Now returns the wall clock in Unix nanoseconds: processes of one machine
// share it, but a clock step during a test would blur its order.
func Now() int64 { return time.Now().UnixNano() }
