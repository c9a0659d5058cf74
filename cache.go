// Cache: a per-goroutine front of an Allocator. See doc.go.

package mmalloc

import (
	"runtime"
	"sync/atomic"
	"weak"

	"github.com/mmalloc/mmalloc/internal/heapprof"
	"github.com/mmalloc/mmalloc/internal/invariants"
	"github.com/mmalloc/mmalloc/internal/slabs"
)

// Cache is a front of an Allocator for one goroutine at a time: it owns a
// slab per size class and hands out their objects with no lock and no
// pinning. It is the fastest way to allocate with mmalloc.
//
// A Cache is NOT safe for concurrent use: give each goroutine its own (the
// way the Go runtime gives each P an mcache). Memory may move freely
// between Caches and the Allocator: what one Cache allocates, another
// Cache, or the Allocator itself, may free; every Free goes straight back
// to the object's slab.
//
// A Cache owns at most one slab per size class (slab.OwnedBytesBound in
// all), whose free objects only it hands out. Close gives them back and
// ends the Cache; Flush gives them back and keeps it usable. A Cache that
// is dropped without Close is closed by the garbage collector (its
// cleanup runs some time after it becomes unreachable), so nothing leaks,
// and Stats counts its allocations and frees meanwhile. Large requests go
// straight to the Allocator.
//
// The zero Cache (and a nil one) is not usable: Alloc, AllocUninit, Free
// and Close return ErrUninitialized and Flush does nothing. Make one with
// Allocator.NewCache.
type Cache struct {
	_  noCopy
	st *cacheState
}

// cacheState is a Cache's state, apart from the Cache so that the Cache's
// cleanup can reach it once the Cache is unreachable. The Allocator's
// registry (Allocator.caches) holds it while the Cache is open.
type cacheState struct {
	a         *Allocator
	prof      *heapprof.Profile // &a.prof; read-only
	threshold int               // a.threshold; read-only
	mu        cacheLock         // race builds: serialises l with Stats and the cleanup
	l         local             // the cache and its sampler (see profile.go), as a P's
	closed    bool              // Close ran; protected by a.lmu
	ended     atomic.Bool       // the Cache or its Allocator is closed, for the slow paths to read

	// handle points to the Cache without keeping it reachable: nil once
	// a garbage collection found the Cache dropped, possibly before its
	// cleanup ran (see reclaimForLimit). Read-only.
	handle weak.Pointer[Cache]
}

// NewCache returns a Cache in front of a. After Close it returns a Cache
// whose calls return ErrClosed; on a nil or zero Allocator, one whose
// calls return ErrUninitialized.
func (a *Allocator) NewCache() *Cache {
	if !a.made() {
		return &Cache{}
	}
	st := &cacheState{a: a, prof: &a.prof, threshold: a.threshold}
	st.l.sample.Init(&a.prof)
	a.lmu.Lock()
	if a.closed.Load() {
		st.closed = true
		st.ended.Store(true)
	} else {
		a.caches[st] = struct{}{}
	}
	a.lmu.Unlock()
	c := &Cache{st: st}
	st.handle = weak.Make(c)
	runtime.AddCleanup(c, func(st *cacheState) { st.close() }, st)
	return c
}

// Alloc is Allocator.Alloc through the Cache: n zeroed bytes.
func (c *Cache) Alloc(n int) ([]byte, error) {
	if invariants.Enabled && c.made() {
		defer c.st.a.checkAfter("Cache.Alloc")()
	}
	return c.allocZeroed(n)
}

// AllocUninit is Allocator.AllocUninit through the Cache: n bytes whose
// contents are unspecified.
func (c *Cache) AllocUninit(n int) ([]byte, error) {
	if invariants.Enabled && c.made() {
		defer c.st.a.checkAfter("Cache.AllocUninit")()
	}
	return c.allocUninit(n)
}

// A Cache stays reachable to the end of each call. Its paths work on its
// state, st, which the Allocator's paths take in place of the Cache, and
// the Cache's cleanup drains st once the Cache is unreachable. So each
// call keeps the Cache reachable to its end (runtime.KeepAlive), lest a
// garbage collection during the call, such as the one a refusal for
// Limit runs itself (reclaimForLimit), drain the Cache under it.

