// Slabs and the per-class lists that allocate from them. See doc.go.

package slab

import (
	"fmt"
	"github.com/mmalloc/mmalloc/internal/osmem"
	"math/bits"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/mmalloc/mmalloc/arena"
	"github.com/mmalloc/mmalloc/internal/errs"
)

// ClassOf returns the size class serving a request of n bytes,
// 0 < n <= MaxSmallBytes. Other n return 0.
func ClassOf(n int) int {
	switch {
	case n <= 0 || n > MaxSmallBytes:
		return 0
	case n <= smallMaxBytes:
		return int(size8ToClass[(n+smallStepBytes-1)/smallStepBytes])
	default:
		return int(size128ToClass[(n-smallMaxBytes+largeStepBytes-1)/largeStepBytes])
	}
}

// ClassBytes returns the object size of class c (1 <= c < NumClasses).
func ClassBytes(c int) int { return int(classBytes[c]) }

// ClassSlabBytes returns the slab size of class c.
func ClassSlabBytes(c int) int { return int(classSlabBytes[c]) }

// Slab is one run of pages of a chunk serving one size class.
//
// The identity fields (base, inv, objects, owned, class, rot, the owned
// layout, size, chunk, page, pages) are set before the slab is recorded in
// its chunk's page table and read-only afterwards; the ones every Free
// reads come first. used, nfree, fresh, zeroed, hint and the list links
// belong to the Central of the class and are protected by its mutex.
// owned has one bit per object, set while a caller holds the object and
// clear while it is free in a cache or in the slab; it is changed without
// a lock, by atomic operations only, so that of two Frees of one object
// racing each other exactly one clears the bit and wins.
//
// Invariants, checked by validate:
//
//	nfree == objects - popcount(used)
//	no bit of used is set at or above fresh
//	owner bit i set implies bit i of used is set
//	the slab is on its Central's partial list iff 0 < nfree < objects
type Slab struct {
	base       uintptr
	inv        uint64         // classInv of the class
	objects    int            // objects in the slab
	ownedBase  unsafe.Pointer // &owned[0]
	class      uint8
	rot        int      // -classShift of the class: index rotates right by it
	ownedShift uint8    // log2 of the number of cache lines of owned
	groupShift uint8    // log2 of the objects per group of owned (see ownedPos)
	lineMask   int      // lines of owned - 1
	groupMask  int      // objects per group - 1
	owned      []uint32 // owner bits, object i's at ownedPos(i)

	size  uintptr
	chunk *arena.Chunk
	page  int
	pages int

	used   []uint64 // bit set: object is out of the slab (in a cache or held)
	nfree  int
	fresh  int  // objects [fresh, objects) were never handed out
	zeroed bool // the pages read as zero when the slab was carved
	hint   int  // no word of used below it has a free bit under fresh

	next, prev *Slab // Central list links
	onList     bool
}

// ownedLineBits is a cache line of owner bits: the unit of false sharing.
const ownedLineBits = 512

// ownedPos returns where object i's owner bit lives. Objects go in groups
// of G consecutive ones (G = 2^groupShift: a refill of the class, at most
// a 32-bit word), and group g goes to line g mod L (L = 2^ownedShift
// lines), after the groups L and 2L... before it. A refill hands a cache
// one group of consecutive objects, so one cache's objects share a word
// with each other, and neighbouring refills (another P's, or another
// Cache's) land on other lines: caches never write one line.
func (s *Slab) ownedPos(i int) int {
	g := i >> (s.groupShift & 63)
	return (g&s.lineMask)<<9 | (i>>(s.ownedShift&63))&^s.groupMask | i&s.groupMask
}

// ownedLayout returns the group shift and line shift of the owner bits of
// a slab of the given objects whose refills hand out batch objects at a
// time: groups of the largest power of two no larger than batch (at most
// a word), and enough lines that every group fits, and that at least four
// neighbouring groups sit on distinct lines.
func ownedLayout(objects, batch int) (groupShift, lineShift int) {
	groupShift = min(bits.Len(uint(max(batch, 1)))-1, 5)
	g := 1 << groupShift
	groups := (objects + g - 1) / g
	perLine := ownedLineBits / g
	lines := 1
	for lines*perLine < groups || lines < min(groups, 4) {
		lines *= 2
	}
	return groupShift, bits.TrailingZeros(uint(lines))
}

