// Slabs and the per-class lists that allocate from them. See doc.go.

package slabs

import (
	"fmt"
	"math/bits"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/mmalloc/mmalloc/internal/chunk"
	"github.com/mmalloc/mmalloc/internal/errs"
)

// ClassOf returns the size class serving a request of n bytes,
// 0 < n <= MaxSmallBytes. Other n return 0.
func ClassOf(n int) int {
	if uint(n-1) < smallMaxBytes { // 1 <= n <= smallMaxBytes
		return int(size8ToClass[uint(n+smallStepBytes-1)/smallStepBytes])
	}
	if uint(n-1) < MaxSmallBytes {
		return int(size128ToClass[uint(n-smallMaxBytes+largeStepBytes-1)/largeStepBytes])
	}
	return 0
}

// ClassBytes returns the object size of class c (1 <= c <= NumClasses).
func ClassBytes(c int) int { return int(classBytes[c]) }

// ClassSlabBytes returns the slab size of class c.
func ClassSlabBytes(c int) int { return int(classSlabBytes[c]) }

// Slab is one run of pages of a chunk serving one size class.
//
// A slab is either owned by one cache (a P's or a Cache's), which alone
// hands out its objects, or it is on one of its Central's lists. Its
// owner bits are the truth about every object: bit i is set while a
// caller holds object i and clear while it is free. Only the slab's owner
// sets bits (atomic OR, when it hands an object out); any Free clears one
// (atomic AND, whose old value decides, so that of two Frees racing on
// one object exactly one wins). Frees from any goroutine go straight back
// to the slab: there is no list of freed objects anywhere.
//
// state counts the objects held by callers plus the free objects its
// owner has cached (taken into its mask, to hand out), with the owned
// flag on top. The owner adds what it caches; each Free subtracts one.
// A Free that brings an unowned slab's count to reuseAt (an eighth of it
// is free: worth a cache's visit) or to 0 (it is empty) tells the Central
// to move it (Slab.Settle).
//
// The identity fields are set before the slab is recorded in its chunk's
// page table and read-only afterwards. fresh belongs to the owner while
// the slab is owned, else to the Central's mutex; the list fields belong
// to the Central.
//
// Layout: the record is slabRecordBytes long, which the Go heap places on
// cache-line boundaries, and it keeps what is only read apart from what
// every Free writes. Its first line holds the identity that finds an
// object (base, the class's divisor, where the owner bits are), written
// when the slab is carved, and after that only by the first fill
// of each owner word (fresh) and by the Central (list): in steady use
// every core that frees into the slab keeps a shared copy of it. The second line
// holds the state word and owner words 0 to 6, the third owner word 7
// and the list links. Slabs of up to inlineOwnerWords*64 objects keep
// their owner bits in the record (owned points into inl); bigger ones
// keep them in a separate block of whole cache lines headed by their
// state word (Slab.state), so that there too the state shares a line
// with owner words 0 to 6. A Free from another core then moves one line
// between the cores (the state and its owner word), or two for an owner
// word past the sixth, where the identity used to travel with them, and
// an owner's hand-out dirties only lines a Free writes anyway
// (TestSlabLayout).
//
// Invariants, checked by validate:
//
//	count == popcount(owned) + cached by the owner + frees the owner has not taken off (0 when unowned)
//	no owner bit is set at or above fresh
//	unowned: on the full list iff count > reuseAt, partial iff 0 < count <= reuseAt,
//	         empty (kept) iff count == 0
//	every page of the slab records the slab as its owner
type Slab struct {
	// Line 0: read by every Free and fill; written when the slab
	// is carved, by first reservations (fresh) and by the Central (list).
	base      uintptr
	inv       uint64         // classInv of the class
	ownedBase unsafe.Pointer // &owned[0]
	size      uintptr
	objects   int32  // objects in the slab
	reuseAt   int32  // count at which an unowned slab becomes partial again: objects - reuseFree(objects)
	fresh     int32  // objects [fresh, objects) were never handed out
	rot       int8   // -classShift of the class: index rotates right by it
	class     uint8  // the size class
	zeroed    bool   // the pages read as zero when the slab was carved
	list      listID // the Central's
	lastMask  uint64 // the valid bits of the last word of owned
	central   *Central

	// Line 1: written by every Free and hand-out. inl holds the owner bits
	// of a slab of up to inlineOwnerWords*64 objects: words 0 to 6 share
	// this line with its state word (see state), word 7 begins line 2.
	inlState atomic.Uint64
	inl      [inlineOwnerWords]uint64

	// Line 2, after inl[7]: the rest, read on slow paths.
	owned      []uint64 // owner bits: bit i%64 of word i/64 is object i's
	chunk      *chunk.Chunk
	next, prev *Slab
	page       int32
	pages      int32
}

