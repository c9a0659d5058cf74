// Invariant checks after every call, in builds with the invariants tag.
// See doc.go.

package mmalloc

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"weak"

	"github.com/mmalloc/mmalloc/slab"
)

// With the invariants build tag (go test -tags invariants), every public
// call that may change an Allocator — Alloc, AllocUninit, Free, Realloc,
// Trim, CheckGuards and the Cache's calls (and so the typed helpers, which
// call Alloc and Free) — runs validate when it returns, and
// panics if an invariant is broken: that is a bug in the allocator, never
// the caller's. The invariants relate figures that concurrent calls update
// one after another, so the check runs only when its call was the only
// one in flight, and new calls wait while it runs. Every Cache registers
// itself so that validate can count the objects and the counts it holds.
//
// In normal builds invariants is a false constant: the checks, the
// counter and the registry are compiled out, and invState stays nil.

// invChecking, in invState.inflight, says a check is running.
const invChecking = -1 << 40

// invState is what the checks need. It is safe for concurrent use.
type invState struct {
	inflight atomic.Int64 // public calls in progress, or invChecking

	mu     sync.Mutex
	caches []weak.Pointer[Cache] // every Cache made, while it lives; protected by mu
}

// checkAfter counts a public call in and returns the function that counts
// it out (and checks). Use as: if invariants { defer a.checkAfter(op)() }.
func (a *Allocator) checkAfter(op string) func() {
	s := a.inv
	for {
		v := s.inflight.Load()
		if v >= 0 && s.inflight.CompareAndSwap(v, v+1) {
			break
		}
		runtime.Gosched()
	}
	return func() {
		if !s.inflight.CompareAndSwap(1, invChecking) {
			s.inflight.Add(-1)
			return
		}
		var err error
		if !a.closed.Load() {
			err = a.validate()
		}
		s.inflight.Store(0)
		if err != nil {
			panic(fmt.Sprintf("mmalloc: invariant broken after %s: %v", op, err))
		}
	}
}

// registerCache makes c's holdings visible to validate.
func (a *Allocator) registerCache(c *Cache) {
	s := a.inv
	s.mu.Lock()
	defer s.mu.Unlock()
	s.caches = append(s.caches, weak.Make(c))
}

// cacheSlack returns, per class, what every Cache holds that the Centrals'
// figures do not show: objects on its stacks, plus allocations it counted
// but has not published, minus frees likewise. With it, for every class,
//
//	objects out of the slabs == live + in per-P caches + cacheSlack + held by guard mode
//
// It is zero in normal builds, where validate's callers flush every Cache.
func (a *Allocator) cacheSlack() (slack [slab.NumClasses]int64) {
	if !invariants || a.inv == nil {
		return slack
	}
	s := a.inv
	s.mu.Lock()
	defer s.mu.Unlock()
	kept := s.caches[:0]
	for _, w := range s.caches {
		c := w.Value()
		if c == nil {
			continue
		}
		kept = append(kept, w)
		for cls := 1; cls < slab.NumClasses; cls++ {
			allocs, frees := c.l.Counts(cls)
			slack[cls] += int64(c.l.Len(cls)) + int64(allocs-c.pubAllocs[cls]) - int64(frees-c.pubFrees[cls])
		}
	}
	clear(s.caches[len(kept):])
	s.caches = kept
	return slack
}