// setOwnedLayout records the layout ownedLayout chose and makes owned.
func (s *Slab) setOwnedLayout(groupShift, lineShift int) {
	s.groupShift, s.ownedShift = uint8(groupShift), uint8(lineShift)
	s.lineMask, s.groupMask = 1<<lineShift-1, 1<<groupShift-1
	s.owned = make([]uint32, ownedLineBits/32<<lineShift)
	s.ownedBase = unsafe.Pointer(unsafe.SliceData(s.owned))
}

// OwnerBit returns the word of object i's owner bit and the bit's index
// in it, i < s.objects (as Local.Object found). The position is below the
// bits of owned (every group fits its line), so no bounds check.
func (s *Slab) OwnerBit(i int) (*uint32, uint) {
	p := s.ownedPos(i)
	return (*uint32)(unsafe.Add(s.ownedBase, p>>5<<2)), uint(p & 31)
}

// held reports whether a caller holds object i.
func (s *Slab) held(i int) bool {
	w, bit := s.OwnerBit(i)
	return atomic.LoadUint32(w)&(1<<bit) != 0
}

// index returns the object index of addr and whether addr is an object's
// first byte. Any addr is accepted: one below the base wraps around to an
// offset far beyond the slab's objects.
func (s *Slab) index(addr uintptr) (int, bool) {
	i := s.rawIndex(addr)
	return int(i), i < uint64(s.objects)
}

// rawIndex is index before the check: below s.objects exactly when addr
// is an object's first byte.
func (s *Slab) rawIndex(addr uintptr) uint64 {
	return bits.RotateLeft64(uint64(addr-s.base)*s.inv, s.rot)
}

// Entry is one free object on its way between a slab and a caller: its
// address, with whether it is known to read as zero (bit 0) and which bit
// of its owner word is its owner bit (the top five bits; objects lie below
// 2^48, the registry's reach), the owner word, and its slab. Handing the
// object out reads nothing but the Entry.
type Entry struct {
	p   uintptr
	own *uint32
	s   *Slab
}

const (
	entryZero     = 1                        // bit of Entry.p: reads as zero
	entryBitShift = 59                       // Entry.p >> entryBitShift: the owner bit's index
	entryAddr     = (1<<48 - 1) &^ entryZero // Entry.p & entryAddr: the address
)

func (s *Slab) entry(i int, zero bool) Entry {
	p := s.base + uintptr(i)*s.size
	if zero {
		p |= entryZero
	}
	own, bit := s.OwnerBit(i)
	return Entry{p: p | uintptr(bit)<<entryBitShift, own: own, s: s}
}

// Addr returns e's object's address.
func (e Entry) Addr() uintptr { return e.p & entryAddr }

// Zero reports whether e's object is known to read as zero.
func (e Entry) Zero() bool { return e.p&entryZero != 0 }

// Bytes marks e's object, of class c, as held by the caller and returns it
// as a slice of its full size, cleared first if clearIt is set and it may
// be dirty.
func (e Entry) Bytes(c int, clearIt bool) []byte {
	atomic.OrUint32(e.own, 1<<(e.p>>entryBitShift))
	b := unsafe.Slice((*byte)(osmem.AddrPointer(e.p&entryAddr)), classBytes[c])
	if clearIt && e.p&entryZero == 0 {
		clear(b)
	}
	return b
}

// Class returns the size class of e's object.
func (e Entry) Class() int { return int(e.s.class) }

// index returns the object index of e.
func (e Entry) index() int {
	i, _ := e.s.index(e.Addr())
	return i
}

// Release checks that addr, in chunk ch, is the first byte of an object a
// caller holds, marks it free and returns it as an Entry for a cache. It
// takes no lock. errs.ErrInvalidPointer: addr is not an object's start;
// errs.ErrDoubleFree: nobody holds the object. Either way nothing changes.
// (The Free fast paths do the same with Local.Object, Slab.OwnerBit and
// Slab.Claim, which inline.)
func Release(ch *arena.Chunk, addr uintptr) (Entry, error) {
	s := (*Slab)(ch.Owner(ch.Page(addr)))
	if s != nil {
		if i, ok := s.index(addr); ok {
			own, bit := s.OwnerBit(i)
			if e, ok := s.Claim(addr, own, bit); ok {
				return e, nil
			}
		}
	}
	return Entry{}, releaseError(s, addr)
}