// Layout of the Slab record (see Slab).
const (
	// inlineOwnerWords is how many owner words the record holds itself.
	inlineOwnerWords = 8
	// slabRecordBytes is the size of a Slab record: three cache lines, a
	// size class of the Go heap whose objects all start on a line.
	slabRecordBytes = 192
	// cacheLineBytes is the line size the layout is made for (x86-64,
	// and most arm64 cores).
	cacheLineBytes = 64
)

// stateOwned is the flag of Slab.state set while a cache owns the slab;
// the bits below it count held and cached objects.
const (
	stateOwned = 1 << 63
	stateCount = stateOwned - 1
)

// listID says where an unowned slab is. Protected by its Central's mutex.
type listID uint8

const (
	listNone    listID = iota // owned by a cache, or being carved
	listPartial               // some objects held, at least reuseFree free
	listFull                  // fewer than reuseFree objects free
	listEmpty                 // kept empty for reuse, charged to the retention budget
	listOwned                 // owned by a cache (kept on a list so Validate sees it)
	listDead                  // pages given back to the chunk; the record is stale
)

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
	return bits.RotateLeft64(uint64(addr-s.base)*s.inv, int(s.rot))
}

// ownerWord returns the word holding object i's owner bit, i < s.objects.
func (s *Slab) ownerWord(i int) *uint64 {
	return (*uint64)(unsafe.Add(s.ownedBase, uint(i)>>6<<3))
}

// held reports whether a caller holds object i.
func (s *Slab) held(i int) bool {
	return atomic.LoadUint64(s.ownerWord(i))&(1<<(uint(i)&63)) != 0
}

// state returns the slab's state word, count | stateOwned: the word just
// before owner word 0, in the record (inlState) or at the head of the
// separate block of a bigger slab's owner bits. Either way it shares a
// cache line with owner words 0 to 6, so that a Free of one of their
// objects writes one line.
func (s *Slab) state() *atomic.Uint64 {
	return (*atomic.Uint64)(unsafe.Add(s.ownedBase, -8))
}

// count returns the objects held or cached now.
func (s *Slab) count() int { return int(s.state().Load() & stateCount) }

// validMask returns the bits of owner word w that stand for objects.
func (s *Slab) validMask(w int) uint64 {
	if w == len(s.owned)-1 {
		return s.lastMask
	}
	return ^uint64(0)
}

// Index returns the object index of addr in s, and whether addr is the
// first byte of one of s's objects: one multiply and a rotate. s may be
// nil (ok false).
func (s *Slab) Index(addr uintptr) (i uint64, ok bool) {
	if s == nil {
		return 0, false
	}
	i = s.rawIndex(addr)
	return i, i < uint64(s.objects)
}

// Class returns the size class of s's objects.
func (s *Slab) Class() int { return int(s.class) }

// ClaimIndex clears the owner bit of object i of s (Index said ok), if a
// caller holds the object, with one atomic AND whose old value tells (so
// that of two ClaimIndex racing on one object exactly one succeeds), and
// returns the bit and the owner word it is in. ok false: nobody held it;
// nothing changed. The caller counts the object out (Local.Freed). It
// takes no lock.
func (s *Slab) ClaimIndex(i uint64) (word *uint64, bit uint64, ok bool) {
	bit = 1 << (i & 63)
	word = s.ownerWord(int(i))
	return word, bit, atomic.AndUint64(word, ^bit)&bit != 0
}

// claim clears the owner bit of object i, whose first byte is addr, if a
// caller holds it, and counts the object out; settle says the Central must
// look at the slab (Slab.Settle) once the caller may block. ok false:
// nobody held the object, and nothing changed. It takes no lock.
func (s *Slab) claim(i int) (settle, ok bool) {
	if _, _, ok := s.ClaimIndex(uint64(i)); !ok {
		return false, false
	}
	return s.uncount(), true
}

