//go:build linux

package history

import "golang.org/x/sys/unix"

// Now returns the machine's monotonic clock (CLOCK_MONOTONIC) in
// nanoseconds. Every process of the machine reads the same clock, which
// never steps, so times taken by different processes order their operations.
func Now() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		panic("history: clock_gettime(CLOCK_MONOTONIC): " + err.Error())
	}
	return ts.Nano()
}
