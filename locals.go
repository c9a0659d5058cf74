// The set of per-P caches, and draining it. See doc.go.

package mmalloc

import (
	"runtime"

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

// drainLocals empties every P's cache (Trim).
func (a *Allocator) drainLocals() {
	a.lmu.Lock()
	defer a.lmu.Unlock()
	a.swapLocals(runtime.GOMAXPROCS(0))
}

// growLocals gives every P a cache after GOMAXPROCS was raised: the P the
// caller runs on had none. It is a no-op when the set already covers
// GOMAXPROCS.
func (a *Allocator) growLocals() {
	a.lmu.Lock()
	defer a.lmu.Unlock()
	if n := runtime.GOMAXPROCS(0); n > len(a.locals.Load().l) {
		a.swapLocals(n)
	}
}