// uncount takes one freed object off s's count and reports whether the
// caller must settle s: nobody owns it, and it just became empty or
// reusable.
func (s *Slab) uncount() (settle bool) {
	v := s.state().Add(^uint64(0))
	return v&stateOwned == 0 && (v == 0 || int(v) == int(s.reuseAt))
}

// reuseFree returns how many objects of a slab of the given objects must
// be free before it is handed to a cache again: an eighth, at least one.
// A cache then takes a batch of objects per visit to the Central, not one
// (a random free leaves one hole per slab); the price is that an eighth of
// a slab may sit free and unused, the same bound as a size class's waste.
func reuseFree(objects int) int { return max(1, objects/8) }

// handOut sets the owner bit of object i, cached by the slab's owner
// (bit is 1<<(i%64)), and returns its address. The caller owns s.
func (s *Slab) handOut(i int, bit uint64) uintptr {
	atomic.OrUint64(s.ownerWord(i), bit)
	return s.base + uintptr(i)*s.size
}

// takeFresh returns which objects of m, cached from owner word w to be
// handed out, read as zero: never handed out, in a slab carved from clean
// pages. It moves the fresh mark past them, before any is handed out, so
// that no owner bit is ever set at or above the mark. The caller owns s.
func (s *Slab) takeFresh(w int, m uint64) (zero uint64) {
	if m == 0 {
		return 0
	}
	lo := w << 6
	top := lo + 64 - bits.LeadingZeros64(m) // one past m's last object
	f := int(s.fresh)
	if top <= f {
		return 0
	}
	if s.zeroed {
		zero = m
		if f > lo {
			zero &^= 1<<uint(f-lo) - 1
		}
	}
	s.fresh = int32(top)
	return zero
}

// cacheFrom caches the free objects of the first owner word at or
// after w that has any, and returns the word and the mask; mask 0 when
// none is left. The caller owns s; it takes no lock.
func (s *Slab) cacheFrom(w int) (int, uint64) {
	for ; w < len(s.owned); w++ {
		free := ^atomic.LoadUint64(&s.owned[w]) & s.validMask(w)
		if free != 0 {
			s.state().Add(uint64(bits.OnesCount64(free)))
			return w, free
		}
	}
	return w, 0
}

// FreeObject checks that addr, in chunk ch, is the first byte of an object a
// caller holds and marks it free. It takes no lock; when it reports
// settle, the caller must call Settle on the slab's Central once it may
// block. errs.ErrInvalidPointer: addr is not an object's start;
// errs.ErrDoubleFree: nobody holds the object. Either way nothing changes.
func FreeObject(ch *chunk.Chunk, addr uintptr) (s *Slab, settle bool, err error) {
	s = (*Slab)(ch.Owner(ch.Page(addr)))
	if s != nil {
		if i, ok := s.index(addr); ok {
			if settle, ok := s.claim(i); ok {
				return s, settle, nil
			}
		}
	}
	return nil, false, freeError(s, addr)
}

// FreeError is the error FreeObject would return for addr, for a caller
// that checked the object another way. It changes nothing.
func FreeError(ch *chunk.Chunk, addr uintptr) error {
	return freeError((*Slab)(ch.Owner(ch.Page(addr))), addr)
}

// freeError explains why FreeObject refused addr.
func freeError(s *Slab, addr uintptr) error {
	if s == nil {
		return errs.DoubleFree(fmt.Sprintf("%#x lies in free pages", addr))
	}
	if _, ok := s.index(addr); !ok {
		return fmt.Errorf("%w: %#x is inside a %d-byte object of the slab at %#x", errs.ErrInvalidPointer, addr, s.size, s.base)
	}
	return errs.DoubleFree(fmt.Sprintf("the %d-byte object at %#x", s.size, addr))
}

// Settle puts the unowned slab s on the list its count calls for: full,
// partial, or empty (kept within the retention budget, else its pages go
// back to the chunk). Callers are the Frees whose claim asked for it; it
// is idempotent, so racing Frees may each call it.
func (s *Slab) Settle() {
	c := s.central
	c.mu.Lock()
	defer c.mu.Unlock()
	c.place(s)
}

