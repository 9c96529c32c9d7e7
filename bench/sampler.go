package bench

import (
	"fmt"
	"runtime"
	"sync"
	"time"
)

// sampler times operations the way every figure of a run is timed: a
// warm-up, then rounds; each round times a short batch of calls and keeps
// the mean per call; the figure is the median over rounds. Operations
// measured against each other run interleaved, round by round, in batches
// of a few milliseconds, so a burst of other work on the machine touches
// all of them alike. Garbage collection runs when it would: a path that
// allocates more pays for it.
type sampler struct {
	warmup int // calls before timing, per operation
	rounds int
	batch  int // calls per round
	// settle, when set, runs before every batch, outside the timed window:
	// it waits until the helper processes have finished what the previous
	// batch left them (a plugin's garbage collection), so that work is not
	// charged to the next operation.
	settle func()
}

// op is one measured operation: a call that may fail.
type op func() error

// sequential returns, per operation, the mean call time of each round in
// microseconds.
func (s sampler) sequential(ops ...op) ([][]float64, error) {
	wall, _, err := s.sequentialCPU(ops, nil)
	return wall, err
}

// sequentialCPU is sequential that also charges each operation the CPU time
// its meter reads (this process and the one it calls): per operation, the
// mean wall time and the mean CPU time of each round, in microseconds.
// meters may be nil (no CPU figures).
func (s sampler) sequentialCPU(ops []op, meters []cpuMeter) (wall, cpu [][]float64, err error) {
	for i, o := range ops {
		for range s.warmup {
			if err := o(); err != nil {
				return nil, nil, fmt.Errorf("warm-up of operation %d: %w", i, err)
			}
		}
	}
	wall = make([][]float64, len(ops))
	cpu = make([][]float64, len(ops))
	runtime.GC() // the warm-up's garbage is nobody's
	for range s.rounds {
		for i, o := range ops {
			if s.settle != nil {
				s.settle()
			}
			var c0 time.Duration
			if meters != nil {
				if c0, err = meters[i].read(); err != nil {
					return nil, nil, err
				}
			}
			start := time.Now()
			for range s.batch {
				if err := o(); err != nil {
					return nil, nil, fmt.Errorf("operation %d: %w", i, err)
				}
			}
			wall[i] = append(wall[i], micros(time.Since(start))/float64(s.batch))
			if meters != nil {
				c1, err := meters[i].read()
				if err != nil {
					return nil, nil, err
				}
				cpu[i] = append(cpu[i], micros(c1-c0)/float64(s.batch))
			}
		}
	}
	return wall, cpu, nil
}

// concurrentRound is one round of n concurrent callers.
type concurrentRound struct {
	// latency is the mean time one caller waits per call, in µs.
	latency float64
	// perCall is wall time divided by all calls made: the cost of one call
	// when n callers keep the boundary busy, in µs.
	perCall float64
}

// concurrent runs each operation with n callers, each making batch calls
// per round, and returns per operation the rounds.
func (s sampler) concurrent(n int, ops ...op) ([][]concurrentRound, error) {
	out := make([][]concurrentRound, len(ops))
	run := func(o op, calls int) (time.Duration, error) {
		var wg sync.WaitGroup
		errs := make(chan error, n)
		start := time.Now()
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range calls {
					if err := o(); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		elapsed := time.Since(start)
		close(errs)
		return elapsed, <-errs
	}
	for i, o := range ops {
		if _, err := run(o, max(1, s.warmup/n)); err != nil {
			return nil, fmt.Errorf("warm-up of operation %d: %w", i, err)
		}
	}
	runtime.GC()
	for range s.rounds {
		for i, o := range ops {
			if s.settle != nil {
				s.settle()
			}
			elapsed, err := run(o, s.batch)
			if err != nil {
				return nil, fmt.Errorf("operation %d with %d callers: %w", i, n, err)
			}
			out[i] = append(out[i], concurrentRound{
				latency: micros(elapsed) / float64(s.batch),
				perCall: micros(elapsed) / float64(s.batch*n),
			})
		}
	}
	return out, nil
}

// latencies and perCalls pick one field of concurrent rounds.
func latencies(rs []concurrentRound) []float64 {
	out := make([]float64, len(rs))
	for i, r := range rs {
		out[i] = r.latency
	}
	return out
}

func perCalls(rs []concurrentRound) []float64 {
	out := make([]float64, len(rs))
	for i, r := range rs {
		out[i] = r.perCall
	}
	return out
}

// settleProcesses returns a settle function that polls the CPU clocks of
// pids every millisecond until none of them ran for more than a tenth of the
// interval, or until 20 ms have passed.
func settleProcesses(pids ...int) func() {
	const (
		tick     = time.Millisecond
		idle     = tick / 10
		deadline = 20 * time.Millisecond
	)
	return func() {
		m := cpuMeter(pids)
		prev, err := m.read()
		if err != nil {
			return
		}
		for end := time.Now().Add(deadline); time.Now().Before(end); {
			time.Sleep(tick)
			now, err := m.read()
			if err != nil || now-prev <= idle {
				return
			}
			prev = now
		}
	}
}
