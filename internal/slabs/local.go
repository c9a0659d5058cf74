// Caches: the one front-end of the slabs, per P or per Cache. See doc.go.

package slabs

import (
	"math/bits"
	"sync/atomic"

	"github.com/mmalloc/mmalloc/internal/chunk"
)

// Local is one cache: per size class, the slab it owns and the objects of
// it reserved to hand out, with the class's counts. A cache owns at most
// one slab per class, so what it keeps from the OS is bounded by
// OwnedBytesBound. A Local is not safe for concurrent use; its owner (a P
// while pinned, the goroutine holding a Cache, or whoever drains it)
// serialises every access. The zero Local is an empty cache.
type Local struct {
	// The chunk of the last object freed here through the registry: Free
	// finds the slabs of addresses in it without the registry.
	memo chunk.Memo

	cls [NumClasses]classCache
}

// classCache is one class of a Local.
type classCache struct {
	s      *Slab  // the slab the cache owns, or nil
	mask   uint64 // reserved objects of s: bit b is object w*64+b
	w      int    // the owner word mask came from
	freed  int    // objects of s freed through this cache, not yet taken off s's count
	allocs uint64 // allocations this cache served
	frees  uint64 // frees this cache took
}

// OwnedBytesBound returns the most bytes of slabs one cache can own: one
// slab of every class.
func OwnedBytesBound() int { return ownedBytesBound }

var ownedBytesBound = func() (n int) {
	for c := 1; c < NumClasses; c++ {
		n += ClassSlabBytes(c)
	}
	return n
}()

// Allocs returns the allocations of class c this cache served since its
// last Drain, and Frees the frees it took. Each is one atomic load, for a
// reader other than the cache's owner (Stats), whose loads then happen in
// the order it makes them; the owner counts with plain adds.
func (l *Local) Allocs(c int) uint64 { return atomic.LoadUint64(&l.cls[c].allocs) }

// Frees: see Allocs.
func (l *Local) Frees(c int) uint64 { return atomic.LoadUint64(&l.cls[c].frees) }

// Reserved returns how many free objects of class c the cache has
// reserved and not handed out.
func (l *Local) Reserved(c int) int { return bits.OnesCount64(l.cls[c].mask) }

// unused is what the count of the slab cc owns holds that callers do not:
// the objects reserved, and the ones freed through this cache whose
// count it has not yet taken off.
func (cc *classCache) unused() int { return bits.OnesCount64(cc.mask) + cc.freed }

// Owns calls f with every slab the cache owns and what its count holds
// beyond the objects callers hold (see classCache.unused), for validation.
func (l *Local) Owns(f func(s *Slab, unused int)) {
	for c := 1; c < NumClasses; c++ {
		if cc := &l.cls[c]; cc.s != nil {
			f(cc.s, cc.unused())
		}
	}
}

// Remember makes Free look addresses in ch up without the registry.
func (l *Local) Remember(ch *chunk.Chunk) { l.memo.Set(ch) }

// Alloc hands out an object of class c from the slab the cache owns: its
// address and whether it reads as zero. ok false: the slab has no free
// object left (or there is none), and the caller goes to Refill. It takes
// no lock.
func (l *Local) Alloc(c int) (addr uintptr, zero, ok bool) {
	cc := &l.cls[c]
	m := cc.mask
	if m == 0 {
		if !l.reserve(cc) {
			return 0, false, false
		}
		m = cc.mask
	}
	cc.mask = m & (m - 1)
	cc.allocs++
	addr, zero = cc.s.handOut(cc.w<<6 | bits.TrailingZeros64(m))
	return addr, zero, true
}

// reserve reserves the next word of free objects of the owned slab: after
// the last word reserved, then once more from the start if at least
// reuseFree objects are free (what frees gave back). It reports false when
// the cache must change slabs.
func (l *Local) reserve(cc *classCache) bool {
	s := cc.s
	if s == nil {
		return false
	}
	if cc.freed > 0 { // settle what frees through this cache owe the count
		s.state().Add(-uint64(cc.freed))
		cc.freed = 0
	}
	w, m := s.reserveFrom(cc.w + 1)
	if m == 0 && s.count() <= int(s.reuseAt) {
		w, m = s.reserveFrom(0)
	}
	cc.w, cc.mask = w, m
	return m != 0
}

// Install makes s (just acquired from its Central, or nil) the slab the
// cache allocates class c from, and returns the slab it owned before,
// with what the cache still owes its count (unused), for the caller to
// give back (Central.Exchange or Abandon) once it may block.
func (l *Local) Install(c int, s *Slab) (old *Slab, unused int) {
	cc := &l.cls[c]
	old, unused = cc.s, cc.unused()
	cc.s, cc.w, cc.mask, cc.freed = s, -1, 0, 0
	return old, unused
}

// Drain takes every slab out of the cache, giving each back through
// abandon with what was reserved, and publishes the cache's counts to
// each class's Central through publish. The cache is empty afterwards.
func (l *Local) Drain(abandon func(s *Slab, unused int), publish func(c int, allocs, frees uint64)) {
	for c := 1; c < NumClasses; c++ {
		if old, unused := l.Install(c, nil); old != nil {
			abandon(old, unused)
		}
		cc := &l.cls[c]
		if cc.allocs != 0 || cc.frees != 0 {
			publish(c, cc.allocs, cc.frees)
			cc.allocs, cc.frees = 0, 0
		}
	}
	l.memo = chunk.Memo{}
}

// Free marks the object whose first byte is addr free, when addr lies in
// the chunk the cache remembers and a caller holds the object, and counts
// the free. It returns the object's slab, with settle when the caller
// must call s.Settle once it may block; s nil means the caller must take
// the slow path (another chunk, or a refusal to explain). It takes no lock.
func (l *Local) Free(addr uintptr) (s *Slab, settle bool) {
	s = (*Slab)(l.memo.Owner(addr))
	if s == nil {
		return nil, false
	}
	i := s.rawIndex(addr)
	if i >= uint64(s.objects) {
		return nil, false
	}
	m := uint64(1) << (i & 63)
	if atomic.AndUint64(s.ownerWord(int(i)), ^m)&m == 0 {
		return nil, false // nobody held it: the slow path explains
	}
	cc := &l.cls[s.class]
	cc.frees++
	if cc.s == s {
		// The cache owns the slab: it takes the object off the count
		// when it next reserves or gives the slab back, one atomic add
		// for many frees. An owned slab never needs settling.
		cc.freed++
		return s, false
	}
	return s, s.uncount()
}

// CountFree counts a free of class c made outside Free (the slow path).
func (l *Local) CountFree(c int) { l.cls[c].frees++ }

// Class returns the size class of s's objects.
func (s *Slab) Class() int { return int(s.class) }
