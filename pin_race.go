//go:build race

// Per-P caches under the race detector. See doc.go.

package mmalloc

import (
	"sync"

	"github.com/mmalloc/mmalloc/internal/heapprof"
	"github.com/mmalloc/mmalloc/internal/slabs"
)

// The race detector cannot see that pinning serialises the users of a P's
// cache, so race builds lock each cache with a mutex instead (taken after
// unpinning, so that blocking is allowed). The logic is the same; only the
// exclusion differs, and now the detector checks it.

// local is one P's cache and, in race builds, its lock.
type local struct {
	sample heapprof.Sampler // see profile.go

	slabs.Local
	mu      sync.Mutex
	retired bool // drained by swapLocals: never used again; protected by mu
}

func (a *Allocator) pin() *local { return a.localOf(procPin()) }

func (a *Allocator) localOf(pid int) *local {
	procUnpin()
	for {
		ls := a.locals.Load()
		if pid >= len(ls.l) {
			return nil
		}
		l := &ls.l[pid]
		l.mu.Lock()
		if !l.retired {
			return l
		}
		l.mu.Unlock()
		pid = procPin()
		procUnpin()
	}
}

func (a *Allocator) unpin(l *local) {
	if l != nil {
		l.mu.Unlock()
	}
}

// retire marks every cache of old retired, each under its lock: a
// goroutine that took the lock before ends first, one that takes it
// after sees the mark and loads the current set again.
func retire(old *localSet) {
	for i := range old.l {
		l := &old.l[i]
		l.mu.Lock()
		l.retired = true
		l.mu.Unlock()
	}
}

// cacheLock guards a Cache's Local against Stats and the Cache's cleanup.
type cacheLock struct{ mu sync.Mutex }

func (c *cacheLock) lock()   { c.mu.Lock() }
func (c *cacheLock) unlock() { c.mu.Unlock() }

func (a *Allocator) readLocals(f func(l *slabs.Local)) {
	ls := a.locals.Load()
	for i := range ls.l {
		l := &ls.l[i]
		l.mu.Lock()
		f(&l.Local)
		l.mu.Unlock()
	}
}