// Claim marks the object of s whose first byte is addr and whose owner
// bit is bit of the word own (as Local.Object and Slab.OwnerBit found)
// free if a caller holds it, and returns it as an Entry; else it reports
// false and changes nothing (the Entry is then meaningless). It takes no
// lock; clearing the owner bit is one atomic operation, so of two Frees
// of the object racing each other exactly one gets the Entry. It is small
// enough to be inlined into the Free paths.
func (s *Slab) Claim(addr uintptr, own *uint32, bit uint) (Entry, bool) {
	m := uint32(1) << bit
	return Entry{p: addr | uintptr(bit)<<entryBitShift, own: own, s: s}, atomic.AndUint32(own, ^m)&m != 0
}

// ReleaseError is the error Release would return for addr, for a caller
// that checked the object another way. It changes nothing.
func ReleaseError(ch *arena.Chunk, addr uintptr) error {
	return releaseError((*Slab)(ch.Owner(ch.Page(addr))), addr)
}

// releaseError explains why Release refused addr.
func releaseError(s *Slab, addr uintptr) error {
	if s == nil {
		return fmt.Errorf("%w: %#x lies in free pages", errs.ErrDoubleFree, addr)
	}
	if _, ok := s.index(addr); !ok {
		return fmt.Errorf("%w: %#x is inside a %d-byte object of the slab at %#x", errs.ErrInvalidPointer, addr, s.size, s.base)
	}
	return fmt.Errorf("%w: %#x (%d-byte object)", errs.ErrDoubleFree, addr, s.size)
}

// takeBatch moves up to len(dst) free objects out of the slab into dst
// and returns how many: freed ones first, lowest first (their cache lines
// are likely warm and their pages resident), a bitmap word at a time, then
// ones never used, which read as zero if the slab's pages did. Its
// Central's mu is held.
func (s *Slab) takeBatch(dst []Entry) int {
	n := 0
	for n < len(dst) && s.nfree > s.objects-s.fresh { // a slot below fresh was freed
		w := s.hint
		for s.used[w] == ^uint64(0) {
			w++
		}
		s.hint = w
		free := ^s.used[w]
		if below := s.fresh - w*64; below < 64 { // bits from fresh on are not freed slots
			free &= 1<<below - 1
		}
		if free == 0 { // the counts disagree with the bitmap: take no freed slot
			break
		}
		var taken uint64
		for ; free != 0 && n < len(dst); n++ {
			b := bits.TrailingZeros64(free)
			free &= free - 1
			taken |= 1 << b
			dst[n] = s.entry(w*64+b, false)
		}
		s.used[w] |= taken
		s.nfree -= bits.OnesCount64(taken)
	}
	k := min(len(dst)-n, s.objects-s.fresh)
	for j := range k {
		i := s.fresh + j
		s.used[i/64] |= 1 << (i % 64)
		dst[n+j] = s.entry(i, s.zeroed)
	}
	s.fresh += k
	s.nfree -= k
	return n + k
}

// Central holds the slabs of one size class. It is safe for concurrent use:
// mu protects everything below it; the published counters are atomic.
type Central struct {
	mu      sync.Mutex
	class   uint8
	heap    *arena.Heap
	partial *Slab // slabs with objects both in and out, doubly linked
	empty   *Slab // empty slabs kept to spare a carve (charged to the retention budget), singly linked by next
	nempty  int
	closed  bool

	slabs int64
	out   int64 // objects out of the slabs: in caches or held by callers

	// Allocations and frees counted by caches that publish to the Central
	// (per-goroutine Cache handles); per-P counts are kept by the caller.
	pubAllocs atomic.Uint64
	pubFrees  atomic.Uint64
}

// Init prepares c to serve class cls from heap.
func (c *Central) Init(cls int, heap *arena.Heap) {
	c.class = uint8(cls)
	c.heap = heap
}

// AllocBatch moves up to len(dst) free objects out of the slabs into dst
// and returns how many. It carves new slabs as needed; an error (wrapping
// errs.ErrOutOfMemory or errs.ErrClosed) comes only when not even one object
// could be had.
func (c *Central) AllocBatch(dst []Entry) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, errs.ErrClosed
	}
	n := 0
	for n < len(dst) {
		s := c.partial
		if s == nil {
			if s = c.empty; s != nil {
				c.uncharge(1)
				c.empty, s.next = s.next, nil
				c.nempty--
			} else {
				var err error
				if s, err = c.carve(); err != nil {
					if n > 0 {
						break
					}
					return 0, err
				}
			}
			c.push(s)
		}
		k := s.takeBatch(dst[n:])
		n += k
		// A slab that gives nothing while it counts free objects would
		// loop here for ever; it cannot happen while claims are atomic,
		// but such a slab leaves the list rather than hang the class.
		if s.nfree == 0 || k == 0 {
			c.unlink(s)
		}
	}
	c.out += int64(n)
	return n, nil
}