// The allocation fast paths of the Cache are each one function, the
// smaller pieces they call inlined (Alloc and AllocUninit into their
// callers, Local's and Slab's steps into them), so that an allocation the
// Cache serves alone is one call; past them, and for every Free, the
// Cache takes the Allocator's paths (alloc, free), given its state. A
// closed Cache caches nothing, owns no slab and remembers no chunk
// (drainLocked, Allocator.Close): the fast paths fail on it without a
// look at st.ended, but for the registry lookup of a free, which must not
// make it remember a chunk (lookup), and the slow paths check it.

// allocUninit is AllocUninit: the fast path, and Allocator.alloc for the
// rest.
func (c *Cache) allocUninit(n int) ([]byte, error) {
	if !c.made() {
		return nil, ErrUninitialized
	}
	st := c.st
	if uint(n-1) < uint(st.threshold) {
		cls := slabs.ClassOf(n)
		st.mu.lock()
		p, size, _ := st.l.Alloc(cls)
		st.mu.unlock()
		if size != 0 {
			if !st.l.sample.Take(int(size)) { // see profile.go
				return object(p, n, int(size)), nil
			}
			return st.a.sampled(object(p, n, int(size)))
		}
	}
	b, err := st.a.alloc(st, n, false)
	runtime.KeepAlive(c) // see "A Cache stays reachable" above
	return b, err
}

// allocZeroed is Alloc: allocUninit, and the object cleared unless it
// reads as zero.
func (c *Cache) allocZeroed(n int) ([]byte, error) {
	if !c.made() {
		return nil, ErrUninitialized
	}
	st := c.st
	if uint(n-1) < uint(st.threshold) {
		cls := slabs.ClassOf(n)
		st.mu.lock()
		p, size, z := st.l.Alloc(cls)
		st.mu.unlock()
		if size != 0 {
			b := object(p, n, int(size))
			if !z {
				clear(b[:size])
			}
			if st.l.sample.Take(int(size)) { // see profile.go
				return st.a.sampled(b)
			}
			return b, nil
		}
	}
	b, err := st.a.alloc(st, n, true)
	runtime.KeepAlive(c) // see "A Cache stays reachable" above
	return b, err
}

// Free is Allocator.Free through the Cache, with the same checks and
// errors: the object goes straight back to its slab.
func (c *Cache) Free(b []byte) error {
	if !c.made() {
		return ErrUninitialized
	}
	if invariants.Enabled && !c.st.ended.Load() {
		defer c.st.a.checkAfter("Cache.Free")()
	}
	return c.st.a.free(b, c) // free keeps c alive: see "A Cache stays reachable" above
}

// Flush gives the slabs the Cache owns back to the Allocator, with the
// free objects it had cached, and publishes its counts. The Cache stays
// usable.
func (c *Cache) Flush() {
	if !c.made() {
		return
	}
	if invariants.Enabled {
		defer c.st.a.checkAfter("Cache.Flush")()
	}
	c.st.drain(false)
}

// Close is Flush, and ends the Cache: later calls return ErrClosed. Memory
// it allocated stays valid until freed (through the Allocator or another
// Cache). A second Close returns ErrClosed.
func (c *Cache) Close() error {
	if !c.made() {
		return ErrUninitialized
	}
	if invariants.Enabled {
		defer c.st.a.checkAfter("Cache.Close")()
	}
	if !c.st.drain(true) || c.st.a.closed.Load() {
		return ErrClosed // a second Close, or the Allocator's Close came first
	}
	return nil
}

// close is the cleanup of a dropped Cache. In invariants builds it counts
// as a call, so that no check runs while it moves slabs.
func (st *cacheState) close() {
	if invariants.Enabled {
		defer st.a.checkAfter("Cache cleanup")()
	}
	st.drain(true)
}

// drain gives back everything st holds; with end, it also ends the Cache
// and reports false if it had ended already.
func (st *cacheState) drain(end bool) bool {
	st.a.lmu.Lock()
	defer st.a.lmu.Unlock()
	return st.drainLocked(end)
}

// drainLocked is drain with a.lmu held.
func (st *cacheState) drainLocked(end bool) bool {
	a := st.a
	if st.closed || (end && a.closed.Load()) {
		return false // nothing to give back, and a refused Close changes nothing
	}
	if end {
		st.closed = true
		st.ended.Store(true)
		delete(a.caches, st)
	}
	if a.closed.Load() {
		return true
	}
	st.mu.lock()
	a.drainLocal(&st.l.Local)
	st.mu.unlock()
	return true
}
