//go:build !race

// Per-P caches: pinning the goroutine to its P, and draining the caches
// from any goroutine. See doc.go.

package mmalloc

import (
	"runtime"

	"github.com/mmalloc/mmalloc/internal/heapprof"
	"github.com/mmalloc/mmalloc/internal/slabs"
)

// local is one P's cache. Padding keeps two Ps' hot fields off one line.
type local struct {
	sample heapprof.Sampler // see profile.go

	slabs.Local
	_ [64]byte
}

// pin pins the goroutine and returns its P's cache, or nil when the P has
// none (GOMAXPROCS was raised since the caches were made, or the
// Allocator is closed); unpin must follow either way. The cache is the
// current set's: a set retired by swapLocals is never handed out again.
func (a *Allocator) pin() *local { return a.localOf(procPin()) }

// localOf is pin after procPin returned pid: the fast paths write
// a.localOf(procPin()), which inlines, where pin is a call.
func (a *Allocator) localOf(pid int) *local {
	if ls := a.locals.Load(); pid < len(ls.l) {
		return &ls.l[pid]
	}
	return nil
}

func (a *Allocator) unpin(*local) { procUnpin() }

// retire waits until no goroutine still uses a cache of old, a set that
// swapLocals has just replaced, so that the caller may drain it from any
// goroutine. A goroutine uses a cache only while pinned, and it loads the
// set after pinning; a pinned goroutine cannot be preempted, so a
// stop-the-world, which waits for every goroutine to reach a preemption
// point, also waits for every pinned section that began before the swap
// to end. runtime.ReadMemStats is the cheapest stop-the-world the runtime
// offers (tens of µs); it needs no particular P and no scheduling luck.
func retire(old *localSet) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	_ = old
}

// cacheLock guards a Cache's Local against Stats and the Cache's cleanup
// in race builds; in other builds it is empty and its methods do nothing.
type cacheLock struct{}

func (*cacheLock) lock()   {}
func (*cacheLock) unlock() {}

// readLocals runs f on every P's cache of the current set to read its
// counters, without visiting: each counter is one machine word written
// only by its owner, so a read sees some value the owner wrote, and every
// write that happens before the call. f must only read. a.lmu is held.
func (a *Allocator) readLocals(f func(l *slabs.Local)) {
	ls := a.locals.Load()
	for i := range ls.l {
		f(&ls.l[i].Local)
	}
}
