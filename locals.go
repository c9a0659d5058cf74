// The set of per-P caches, and draining it. See doc.go.

package mmalloc

import (
	"errors"
	"runtime"

	"github.com/mmalloc/mmalloc/internal/osmem"
	"github.com/mmalloc/mmalloc/internal/slabs"
)

// localSet is one cache per P, indexed by P id. A set is replaced whole
// (swapLocals), never resized: a goroutine that pinned itself before the
// swap finishes with the old set, and retire waits for it.
type localSet struct {
	l []local
}

// newLocalSet makes a set of n caches, their samplers started (profile.go).
func (a *Allocator) newLocalSet(n int) *localSet {
	ls := &localSet{l: make([]local, max(n, 1))}
	for i := range ls.l {
		ls.l[i].sample.Init(&a.prof)
	}
	return ls
}

// swapLocals installs a new, empty set of caches, n of them, and drains
// the old one: every slab its caches own goes back to its Central and
// their counts are published. It runs on any goroutine, needs no
// particular P, and returns in bounded time whatever GOMAXPROCS does.
// a.lmu is held.
func (a *Allocator) swapLocals(n int) {
	old := a.locals.Load()
	a.locals.Store(a.newLocalSet(n))
	retire(old)
	for i := range old.l {
		a.drainLocal(&old.l[i].Local)
	}
}

// drainLocal gives back everything the cache l holds, and publishes its
// counts. Nobody else uses l meanwhile.
func (a *Allocator) drainLocal(l *slabs.Local) {
	l.Drain(
		func(s *slabs.Slab, unused int) { a.centrals[s.Class()].Abandon(s, unused) },
		func(c int, allocs, frees uint64) { a.centrals[c].Publish(allocs, frees) },
	)
}

// closeLocals installs an empty set of caches, so that every P finds
// none and the fast paths take the slow ones, which see the Allocator
// closed; the old caches' counts are published, their slabs forgotten
// (their memory is about to be unmapped). a.lmu is held; a.closed is set.
func (a *Allocator) closeLocals() {
	old := a.locals.Load()
	a.locals.Store(&localSet{})
	retire(old)
	for i := range old.l {
		old.l[i].Local.Drain(func(*slabs.Slab, int) {},
			func(c int, allocs, frees uint64) { a.centrals[c].Publish(allocs, frees) })
	}
}

// drainLocals empties every P's cache (Trim).
func (a *Allocator) drainLocals() {
	a.lmu.Lock()
	defer a.lmu.Unlock()
	if !a.closed.Load() { // closed: no P has a cache (closeLocals)
		a.swapLocals(runtime.GOMAXPROCS(0))
	}
}

// growLocals gives every P a cache after GOMAXPROCS was raised: the P the
// caller runs on had none. It is a no-op when the set already covers
// GOMAXPROCS.
func (a *Allocator) growLocals() {
	a.lmu.Lock()
	defer a.lmu.Unlock()
	if n := runtime.GOMAXPROCS(0); n > len(a.locals.Load().l) && !a.closed.Load() {
		a.swapLocals(n)
	}
}

// reclaimForLimit is called, with no lock held, by an allocation that
// needed a mapping of need bytes and failed with err. If Limit refused it
// and need alone does not pass Limit, reclaimForLimit takes back what
// the Allocator holds beyond its live objects and the slabs of the Caches
// still in use: every P's cache's slabs, the slabs of Caches dropped
// without Close whose cleanup has not run yet, the kept empty slabs and
// chunks, the free pages of chunks in use and the kept large mappings.
// It reports whether that lowered what is held, so that the allocation is
// worth one more try.
//
// A dropped Cache is known only once a garbage collection has found it
// unreachable (its handle is then nil), and the collections that would
// run its cleanup may be rare: a dropped Cache weighs a few hundred bytes
// of Go heap but may own slabs.OwnedBytesBound of slabs. So when no
// dropped Cache is known and Caches other than own (the caller's, nil
// for a P's cache) are open, reclaimForLimit runs one collection
// (runtime.GC) to find them. That is the cost of a refusal for Limit when
// Caches are open: one collection, whose time grows with the Go heap.
func (a *Allocator) reclaimForLimit(err error, need uintptr, own *cacheState) bool {
	if !errors.Is(err, osmem.ErrLimit) || int64(need) > a.src.Limit() || a.closed.Load() {
		return false
	}
	before := a.src.Held()
	a.drainLocals()
	if a.drainDropped(own) == 0 && a.otherCaches(own) {
		runtime.GC()
		a.drainDropped(own)
	}
	for c := 1; c <= slabs.NumClasses; c++ {
		a.centrals[c].Trim()
	}
	a.heap.Trim()
	a.large.Trim()
	return a.src.Held() < before
}

// drainDropped gives back the slabs of every Cache that a garbage
// collection found unreachable before its cleanup ran (the cleanup then
// finds it closed), and returns how many there were.
func (a *Allocator) drainDropped(own *cacheState) int {
	a.lmu.Lock()
	defer a.lmu.Unlock()
	n := 0
	for st := range a.caches {
		if st != own && st.handle.Value() == nil {
			st.drainLocked(true)
			n++
		}
	}
	return n
}

// otherCaches reports whether a Cache other than own is open.
func (a *Allocator) otherCaches(own *cacheState) bool {
	a.lmu.Lock()
	defer a.lmu.Unlock()
	_, in := a.caches[own]
	if in {
		return len(a.caches) > 1
	}
	return len(a.caches) > 0
}
