// The liveset workload: random replacement in live sets of 1k to 10M buffers.

package main

import (
	"fmt"
	"runtime"
)

// liveSetSizes is the range of request sizes of the liveset workload.
var liveSetSizes = sizeRange{16, 256}

// liveSet is one instance of the workload: the live buffers, and the
// generator that picks which one to replace and its new size.
type liveSet struct {
	h    Allocator
	live [][]byte
	rng  xorshift
}

// replace frees n random live buffers, allocating a new one in each place.
func (s *liveSet) replace(n int64) error {
	for range n {
		x := s.rng.next()
		i := int((x >> 32) % uint64(len(s.live)))
		if err := s.h.Free(s.live[i]); err != nil {
			return err
		}
		size := liveSetSizes.pick(x)
		b, err := s.h.Alloc(size)
		if err != nil {
			s.live[i] = nil
			return err
		}
		if err := touch(b, size); err != nil {
			return err
		}
		s.live[i] = b
	}
	return nil
}

// free frees every live buffer.
func (s *liveSet) free() error {
	for i, b := range s.live {
		if b == nil {
			continue
		}
		if err := s.h.Free(b); err != nil {
			return err
		}
		s.live[i] = nil
	}
	return nil
}

// runLiveSet measures random replacement with env.Live buffers live. One
// round of the body replaces as many buffers as are live, so that a run
// turns the live set over at least once, and every run ends with a forced
// runtime.GC(), counted in its time: under GOGC=100 the Go heap collects
// about once per turnover of its live set, and without the forced GC a
// short run would leave that deferred cost outside the measurement.
func runLiveSet(env *Env, rep *WorkloadReport) error {
	rep.Notes = append(rep.Notes,
		fmt.Sprintf("one goroutine; buffers of %s, uniform; a run replaces the whole live set at least once, "+
			"then calls runtime.GC() once, inside the measured time", liveSetSizes),
		"faults/op: page faults per op once the live set is built and warm (getrusage, minor + major)",
		"the live set is held in a [][]byte on the Go heap for every allocator; allocators run one after the other")
	ks := freesEach(rep, env.Kinds)
	noteLocked(rep, ks, "behind an uncontended sync.Mutex here, as a program sharing it would need")
	for _, count := range env.Live {
		c := "live=" + countName(count)
		runSequential(env, rep, c, ks, env.Time, func(k Kind, a Allocator) (Body, func() error, error) {
			s := &liveSet{h: shared(k, a), live: make([][]byte, count), rng: xorshift(0x9E3779B97F4A7C15)}
			for i := range s.live {
				size := liveSetSizes.pick(s.rng.next())
				b, err := s.h.Alloc(size)
				if err != nil {
					return nil, nil, err
				}
				if err := touch(b, size); err != nil {
					return nil, nil, err
				}
				s.live[i] = b
			}
			body := func(n int64) (int64, error) {
				ops := n * int64(count)
				if err := s.replace(ops); err != nil {
					return 0, err
				}
				runtime.GC()
				return ops, nil
			}
			return body, s.free, nil
		})
	}
	addThroughput(rep)
	return nil
}