// Central holds the slabs of one size class that no cache owns, and counts
// the ones caches own. It is safe for concurrent use: mu protects
// everything below it; the published counters are atomic.
//
// Invariant: slabs == |partial| + |full| + |empty| + |owned|.
type Central struct {
	mu      sync.Mutex
	class   uint8
	heap    *chunk.Heap
	partial slabList // unowned slabs with objects held and at least reuseFree free
	full    slabList // unowned slabs with fewer than reuseFree objects free
	owned   slabList // slabs a cache owns
	empty   *Slab    // empty slabs kept to spare a carve (charged to the retention budget), singly linked by next
	nempty  int
	closed  bool
	slabs   int64

	// Allocations and frees counted by caches and published here: a cache
	// adds its counts when it gives its slabs back (Local.Drain), guard
	// mode as it goes.
	pubAllocs atomic.Uint64
	pubFrees  atomic.Uint64
}

// slabList is a doubly linked list of slabs, pushed at the tail.
type slabList struct {
	head, tail *Slab
	n          int
}

func (l *slabList) push(s *Slab, id listID) {
	s.list, s.next, s.prev = id, nil, l.tail
	if l.tail != nil {
		l.tail.next = s
	} else {
		l.head = s
	}
	l.tail = s
	l.n++
}

func (l *slabList) remove(s *Slab) {
	if s.prev != nil {
		s.prev.next = s.next
	} else {
		l.head = s.next
	}
	if s.next != nil {
		s.next.prev = s.prev
	} else {
		l.tail = s.prev
	}
	s.next, s.prev, s.list = nil, nil, listNone
	l.n--
}

// Init prepares c to serve class cls from heap.
func (c *Central) Init(cls int, heap *chunk.Heap) {
	c.class = uint8(cls)
	c.heap = heap
}

// listOf returns the list that holds slabs with id.
func (c *Central) listOf(id listID) *slabList {
	switch id {
	case listPartial:
		return &c.partial
	case listFull:
		return &c.full
	case listOwned:
		return &c.owned
	}
	return nil
}

// unlist takes s off whatever list it is on. c.mu is held.
func (c *Central) unlist(s *Slab) {
	if l := c.listOf(s.list); l != nil {
		l.remove(s)
	}
}

// place puts the unowned slab s where its count says. c.mu is held.
func (c *Central) place(s *Slab) {
	v := s.state().Load()
	if v&stateOwned != 0 || s.list == listDead || s.list == listEmpty {
		return
	}
	n := int(v & stateCount)
	var want listID
	switch {
	case n > int(s.reuseAt):
		want = listFull
	case n > 0:
		want = listPartial
	default:
		want = listEmpty
	}
	if s.list == want {
		return
	}
	c.unlist(s)
	if want != listEmpty {
		c.listOf(want).push(s, want)
		return
	}
	// Kept empty slabs are charged to the retention budget, and only it
	// bounds them: a program that frees a batch of objects and allocates
	// as many again reuses the slabs as they are. Past the budget the
	// slab goes back to its chunk (which releases its pages or keeps
	// them within the same budget).
	if !c.closed && c.heap.Source().TryRetain(uintptr(s.pages)*chunk.PageBytes) {
		s.list, s.next = listEmpty, c.empty
		c.empty = s
		c.nempty++
		return
	}
	c.uncarve(s)
}

// Exchange gives back old, the slab the caller (a cache) owned, if not
// nil, with unused: what the cache's count of it holds that callers do
// not (Local.Install says); and gives the caller ownership of a slab with free
// objects: a partial one (old itself, if it is the best there is), else a
// kept empty one, else a new one carved from the chunk heap. One lock for
// both. An error wraps errs.ErrOutOfMemory or errs.ErrClosed; old is given
// back even then.
func (c *Central) Exchange(old *Slab, unused int) (*Slab, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old != nil {
		c.abandon(old, unused)
	}
	if c.closed {
		return nil, errs.ErrClosed
	}
	s := c.partial.head
	switch {
	case s != nil:
		c.partial.remove(s)
	case c.empty != nil:
		s = c.empty
		c.uncharge(1)
		c.empty, s.next = s.next, nil
		c.nempty--
	default:
		var err error
		if s, err = c.carve(); err != nil {
			return nil, err
		}
	}
	s.state().Or(stateOwned)
	c.owned.push(s, listOwned)
	return s, nil
}

