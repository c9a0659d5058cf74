// Cache: a per-goroutine front of an Allocator. See doc.go.

package mmalloc

import (
	"unsafe"

	"github.com/mmalloc/mmalloc/slab"
)

// Cache is a front of an Allocator for one goroutine at a time: small
// allocations and frees go to its own stacks of free objects, with no lock,
// no atomic operation and no pinning, and it refills from and spills to the
// Allocator in batches. It is the fastest way to allocate with mmalloc.
//
// A Cache is NOT safe for concurrent use: give each goroutine its own (the
// way the Go runtime gives each P an mcache). Memory may move freely
// between Caches and the Allocator: what one Cache allocates, another
// Cache, or the Allocator itself, may free.
//
// A Cache holds at most 64 KiB of free objects per size class. Those
// objects, and the Cache's counts in Stats, reach the Allocator when it
// refills or spills, or on Flush: call Flush before Trim, and
// before reading exact figures from Stats. Large requests go straight to
// the Allocator.
//
// The zero Cache (and a nil one) is not usable: Alloc, AllocUninit and
// Free return ErrUninitialized and Flush does nothing. Make one with
// Allocator.NewCache.
type Cache struct {
	_ noCopy
	a *Allocator
	l slab.Local

	// What l's counters were when last published to the Centrals.
	pubAllocs, pubFrees [slab.NumClasses]uint64
}

// NewCache returns a Cache in front of a. On a nil or zero Allocator it
// returns a Cache whose calls return ErrUninitialized.
func (a *Allocator) NewCache() *Cache {
	c := &Cache{a: a}
	if invariants && a.made() {
		a.registerCache(c)
	}
	return c
}

// Alloc is Allocator.Alloc through the Cache: n zeroed bytes.
func (c *Cache) Alloc(n int) ([]byte, error) {
	if !c.made() {
		return nil, ErrUninitialized
	}
	if invariants {
		defer c.a.checkAfter("Cache.Alloc")()
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
		defer c.a.checkAfter("Cache.AllocUninit")()
	}
	return c.alloc(n, false)
}

func (c *Cache) alloc(n int, zero bool) ([]byte, error) {
	a := c.a
	if uint(n-1) < uint(a.threshold) && !a.closed.Load() {
		cls := slab.ClassOf(n)
		if e, ok := c.l.Pop(cls); ok {
			return e.Bytes(cls, zero)[:n], nil
		}
		return c.refill(cls, n, zero)
	}
	return a.alloc(n, zero)
}

// refill takes a batch of class cls from the Central and hands one out.
func (c *Cache) refill(cls, n int, zero bool) ([]byte, error) {
	if c.a.guard != nil { // guard mode never fills a Cache
		return c.a.guardAlloc(n, zero)
	}
	var batch [slab.MaxBatch]slab.Entry
	got, err := c.a.centrals[cls].AllocBatch(batch[:slab.RefillBatch(cls)])
	if err != nil {
		return nil, err
	}
	c.l.CountAlloc(cls)
	fit := c.l.Fill(cls, batch[1:got])
	central := &c.a.centrals[cls]
	if rest := batch[1+fit : got]; len(rest) > 0 {
		central.FreeBatch(rest)
	}
	c.publish(cls)
	return batch[0].Bytes(cls, zero)[:n], nil
}

// Free is Allocator.Free through the Cache, with the same checks and
// errors: a small object goes onto the Cache's stack.
func (c *Cache) Free(b []byte) error {
	if !c.made() {
		return ErrUninitialized
	}
	if invariants {
		defer c.a.checkAfter("Cache.Free")()
	}
	// The fast path: an object of the chunk the Cache remembers.
	if cap(b) != 0 && !c.a.closed.Load() {
		addr := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
		if s, i := c.l.Object(addr); s != nil {
			own, bit := s.OwnerBit(i)
			if e, ok := s.Claim(addr, own, bit); ok {
				if !c.l.Push(e) {
					c.spill(e)
				}
				return nil
			}
		}
	}
	return c.free(b)
}

// free is Free's slow path (Allocator.release), then the Cache's stack,
// which remembers the chunk, with a spill when it is full.
func (c *Cache) free(b []byte) error {
	e, ch, done, err := c.a.release(b)
	if done {
		return err
	}
	c.l.Remember(ch)
	if !c.l.Push(e) {
		c.spill(e)
	}
	return nil
}

// spill moves the older half of e's full stack back to the Central and
// keeps e.
func (c *Cache) spill(e slab.Entry) {
	var batch [slab.MaxBatch]slab.Entry
	cls := e.Class()
	k := c.l.Spill(cls, batch[:])
	c.l.Push(e)
	c.a.centrals[cls].FreeBatch(batch[:k])
	c.publish(cls)
}

// publish adds class cls's counts since the last publish to the Central.
func (c *Cache) publish(cls int) {
	allocs, frees := c.l.Counts(cls)
	c.a.centrals[cls].Publish(allocs-c.pubAllocs[cls], frees-c.pubFrees[cls])
	c.pubAllocs[cls], c.pubFrees[cls] = allocs, frees
}

// Flush gives every free object the Cache holds back to the Allocator and
// publishes its counts. The Cache stays usable.
func (c *Cache) Flush() {
	if !c.made() {
		return
	}
	if invariants {
		defer c.a.checkAfter("Cache.Flush")()
	}
	var buf [64]slab.Entry
	for cls := 1; cls < slab.NumClasses; cls++ {
		if k := c.l.Drain(cls, buf[:]); k > 0 && !c.a.closed.Load() {
			c.a.centrals[cls].FreeBatch(buf[:k])
		}
		c.publish(cls)
	}
}