// FreeBatch returns objects (released by their holders, or never handed
// out) to their slabs. A slab left empty is kept within the retention
// budget, or its pages go back to the chunk.
func (c *Central) FreeBatch(src []Entry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range src {
		s := e.s
		i := e.index()
		s.used[i/64] &^= 1 << (i % 64)
		s.nfree++
		s.hint = min(s.hint, i/64)
		if s.nfree == 1 {
			c.push(s) // was full
		}
		if s.nfree == s.objects {
			c.unlink(s)
			bytes := uintptr(s.pages) * arena.PageBytes
			// Kept empty slabs are charged to the retention budget, and
			// only it bounds them: a program that frees a batch of objects
			// and allocates as many again reuses the slabs as they are.
			// Past the budget the slab goes back to its chunk (which
			// releases it).
			if !c.closed && c.heap.Source().TryRetain(bytes) {
				s.next = c.empty
				c.empty = s
				c.nempty++
			} else {
				c.release(s)
			}
		}
	}
	c.out -= int64(len(src))
}

// Trim gives every empty slab's pages back to its chunk.
func (c *Central) Trim() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dropEmpty()
}

// TryTrim gives the empty slabs' pages back to their chunks, as far as it
// can without waiting for c's lock: it is called to reclaim retained
// memory by a goroutine that may hold c's lock (or another Central's).
// With waitHeap it waits for the Heap's lock, which the caller must not
// hold; without, it stops where the Heap's lock is taken.
func (c *Central) TryTrim(waitHeap bool) {
	if !c.mu.TryLock() {
		return
	}
	defer c.mu.Unlock()
	if waitHeap {
		c.dropEmpty()
		return
	}
	for c.empty != nil {
		s := c.empty
		if !c.heap.TryFreePages(s.chunk, s.page, s.pages) {
			return
		}
		c.uncharge(1)
		c.empty, s.next = s.next, nil
		c.slabs--
		c.nempty--
	}
}

// dropEmpty releases the kept empty slabs. c.mu is held.
func (c *Central) dropEmpty() {
	c.uncharge(c.nempty) // first: the pages are charged again as free dirty pages
	for s := c.empty; s != nil; {
		next := s.next
		s.next = nil
		c.release(s)
		s = next
	}
	c.empty, c.nempty = nil, 0
}

// uncharge returns k kept empty slabs' bytes to the retention budget.
func (c *Central) uncharge(k int) {
	if k > 0 {
		c.heap.Source().Unretain(uintptr(k) * uintptr(classSlabBytes[c.class]))
	}
}

// Close stops c: later AllocBatch calls fail with errs.ErrClosed. The memory
// itself is unmapped by the Heap.
func (c *Central) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	c.uncharge(c.nempty)
	c.partial, c.empty, c.nempty = nil, nil, 0
}

// EmptyBytes returns the bytes of the empty slabs c keeps.
func (c *Central) EmptyBytes() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return int64(c.nempty) * int64(classSlabBytes[c.class])
}

// Publish adds allocations and frees counted by a cache to c's figures.
func (c *Central) Publish(allocs, frees uint64) {
	if allocs > 0 {
		c.pubAllocs.Add(allocs)
	}
	if frees > 0 {
		c.pubFrees.Add(frees)
	}
}

// Stats is one class's row of figures as the Central knows them.
type Stats struct {
	Size, SlabBytes int
	Slabs           int64
	Out             int64  // objects out of the slabs (in caches or held)
	Allocs, Frees   uint64 // published by caches
}

// Stats returns c's figures.
func (c *Central) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return Stats{
		Size: ClassBytes(int(c.class)), SlabBytes: ClassSlabBytes(int(c.class)),
		Slabs: c.slabs, Out: c.out, Allocs: c.pubAllocs.Load(), Frees: c.pubFrees.Load(),
	}
}