// Acquire is Exchange with nothing to give back.
func (c *Central) Acquire() (*Slab, error) { return c.Exchange(nil, 0) }

// Abandon gives back a slab the caller owned, with unused as Exchange.
func (c *Central) Abandon(s *Slab, unused int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.abandon(s, unused)
}

// abandon is Abandon with c.mu held.
func (c *Central) abandon(s *Slab, unused int) {
	if unused != 0 {
		s.state().Add(-uint64(unused))
	}
	s.state().And(^uint64(stateOwned))
	if s.list == listOwned {
		c.owned.remove(s)
	}
	if !c.closed {
		c.place(s)
	}
}

// AllocOne hands out one object of the class straight from the slabs, for
// callers with no cache (guard mode): its address and whether it reads as
// zero.
func (c *Central) AllocOne() (uintptr, bool, error) {
	s, err := c.Acquire()
	if err != nil {
		return 0, false, err
	}
	w, mask := s.cacheFrom(0)
	low := mask & -mask
	zero := s.takeFresh(w, low) != 0
	addr := s.handOut(w<<6|bits.TrailingZeros64(mask), low)
	c.Abandon(s, bits.OnesCount64(mask)-1)
	return addr, zero, nil
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
		if !c.heap.TryFreePages(s.chunk, int(s.page), int(s.pages)) {
			return
		}
		c.uncharge(1)
		c.empty, s.next = s.next, nil
		s.list = listDead
		c.slabs--
		c.nempty--
	}
}

