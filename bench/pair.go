// The pair, batch and parallel workloads.

package main

import (
	"fmt"
	"sync"
)

// parallelSizes are the request sizes of parallel; pair adds two large
// ones, where retention (reuse without page faults) decides the figure.
var (
	parallelSizes = []int{16, 64, 256, 1 << 10, 4 << 10, 32 << 10, 128 << 10, 1 << 20}
	pairSizes     = append(append([]int(nil), parallelSizes...), 4<<20, 16<<20)
)

// batchSizes and batchCount shape the batch workload.
var batchSizes = []int{64, 4 << 10}

const batchCount = 10_000

// sizeCase is the case name of one request size.
func sizeCase(n int) string { return "size=" + sizeName(n) }

// pairLoop does n Alloc+touch+Free pairs of size bytes on a.
func pairLoop(a Allocator, size int, n int64) error {
	for range n {
		b, err := a.Alloc(size)
		if err != nil {
			return err
		}
		if err := touch(b, size); err != nil {
			return err
		}
		if err := a.Free(b); err != nil {
			return err
		}
	}
	return nil
}

func runPair(env *Env, rep *WorkloadReport) error {
	if env.CRef {
		refs, note := runCReference(env, "pair", pairSizes)
		if note != "" {
			rep.Notes = append(rep.Notes, note)
		}
		defer func() { rep.Results = append(rep.Results, refs...) }()
	}
	for _, size := range pairSizes {
		runInterleaved(env, rep, sizeCase(size), env.Kinds, env.Time, func(k Kind, a Allocator) (Body, func() error, error) {
			return func(n int64) (int64, error) { return n, pairLoop(a, size, n) }, nil, nil
		})
	}
	return nil
}

func runBatch(env *Env, rep *WorkloadReport) error {
	if env.CRef {
		refs, note := runCReference(env, "batch", batchSizes)
		if note != "" {
			rep.Notes = append(rep.Notes, note)
		}
		defer func() { rep.Results = append(rep.Results, refs...) }()
	}
	for _, size := range batchSizes {
		runInterleaved(env, rep, sizeCase(size), env.Kinds, env.Time, func(k Kind, a Allocator) (Body, func() error, error) {
			held := make([][]byte, batchCount)
			body := func(n int64) (int64, error) {
				for range n {
					for i := range held {
						b, err := a.Alloc(size)
						if err != nil {
							return 0, err
						}
						if err := touch(b, size); err != nil {
							return 0, err
						}
						held[i] = b
					}
					for i, b := range held {
						if err := a.Free(b); err != nil {
							return 0, err
						}
						held[i] = nil
					}
				}
				return n * batchCount, nil
			}
			return body, nil, nil
		})
	}
	return nil
}

func runParallel(env *Env, rep *WorkloadReport) error {
	g := env.Procs
	rep.Notes = append(rep.Notes, fmt.Sprintf("%d goroutines (GOMAXPROCS) share one instance of each allocator; "+
		"allocators run one after the other, so one's GC work cannot slow the next", g))
	noteLocked(rep, env.Kinds, lockedWhy)
	pair := env.Done["pair"]
	if pair != nil {
		rep.Notes = append(rep.Notes, "scaling = pair's median time per op ÷ this run's (ideal: the number of goroutines)")
	}
	for _, size := range parallelSizes {
		c := sizeCase(size)
		runSequential(env, rep, c, env.Kinds, env.Time, func(k Kind, a Allocator) (Body, func() error, error) {
			sh := shared(k, a)
			handles := make([]Allocator, g)
			for i := range handles {
				h, err := perGoroutine(sh)
				if err != nil {
					return nil, nil, err
				}
				handles[i] = h
			}
			errs := make([]error, g)
			body := func(n int64) (int64, error) {
				var wg sync.WaitGroup
				for i, h := range handles {
					wg.Go(func() { errs[i] = pairLoop(h, size, n) })
				}
				wg.Wait()
				for _, err := range errs {
					if err != nil {
						return 0, err
					}
				}
				return n * int64(g), nil
			}
			return body, func() error { return closeHandles(sh, handles) }, nil
		})
		if pair == nil {
			continue
		}
		for _, r := range rep.Results {
			p := pair.Find(c, r.Alloc)
			if r.Case != c || p == nil {
				continue
			}
			single := p.MedianNs()
			f := Figure{Label: "scaling", Unit: "scaling-x", Format: fmtTimes}
			for _, x := range r.NsPerOp() {
				f.Values = append(f.Values, single/x)
			}
			r.Figures = append(r.Figures, f)
		}
	}
	return nil
}

// closeHandles closes the per-goroutine handles that are not sh itself.
func closeHandles(sh Allocator, handles []Allocator) error {
	var first error
	for _, h := range handles {
		if h == sh {
			continue
		}
		if err := h.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}
