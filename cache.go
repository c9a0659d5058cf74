// Cache: a per-goroutine front of an Allocator. See doc.go.

package mmalloc

import (
	"runtime"
	"sync/atomic"
	"unsafe"
	"weak"

	"github.com/mmalloc/mmalloc/internal/heapprof"
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
	a      *Allocator
	mu     cacheLock // race builds: serialises l with Stats and the cleanup
	l      slabs.Local
	closed bool             // Close ran; protected by a.lmu
	ended  atomic.Bool      // closed, for the fast paths to read
	sample heapprof.Sampler // see profile.go; the Cache's goroutine's

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
	st := &cacheState{a: a}
	st.sample.Init(&a.prof)
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
	if !c.made() {
		return nil, ErrUninitialized
	}
	if invariants {
		defer c.st.a.checkAfter("Cache.Alloc")()
	}
	return c.alloc(n, true)
}

// AllocUninit is Allocator.AllocUninit through the Cache: n bytes whose
// contents are unspecified.
func (c *Cache) AllocUninit(n int) ([]byte, error) {
	if !c.made() {
		return nil, ErrUninitialized
	}
	if invariants {
		defer c.st.a.checkAfter("Cache.AllocUninit")()
	}
	return c.alloc(n, false)
}

func (c *Cache) alloc(n int, zero bool) ([]byte, error) {
	st := c.st
	a := st.a
	if st.ended.Load() {
		return nil, ErrClosed
	}
	if uint(n-1) < uint(a.threshold) && !a.closed.Load() {
		cls := slabs.ClassOf(n)
		st.mu.lock()
		p, z, ok := st.l.Alloc(cls)
		st.mu.unlock()
		if ok {
			b := object(p, cls, n, zero && !z)
			if st.sample.Take(slabs.ClassBytes(cls)) { // see profile.go
				return a.sampled(b)
			}
			return b, nil
		}
		return c.counted(c.refill(cls, n, zero))
	}
	return a.alloc(n, zero)
}

// refill gives the Cache a new slab of class cls and hands out one object.
func (c *Cache) refill(cls, n int, zero bool) ([]byte, error) {
	st := c.st
	return st.a.refill(cls, n, zero, st, func() *slabs.Local {
		st.mu.lock()
		return &st.l
	}, st.mu.unlock)
}

// Free is Allocator.Free through the Cache, with the same checks and
// errors: the object goes straight back to its slab.
func (c *Cache) Free(b []byte) error {
	if !c.made() {
		return ErrUninitialized
	}
	st := c.st
	if st.ended.Load() {
		return ErrClosed
	}
	if invariants {
		defer st.a.checkAfter("Cache.Free")()
	}
	if addr := sliceAddr(b); st.a.prof.MaybeLive(addr) && cap(b) != 0 { // see profile.go
		st.a.dropSample(addr)
	}
	// The fast path: an object of the chunk the Cache remembers.
	if cap(b) != 0 && !st.a.closed.Load() {
		addr := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
		st.mu.lock()
		s, settle := st.l.Free(addr)
		if s == nil {
			s, settle = st.a.freeLookup(&st.l, addr)
		}
		st.mu.unlock()
		if s != nil {
			if settle {
				s.Settle()
			}
			return nil
		}
	}
	s, settle, done, err := st.a.checkFree(b)
	if done {
		return err
	}
	st.mu.lock()
	st.l.CountFree(s.Class())
	st.mu.unlock()
	if settle {
		s.Settle()
	}
	return nil
}

// Flush gives the slabs the Cache owns back to the Allocator, with the
// free objects it had reserved, and publishes its counts. The Cache stays
// usable.
func (c *Cache) Flush() {
	if !c.made() {
		return
	}
	if invariants {
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
	if invariants {
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
	if invariants {
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
	a.drainLocal(&st.l)
	st.mu.unlock()
	return true
}
