//go:build !race

// Per-P caches: pinning the goroutine to its P. See doc.go.

package mmalloc

import (
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/mmalloc/mmalloc/internal/heapprof"
	"github.com/mmalloc/mmalloc/slab"
)

// local is one P's cache. Padding keeps two Ps' hot fields off one line.
type local struct {
	sample heapprof.Sampler // see profile.go

	slab.Local
	_ [64]byte
}

// pin pins the goroutine and returns its P's cache, or nil when the P has
// none (GOMAXPROCS was raised after New); unpin must follow either way.
func (a *Allocator) pin() *local {
	pid := procPin()
	if pid < len(a.locals) {
		return &a.locals[pid]
	}
	return nil
}

func (a *Allocator) unpin(*local) { procUnpin() }

// eachLocal runs f on every P's cache, each while pinned to that P, so that
// f may read and change it like its owner. f must not block or allocate.
//
// The caller visits its own P, then starts a goroutine for each other P.
// A goroutine that lands on a P already visited keeps that P busy (a short
// spin, then a yield) rather than giving it up, so the scheduler hands the
// goroutines still waiting to the idle Ps, which it wakes when they are
// started. Caches of P ids at or above the current GOMAXPROCS have no P to
// run on and are visited directly.
func (a *Allocator) eachLocal(f func(pid int, l *slab.Local)) {
	procs := min(runtime.GOMAXPROCS(0), len(a.locals))
	for pid := procs; pid < len(a.locals); pid++ {
		f(pid, &a.locals[pid].Local)
	}
	visited := make([]atomic.Bool, procs)
	var left atomic.Int64
	left.Store(int64(procs))
	visit := func() {
		pid := procPin()
		if pid < procs && visited[pid].CompareAndSwap(false, true) {
			f(pid, &a.locals[pid].Local)
			left.Add(-1)
		}
		procUnpin()
	}
	wait := func() {
		for spins := 0; left.Load() > 0; spins++ {
			visit()
			if spins%64 == 63 {
				runtime.Gosched()
			}
		}
	}
	visit()
	var wg sync.WaitGroup
	for range procs - 1 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			wait()
		}()
	}
	wait()
	wg.Wait()
}

// readLocals runs f on every P's cache to read its counters, without
// visiting: each counter is one machine word written only by its owner, so
// a read sees some value the owner wrote, and every write that happens
// before the call (the caller's own, or another goroutine's it has
// synchronised with). f must only read.
func (a *Allocator) readLocals(f func(pid int, l *slab.Local)) {
	for pid := range a.locals {
		f(pid, &a.locals[pid].Local)
	}
}
