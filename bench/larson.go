// The larson workload: slot arrays that move between workers every round.

package main

import (
	"fmt"
	"sync"
	"sync/atomic"
)

// larsonSlots is the length of each worker's slot array, and the number
// of replacements a worker makes per round.
const larsonSlots = 4096

// larsonSizes are the cases: small objects, and a server's mix up to 8 KiB.
var larsonSizes = []sizeRange{{16, 128}, {16, 8 << 10}}

// larsonWorkers is how many workers run: GOMAXPROCS, at least two, so that
// the arrays do move between goroutines.
func larsonWorkers(procs int) int { return max(2, procs) }

// barrier makes a fixed number of goroutines wait for each other, again
// and again. Safe for concurrent use.
type barrier struct {
	mu      sync.Mutex
	cond    sync.Cond
	n       int    // goroutines that meet; read-only
	waiting int    // goroutines waiting now; guarded by mu
	gen     uint64 // meetings so far; guarded by mu
}

func newBarrier(n int) *barrier {
	b := &barrier{n: n}
	b.cond.L = &b.mu
	return b
}

// wait returns once all n goroutines have called it.
func (b *barrier) wait() {
	b.mu.Lock()
	defer b.mu.Unlock()
	gen := b.gen
	b.waiting++
	if b.waiting == b.n {
		b.waiting = 0
		b.gen++
		b.cond.Broadcast()
		return
	}
	for gen == b.gen {
		b.cond.Wait()
	}
}

// larsonState is one instance of the workload: the slot arrays, and the
// round they have reached. Between rounds the arrays move: in round r,
// worker w works on arrays[(w+r) % workers], so most frees are of objects
// another worker allocated.
type larsonState struct {
	handles []Allocator // one per worker
	rngs    []xorshift  // one per worker
	arrays  [][][]byte
	sizes   sizeRange
	round   int64 // rounds done before this body call
}

// work runs worker w for n rounds, meeting the others at bar after each.
// After an error (failed set) it stops allocating but keeps meeting them,
// so that nobody waits for ever.
func (s *larsonState) work(w int, n int64, bar *barrier, failed *atomic.Bool) error {
	h, rng := s.handles[w], &s.rngs[w]
	var first error
	for r := range n {
		slots := s.arrays[(int64(w)+s.round+r)%int64(len(s.arrays))]
		for range larsonSlots {
			if failed.Load() {
				break
			}
			x := rng.next()
			i := int((x >> 32) % uint64(len(slots)))
			if err := h.Free(slots[i]); err != nil {
				first = err
				failed.Store(true)
				break
			}
			size := s.sizes.pick(x)
			b, err := h.Alloc(size)
			if err == nil {
				err = touch(b, size)
			}
			if err != nil {
				slots[i] = nil
				first = err
				failed.Store(true)
				break
			}
			slots[i] = b
		}
		bar.wait()
	}
	return first
}

// free frees every live slot.
func (s *larsonState) free() error {
	for _, slots := range s.arrays {
		for i, b := range slots {
			if b == nil {
				continue
			}
			if err := s.handles[0].Free(b); err != nil {
				return err
			}
			slots[i] = nil
		}
	}
	return nil
}

func runLarson(env *Env, rep *WorkloadReport) error {
	g := larsonWorkers(env.Procs)
	rep.Notes = append(rep.Notes, fmt.Sprintf("%d workers share one instance of each allocator; each has an array of %d slots, "+
		"replaces %d random slots per round, and hands the array to the next worker; allocators run one after the other",
		g, larsonSlots, larsonSlots),
		"mmalloc-cache: every worker has a Cache of its own, and frees what the others allocated")
	ks := freesEach(rep, env.Kinds)
	noteLocked(rep, ks, lockedWhy)
	for _, sizes := range larsonSizes {
		runSequential(env, rep, "size="+sizes.String(), ks, env.Time, func(k Kind, a Allocator) (Body, func() error, error) {
			sh := shared(k, a)
			s := &larsonState{sizes: sizes, handles: make([]Allocator, g), rngs: make([]xorshift, g), arrays: make([][][]byte, g)}
			for w := range g {
				h, err := perGoroutine(sh)
				if err != nil {
					return nil, nil, err
				}
				s.handles[w] = h
				s.rngs[w] = xorshift(0x9E3779B97F4A7C15 * uint64(w+1))
				s.arrays[w] = make([][]byte, larsonSlots)
				for i := range s.arrays[w] {
					size := sizes.pick(s.rngs[w].next())
					b, err := h.Alloc(size)
					if err != nil {
						return nil, nil, err
					}
					s.arrays[w][i] = b
				}
			}
			errs := make([]error, g)
			body := func(n int64) (int64, error) {
				bar := newBarrier(g)
				var failed atomic.Bool
				var wg sync.WaitGroup
				for w := range g {
					wg.Go(func() { errs[w] = s.work(w, n, bar, &failed) })
				}
				wg.Wait()
				s.round += n
				for _, err := range errs {
					if err != nil {
						return 0, err
					}
				}
				return n * larsonSlots * int64(g), nil
			}
			cleanup := func() error {
				if err := s.free(); err != nil {
					return err
				}
				return closeHandles(sh, s.handles)
			}
			return body, cleanup, nil
		})
	}
	addThroughput(rep)
	return nil
}
