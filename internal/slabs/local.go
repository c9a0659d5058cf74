// Caches: the one front-end of the slabs, per P or per Cache. See doc.go.

package slabs

import (
	"math/bits"
	"sync/atomic"

	"github.com/mmalloc/mmalloc/internal/chunk"
)

// Local is one cache: per size class, the slab it owns and the objects of
// it cached to hand out, with the class's counts. A cache owns at most
// one slab per class, so what it keeps from the OS is bounded by
// OwnedBytesBound. A Local is not safe for concurrent use; its owner (a P
// while pinned, the goroutine holding a Cache, or whoever drains it)
// serialises every access. The zero Local is an empty cache.
type Local struct {
	// The chunk of the last object freed here through the registry: Free
	// finds the slabs of addresses in it without the registry.
	memo chunk.Memo

	cls  [ClassSlots]classCache // what the fast paths read and write
	cold [ClassSlots]classSlab  // the rest
}

// classCache is what the fast paths use of one class of a Local: one
// cache line, read and written by Alloc and FreeCached, which read
// nothing else but the owner word (the word's address and the address of
// its first object are copies, so that they read nothing of the Slab
// record). It holds the owner word w of the slab the cache owns
// (classSlab.s), the word it caches objects from.
type classCache struct {
	mask   uint64  // cached objects of word w: bit b is object w*64+b
	zero   uint64  // of mask's objects, those that read as zero (meaningless where mask is clear)
	pend   uint64  // the object of word w freed last, cached at the next free (see recycle); 0 if none
	word   *uint64 // owner word w, or nil
	wbase  uintptr // the address of object w*64
	size   uint32  // the object size of the class
	freed  uint16  // objects of the slab freed through this cache, not yet taken off its count
	rot    uint8   // the object size's trailing zero bits: Slab.rawIndex rotates right by them
	allocs uint64  // allocations this cache served
	frees  uint64  // frees this cache took
}

// classSlab is the rest of one class of a Local.
type classSlab struct {
	s *Slab // the slab the cache owns, or nil
	w int   // the owner word mask came from
}

// OwnedBytesBound returns the most bytes of slabs one cache can own: one
// slab of every class.
func OwnedBytesBound() int { return ownedBytesBound }

