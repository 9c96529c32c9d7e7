package bench

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// processCPU is the CPU time (user + system, all threads) a process has used
// so far, read from the kernel's per-process CPU clock: the clock id that
// clock_getcpuclockid(3) makes for pid, which is exact to the nanosecond
// (unlike /proc/<pid>/stat's 10 ms ticks) and includes a thread that is
// running right now.
func processCPU(pid int) (time.Duration, error) {
	// Linux encodes a process's CPU clock as ((~pid) << 3) | CPUCLOCK_SCHED.
	const cpuClockSched = 2
	clock := int32((^pid)<<3 | cpuClockSched)
	var ts unix.Timespec
	if err := unix.ClockGettime(clock, &ts); err != nil {
		return 0, fmt.Errorf("CPU time of process %d: %w", pid, err)
	}
	return time.Duration(ts.Nano()), nil
}

// cpuMeter sums the CPU time of several processes (this one and its
// plugins), so an op can be charged what it costs on both sides of the
// boundary.
type cpuMeter []int

func (m cpuMeter) read() (time.Duration, error) {
	var total time.Duration
	for _, pid := range m {
		d, err := processCPU(pid)
		if err != nil {
			return 0, err
		}
		total += d
	}
	return total, nil
}