// dropEmpty uncarves the kept empty slabs. c.mu is held.
func (c *Central) dropEmpty() {
	c.uncharge(c.nempty) // first: the pages are charged again as free dirty pages
	for s := c.empty; s != nil; {
		next := s.next
		s.next = nil
		c.uncarve(s)
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

// Close stops c: later Acquire calls fail with errs.ErrClosed. The memory
// itself is unmapped by the Heap.
func (c *Central) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	c.uncharge(c.nempty)
	c.partial, c.full, c.owned = slabList{}, slabList{}, slabList{}
	c.empty, c.nempty = nil, 0
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

// Allocs returns the allocations published to c, and Frees the frees.
// Each is one atomic load.
func (c *Central) Allocs() uint64 { return c.pubAllocs.Load() }

// Frees: see Allocs.
func (c *Central) Frees() uint64 { return c.pubFrees.Load() }

// Stats is one class's row of figures as the Central knows them.
type Stats struct {
	Size, SlabBytes int
	Slabs           int64
	Allocs, Frees   uint64 // published by caches
}

// Stats returns c's figures.
func (c *Central) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return Stats{
		Size: ClassBytes(int(c.class)), SlabBytes: ClassSlabBytes(int(c.class)),
		Slabs: c.slabs, Allocs: c.pubAllocs.Load(), Frees: c.pubFrees.Load(),
	}
}

// Validate checks c's invariants. cached returns how many objects of s
// the cache owning it has cached and not handed out. It returns the
// objects callers hold, counted from the owner bits: the class's Live.
func (c *Central) Validate(cached func(*Slab) int) (held int64, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var slabs int64
	for _, l := range []struct {
		id   listID
		list *slabList
	}{{listPartial, &c.partial}, {listFull, &c.full}, {listOwned, &c.owned}} {
		n := 0
		for s := l.list.head; s != nil; s = s.next {
			if s.list != l.id {
				return 0, fmt.Errorf("slab: class %d slab %#x on list %d says %d", c.class, s.base, l.id, s.list)
			}
			if s.next != nil && s.next.prev != s {
				return 0, fmt.Errorf("slab: class %d broken links after %#x", c.class, s.base)
			}
			h, err := s.validate()
			if err != nil {
				return 0, err
			}
			held += int64(h)
			owned := s.state().Load()&stateOwned != 0
			if owned != (l.id == listOwned) {
				return 0, fmt.Errorf("slab: class %d slab %#x owned=%v on list %d", c.class, s.base, owned, l.id)
			}
			r := 0
			if owned {
				r = cached(s)
			}
			if cnt := s.count(); cnt != h+r {
				return 0, fmt.Errorf("slab: class %d slab %#x counts %d objects out, %d held + %d cached", c.class, s.base, cnt, h, r)
			}
			switch cnt := s.count(); {
			case l.id == listFull && cnt <= int(s.reuseAt), l.id == listPartial && (cnt == 0 || cnt > int(s.reuseAt)):
				return 0, fmt.Errorf("slab: class %d slab %#x with %d of %d objects out is on list %d", c.class, s.base, cnt, s.objects, l.id)
			}
			n++
		}
		if n != l.list.n {
			return 0, fmt.Errorf("slab: class %d list %d counts %d slabs, holds %d", c.class, l.id, l.list.n, n)
		}
		slabs += int64(n)
	}
	n := 0
	for s := c.empty; s != nil; s = s.next {
		h, err := s.validate()
		if err != nil {
			return 0, err
		}
		if s.list != listEmpty || h != 0 || s.count() != 0 {
			return 0, fmt.Errorf("slab: kept empty slab %#x has %d objects out (list %d)", s.base, s.count(), s.list)
		}
		n++
	}
	if n != c.nempty {
		return 0, fmt.Errorf("slab: class %d counts %d empty slabs, list has %d", c.class, c.nempty, n)
	}
	slabs += int64(n)
	if slabs != c.slabs {
		return 0, fmt.Errorf("slab: class %d counts %d slabs, its lists hold %d", c.class, c.slabs, slabs)
	}
	return held, nil
}

// validate checks one slab and returns how many objects callers hold.
func (s *Slab) validate() (int, error) {
	n := 0
	for w := range s.owned {
		word := atomic.LoadUint64(&s.owned[w])
		if word&^s.validMask(w) != 0 {
			return 0, fmt.Errorf("slab: %#x has owner bits past its %d objects", s.base, s.objects)
		}
		n += bits.OnesCount64(word)
		if word != 0 {
			if top := w*64 + 63 - bits.LeadingZeros64(word); top >= int(s.fresh) {
				return 0, fmt.Errorf("slab: %#x object %d is held but above the fresh mark %d", s.base, top, s.fresh)
			}
		}
	}
	for p := int(s.page); p < int(s.page+s.pages); p++ {
		if (*Slab)(s.chunk.Owner(p)) != s {
			return 0, fmt.Errorf("slab: %#x page %d is not recorded as the slab's", s.base, p)
		}
	}
	return n, nil
}

// carve makes a new slab of c's class from the heap. c.mu is held.
//
// Slab records are never reused: a Free racing with the uncarving of a slab
// may still read the old record, and it must then find the old base and
// no object held (ErrDoubleFree), never another slab's objects.
func (c *Central) carve() (*Slab, error) {
	cls := int(c.class)
	size := uintptr(classBytes[cls])
	slabBytes := uintptr(classSlabBytes[cls])
	objects := int(slabBytes / size)
	words := (objects + 63) / 64
	s := &Slab{
		size: size, inv: classInv[cls], rot: int8(-int(classShift[cls])), objects: int32(objects), class: c.class,
		pages: int32(slabBytes / chunk.PageBytes), central: c, lastMask: ^uint64(0),
		reuseAt: int32(objects - reuseFree(objects)),
	}
	if words <= inlineOwnerWords {
		s.owned = s.inl[:words]
	} else {
		// The state word, then the owner words, in whole cache lines, so
		// that no other slab's bits share one.
		blk := make([]uint64, (1+words+7)/8*8)
		s.owned = blk[1 : 1+words]
	}
	if r := objects % 64; r != 0 {
		s.lastMask = 1<<r - 1
	}
	s.ownedBase = unsafe.Pointer(unsafe.SliceData(s.owned))
	// The slab is complete before its pages name it: a Free racing with
	// the carve (a stale or forged address) reads a whole record.
	place := func(ch *chunk.Chunk, page int, zeroed bool) {
		s.chunk, s.page, s.zeroed = ch, int32(page), zeroed
		s.base = ch.Base() + uintptr(page)*chunk.PageBytes
	}
	if _, _, _, err := c.heap.AllocPagesFor(int(s.pages), unsafe.Pointer(s), place); err != nil {
		return nil, err
	}
	c.slabs++
	return s, nil
}

// uncarve, the inverse of carve, gives an empty slab's pages back to its
// chunk. c.mu is held.
func (c *Central) uncarve(s *Slab) {
	c.slabs--
	s.list = listDead
	c.heap.FreePages(s.chunk, int(s.page), int(s.pages))
}