var ownedBytesBound = func() (n int) {
	for c := 1; c <= NumClasses; c++ {
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

// Cached returns how many free objects of class c the cache has
// cached and not handed out.
func (l *Local) Cached(c int) int {
	cc := &l.cls[c]
	return bits.OnesCount64(cc.mask | cc.pend)
}

// unused is what the count of the slab class c owns holds that callers
// do not: the objects cached, and the ones freed through this cache
// whose count it has not yet taken off.
func (l *Local) unused(c int) int { return l.Cached(c) + int(l.cls[c].freed) }

// Owns calls f with every slab the cache owns and what its count holds
// beyond the objects callers hold (see unused), for validation.
func (l *Local) Owns(f func(s *Slab, unused int)) {
	for c := 1; c <= NumClasses; c++ {
		if s := l.cold[c].s; s != nil {
			f(s, l.unused(c))
		}
	}
}

// Remember makes Free look addresses in ch up without the registry.
func (l *Local) Remember(ch *chunk.Chunk) { l.memo.Set(ch) }

// Alloc hands out the lowest object of class c the cache has cached:
// its address, its size (the class's) and whether it reads as zero. Size
// 0: nothing is cached, and the caller goes to AllocNext. It takes no
// lock, and it is small enough to be inlined into the callers' fast
// paths: one atomic OR and a few loads and stores of the class's line.
func (l *Local) Alloc(c int) (addr, size uintptr, zero bool) {
	cc := &l.cls[c]
	m := cc.mask
	if m == 0 {
		return 0, 0, false
	}
	cc.mask = m & (m - 1)
	cc.allocs++
	b := bits.TrailingZeros64(m)
	size = uintptr(cc.size)
	addr, zero = cc.wbase+uintptr(b)*size, cc.zero>>b&1 != 0
	atomic.OrUint64(cc.word, m&-m) // Slab.handOut's step, from the cache's copy
	return addr, size, zero
}

// AllocNext is Alloc, caching first the next word of free objects of
// the slab the cache owns if nothing is cached. ok false: the slab has
// no free object left (or the cache owns none), and the caller goes to
// the Central (Install).
func (l *Local) AllocNext(c int) (addr uintptr, zero, ok bool) {
	if l.cls[c].mask == 0 && !l.cacheWord(c) {
		return 0, false, false
	}
	addr, _, zero = l.Alloc(c)
	return addr, zero, true
}

// cacheWord caches the next word of free objects of the slab class c
// owns: after the last word cached, then once more from the start if
// at least reuseFree objects are free (what frees gave back). It reports
// false when the cache must change slabs.
func (l *Local) cacheWord(c int) bool {
	cc, cs := &l.cls[c], &l.cold[c]
	s := cs.s
	if s == nil {
		return false
	}
	if cc.pend != 0 { // the object freed last is not cached again
		cc.freed++
		cc.pend = 0
	}
	if cc.freed > 0 { // settle what frees through this cache owe the count
		s.state().Add(-uint64(cc.freed))
		cc.freed = 0
	}
	w, m := s.cacheFrom(cs.w + 1)
	if m == 0 && s.count() <= int(s.reuseAt) {
		w, m = s.cacheFrom(0)
	}
	if m == 0 {
		return false
	}
	cs.w = w
	*cc = classCache{
		mask: m, zero: s.takeFresh(w, m), word: s.ownerWord(w << 6),
		wbase: s.base + uintptr(w<<6)*s.size, size: uint32(s.size), rot: uint8(-s.rot),
		allocs: cc.allocs, frees: cc.frees,
	}
	return true
}

// Install makes s (just acquired from its Central, or nil) the slab the
// cache allocates class c from, and returns the slab it owned before,
// with what the cache still owes its count (unused), for the caller to
// give back (Central.Exchange or Abandon) once it may block.
func (l *Local) Install(c int, s *Slab) (old *Slab, unused int) {
	cc := &l.cls[c]
	old, unused = l.cold[c].s, l.unused(c)
	l.cold[c] = classSlab{s: s, w: -1}
	*cc = classCache{allocs: cc.allocs, frees: cc.frees}
	return old, unused
}

// Drain takes every slab out of the cache, giving each back through
// abandon with what was cached, and publishes the cache's counts to
// each class's Central through publish. The cache is empty afterwards.
func (l *Local) Drain(abandon func(s *Slab, unused int), publish func(c int, allocs, frees uint64)) {
	for c := 1; c <= NumClasses; c++ {
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

// Forget empties the cache without giving anything back, keeping its
// counts: its Allocator has closed, and its memory is unmapped. Alloc
// and Free find nothing in it afterwards.
func (l *Local) Forget() {
	for c := range l.cls {
		l.Install(c, nil)
	}
	l.memo = chunk.Memo{}
}

// Freeing an object through a cache takes these steps, each small enough
// to be inlined into the callers' fast path (mmalloc's Allocator.free,
// for the per-P caches and the Caches alike), none taking a lock:
//
//  1. CachedIndex(ClassOf(cap), addr): the object is one of the owner
//     word the cache takes objects from for the class of the freed slice's
//     cap (a guess, which CachedIndex confirms or refutes); then
//     FreeCached clears its owner bit, and it is cached again at the
//     next such free (see recycle). This step reads nothing but the
//     class's line and the owner word.
//  2. Else Owner(addr): the slab the chunk the cache remembers names for
//     addr's page (else the registry's chunk, which the cache then
//     remembers); Slab.Index checks that addr starts one of its objects.
//  3. Slab.ClaimIndex clears the object's owner bit, if set.
//  4. Freed counts the free (a call: the only step not inlined).
//
// Any refusal leaves the slow path to explain it.

// CachedIndex returns the index in the owner word the cache caches
// from for class c of the object whose first byte is addr, and whether
// addr starts an object of that word, or lies past the slab's last object
// in its last word (whose owner bits are never set: FreeCached refuses
// it). False for any other addr.
func (l *Local) CachedIndex(c int, addr uintptr) (i uint64, ok bool) {
	cc := &l.cls[c]
	i = bits.RotateLeft64(uint64(addr-cc.wbase)*classInv[c], -int(cc.rot))
	return i, i < 64 && cc.word != nil
}

// FreeCached frees object i of the owner word the cache takes objects from
// for class c (CachedIndex said so) if a caller held it, and reports
// whether it did. False changes nothing.
func (l *Local) FreeCached(c int, i uint64) bool {
	cc := &l.cls[c]
	bit := uint64(1) << (i & 63)
	if atomic.AndUint64(cc.word, ^bit)&bit == 0 {
		return false // nobody held it, or no object has the bit
	}
	cc.frees++
	cc.recycle(bit)
	return true
}

// recycle takes the object of word w whose owner bit is bit, just freed,
// back into the cache: held one fewer, kept one more, so the slab's count
// stays. It
// is cached again, to be handed out before the word's higher objects,
// but only at the class's next free through the cache, the object freed
// before it taking its place: so a program that frees and allocates in
// turn reuses two objects' lines, as with a free list, and a second Free
// of an object is refused even after one more allocation of its class
// (its owner bit, clear until it is handed out again, refuses it).
func (cc *classCache) recycle(bit uint64) {
	cc.mask |= cc.pend
	cc.pend = bit
	cc.zero &^= bit // it has been used
}

// Owner returns the slab owning addr's page when addr lies in the chunk
// the cache remembers (chunk.Memo: a few chunks), else nil.
func (l *Local) Owner(addr uintptr) *Slab { return (*Slab)(l.memo.Owner(addr)) }

// Freed counts the free of an object of s, whose owner bit (bit, of
// word) ClaimIndex has just cleared, and reports whether the caller must
// call s.Settle once it may block.
func (l *Local) Freed(s *Slab, word *uint64, bit uint64) (settle bool) {
	cc := &l.cls[s.class]
	cc.frees++
	if l.cold[s.class].s != s {
		return s.uncount()
	}
	// The cache owns the slab, which never needs settling then.
	if word == cc.word {
		cc.recycle(bit)
		return false
	}
	// The cache takes the object off the count when it next caches
	// or gives the slab back, one atomic add for many frees.
	cc.freed++
	return false
}

// CountFree counts a free of class c made outside Free (the slow path).
func (l *Local) CountFree(c int) { l.cls[c].frees++ }
