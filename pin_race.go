//go:build race

// Per-P caches under the race detector. See doc.go.

package mmalloc

import (
	"sync"

	"github.com/mmalloc/mmalloc/internal/heapprof"
	"github.com/mmalloc/mmalloc/slab"
)

// The race detector cannot see that pinning serialises the users of a P's
// cache, so race builds lock each cache with a mutex instead (taken after
// unpinning, so that blocking is allowed). The logic is the same; only the
// exclusion differs, and now the detector checks it.

// local is one P's cache and, in race builds, its lock.
type local struct {
	sample heapprof.Sampler // see profile.go

	slab.Local
	mu sync.Mutex
}

func (a *Allocator) pin() *local {
	pid := procPin()
	procUnpin()
	if pid < len(a.locals) {
		l := &a.locals[pid]
		l.mu.Lock()
		return l
	}
	return nil
}

func (a *Allocator) unpin(l *local) {
	if l != nil {
		l.mu.Unlock()
	}
}

func (a *Allocator) eachLocal(f func(pid int, l *slab.Local)) {
	for pid := range a.locals {
		l := &a.locals[pid]
		l.mu.Lock()
		f(pid, &l.Local)
		l.mu.Unlock()
	}
}

func (a *Allocator) readLocals(f func(pid int, l *slab.Local)) { a.eachLocal(f) }