// Validate checks c's invariants.
func (c *Central) Validate() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out int64
	var slabs int64
	for s := c.partial; s != nil; s = s.next {
		if err := s.validate(); err != nil {
			return err
		}
		if s.nfree == 0 || s.nfree == s.objects {
			return fmt.Errorf("slab: partial slab %#x has %d of %d objects free", s.base, s.nfree, s.objects)
		}
		if s.next != nil && s.next.prev != s {
			return fmt.Errorf("slab: broken links after %#x", s.base)
		}
		out += int64(s.objects - s.nfree)
		slabs++
	}
	n := 0
	for s := c.empty; s != nil; s = s.next {
		if err := s.validate(); err != nil {
			return err
		}
		if s.nfree != s.objects {
			return fmt.Errorf("slab: kept empty slab %#x has %d objects out", s.base, s.objects-s.nfree)
		}
		n++
		slabs++
	}
	if n != c.nempty {
		return fmt.Errorf("slab: class %d counts %d empty slabs, list has %d", c.class, c.nempty, n)
	}
	if out > c.out || slabs > c.slabs {
		return fmt.Errorf("slab: class %d counts %d objects out in %d slabs; lists alone hold %d in %d", c.class, c.out, c.slabs, out, slabs)
	}
	return nil
}

func (s *Slab) validate() error {
	n := 0
	for w, word := range s.used {
		n += bits.OnesCount64(word)
		for b := 0; b < 64 && word != 0; b++ {
			if i := w*64 + b; word&(1<<b) != 0 && i >= s.fresh {
				return fmt.Errorf("slab: %#x object %d is out but above the fresh mark %d", s.base, i, s.fresh)
			}
		}
	}
	for i := range s.objects {
		if s.held(i) && s.used[i/64]&(1<<(i%64)) == 0 {
			return fmt.Errorf("slab: %#x object %d is held by a caller but free in the slab", s.base, i)
		}
	}
	if s.nfree != s.objects-n {
		return fmt.Errorf("slab: %#x counts %d free objects, bitmap says %d", s.base, s.nfree, s.objects-n)
	}
	for p := s.page; p < s.page+s.pages; p++ {
		if (*Slab)(s.chunk.Owner(p)) != s {
			return fmt.Errorf("slab: %#x page %d is not recorded as the slab's", s.base, p)
		}
	}
	return nil
}

// carve makes a new slab of c's class from the heap. c.mu is held.
//
// Slab records are never reused: a Free racing with the release of a slab
// may still read the old record, and it must then find the old base and
// no object held (ErrDoubleFree), never another slab's objects.
func (c *Central) carve() (*Slab, error) {
	cls := int(c.class)
	size := uintptr(classBytes[cls])
	slabBytes := uintptr(classSlabBytes[cls])
	objects := int(slabBytes / size)
	s := &Slab{
		size: size, inv: classInv[cls], rot: -int(classShift[cls]), objects: objects, class: c.class,
		pages: int(slabBytes / arena.PageBytes), used: make([]uint64, (objects+63)/64),
		nfree: objects,
	}
	s.setOwnedLayout(ownedLayout(objects, RefillBatch(cls)))
	// The slab is complete before its pages name it: a Free racing with
	// the carve (a stale or forged address) reads a whole record.
	place := func(ch *arena.Chunk, page int, zeroed bool) {
		s.chunk, s.page, s.zeroed = ch, page, zeroed
		s.base = ch.Base() + uintptr(page)*arena.PageBytes
	}
	if _, _, _, err := c.heap.AllocPagesFor(s.pages, unsafe.Pointer(s), place); err != nil {
		return nil, err
	}
	c.slabs++
	return s, nil
}

// release gives an empty slab's pages back to its chunk. c.mu is held.
func (c *Central) release(s *Slab) {
	c.slabs--
	c.heap.FreePages(s.chunk, s.page, s.pages)
}

func (c *Central) push(s *Slab) {
	s.prev, s.next = nil, c.partial
	if c.partial != nil {
		c.partial.prev = s
	}
	c.partial = s
	s.onList = true
}

func (c *Central) unlink(s *Slab) {
	if !s.onList {
		return
	}
	if s.prev != nil {
		s.prev.next = s.next
	} else {
		c.partial = s.next
	}
	if s.next != nil {
		s.next.prev = s.prev
	}
	s.next, s.prev, s.onList = nil, nil, false
}
