// Slabs and the per-class lists that allocate from them. See doc.go.

package slab

import (
	"fmt"
	"math/bits"
	"sync"
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

// Slab is one run of pages of a chunk serving one size class. Every field is
// protected by the mutex of the Central of its class, except the read-only
// identity fields (base, class, size, divMagic, objects, chunk, page, pages).
//
// Invariants, checked by validate:
//
//	nfree == objects - popcount(used)
//	used has no bit set at or above fresh
//	the slab is on its Central's partial list iff 0 < nfree < objects, or it
//	is the Central's cached empty slab iff nfree == objects
type Slab struct {
	base     uintptr
	size     uintptr
	divMagic uint64
	objects  int
	class    uint8
	chunk    *arena.Chunk
	page     int
	pages    int

	used   []uint64 // bit set: object allocated
	nfree  int
	fresh  int  // objects [fresh, objects) were never handed out
	zeroed bool // the pages read as zero when the slab was carved
	hint   int  // no word of used below it has a free bit under fresh

	next, prev *Slab // Central.partial links
	onList     bool
}

// index returns the object index of addr and whether addr is an object's
// first byte. addr must lie in the slab's pages.
func (s *Slab) index(addr uintptr) (int, bool) {
	off := addr - s.base
	hi, _ := bits.Mul64(uint64(off), s.divMagic)
	i := int(hi)
	return i, i < s.objects && uintptr(i)*s.size == off
}

// take hands out one free object: a freed one if there is any (its cache
// lines are likely warm and its page already resident), else the next one
// never used. It reports whether the object is known to read as zero.
// s must have a free object.
func (s *Slab) take() (uintptr, bool) {
	var i int
	zero := false
	if s.nfree > s.objects-s.fresh { // a slot below fresh was freed
		w := s.hint
		for s.used[w] == ^uint64(0) {
			w++
		}
		s.hint = w
		i = w*64 + bits.TrailingZeros64(^s.used[w])
	} else {
		i = s.fresh
		s.fresh++
		zero = s.zeroed
	}
	s.used[i/64] |= 1 << (i % 64)
	s.nfree--
	return s.base + uintptr(i)*s.size, zero
}

// Central holds the slabs of one size class. It is safe for concurrent use:
// mu protects everything below it.
type Central struct {
	mu      sync.Mutex
	class   uint8
	heap    *arena.Heap
	partial *Slab // slabs with free and used objects, doubly linked
	empty   *Slab // one slab with no object in use, kept to spare a carve
	closed  bool

	slabs  int64
	live   int64
	allocs uint64
	frees  uint64
}

// Init prepares c to serve class cls from heap.
func (c *Central) Init(cls int, heap *arena.Heap) {
	c.class = uint8(cls)
	c.heap = heap
}

// Alloc returns the address of a free object of c's class and whether it
// is known to read as zero. Its errors wrap errs.OutOfMemory or errs.Closed.
func (c *Central) Alloc() (uintptr, bool, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return 0, false, errs.Closed
	}
	s := c.partial
	if s == nil {
		if s = c.empty; s != nil {
			c.empty = nil
		} else {
			var err error
			if s, err = c.carve(); err != nil {
				c.mu.Unlock()
				return 0, false, err
			}
		}
		c.push(s)
	}
	p, zero := s.take()
	if s.nfree == 0 {
		c.unlink(s)
	}
	c.live++
	c.allocs++
	c.mu.Unlock()
	return p, zero, nil
}

// Free releases the object at addr, which lies in chunk ch of c's heap.
// It returns errs.InvalidPointer if addr is not the first byte of an object
// and errs.DoubleFree if no live object is there; either way nothing changes.
func Free(centrals []Central, ch *arena.Chunk, addr uintptr) error {
	page := ch.Page(addr)
	for {
		s := (*Slab)(ch.Owner(page))
		if s == nil {
			return fmt.Errorf("%w: %#x lies in free pages", errs.DoubleFree, addr)
		}
		c := &centrals[s.class]
		c.mu.Lock()
		if (*Slab)(ch.Owner(page)) != s {
			// The slab was released (and maybe its pages reused) between the
			// lock-free read and the lock: look again.
			c.mu.Unlock()
			continue
		}
		err := c.free(s, addr)
		c.mu.Unlock()
		return err
	}
}

// free releases addr in s. c.mu is held.
func (c *Central) free(s *Slab, addr uintptr) error {
	i, ok := s.index(addr)
	if !ok {
		return fmt.Errorf("%w: %#x is inside a %d-byte object of the slab at %#x", errs.InvalidPointer, addr, s.size, s.base)
	}
	w, bit := i/64, uint64(1)<<(i%64)
	if s.used[w]&bit == 0 {
		return fmt.Errorf("%w: %#x (%d-byte object)", errs.DoubleFree, addr, s.size)
	}
	s.used[w] &^= bit
	s.nfree++
	s.hint = min(s.hint, w)
	c.live--
	c.frees++
	if s.nfree == 1 && s.objects > 1 {
		c.push(s) // was full
	}
	if s.nfree == s.objects {
		c.unlink(s)
		if c.empty == nil && !c.closed {
			c.empty = s
		} else {
			c.release(s)
		}
	}
	return nil
}

// Trim gives the cached empty slab back to its chunk.
func (c *Central) Trim() {
	c.mu.Lock()
	if s := c.empty; s != nil {
		c.empty = nil
		c.release(s)
	}
	c.mu.Unlock()
}

// Close stops c: later Allocs fail with errs.Closed. It waits for any
// operation in progress on c. The memory itself is unmapped by the Heap.
func (c *Central) Close() {
	c.mu.Lock()
	c.closed = true
	c.partial, c.empty = nil, nil
	c.mu.Unlock()
}

// Stats is one class's row of figures.
type Stats struct {
	Size, SlabBytes int
	Slabs, Live     int64
	Allocs, Frees   uint64
}

// Stats returns c's figures.
func (c *Central) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return Stats{
		Size: ClassBytes(int(c.class)), SlabBytes: ClassSlabBytes(int(c.class)),
		Slabs: c.slabs, Live: c.live, Allocs: c.allocs, Frees: c.frees,
	}
}

// Validate checks c's invariants.
func (c *Central) Validate() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	live := int64(0)
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
		live += int64(s.objects - s.nfree)
	}
	if s := c.empty; s != nil {
		if err := s.validate(); err != nil {
			return err
		}
		if s.nfree != s.objects {
			return fmt.Errorf("slab: cached empty slab %#x has %d objects in use", s.base, s.objects-s.nfree)
		}
	}
	if live > c.live {
		return fmt.Errorf("slab: class %d counts %d live objects, its partial slabs alone hold %d", c.class, c.live, live)
	}
	if c.allocs-c.frees != uint64(c.live) {
		return fmt.Errorf("slab: class %d: allocs %d - frees %d != live %d", c.class, c.allocs, c.frees, c.live)
	}
	return nil
}

func (s *Slab) validate() error {
	n := 0
	for w, word := range s.used {
		n += bits.OnesCount64(word)
		for b := 0; b < 64 && word != 0; b++ {
			if i := w*64 + b; word&(1<<b) != 0 && i >= s.fresh {
				return fmt.Errorf("slab: %#x object %d is used but above fresh mark %d", s.base, i, s.fresh)
			}
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
func (c *Central) carve() (*Slab, error) {
	cls := int(c.class)
	size := uintptr(classBytes[cls])
	slabBytes := uintptr(classSlabBytes[cls])
	objects := int(slabBytes / size)
	s := &Slab{
		size: size, divMagic: classDivMagic[cls], objects: objects, class: c.class,
		pages: int(slabBytes / arena.PageBytes), used: make([]uint64, (objects+63)/64), nfree: objects,
	}
	ch, page, zeroed, err := c.heap.AllocPages(s.pages, unsafe.Pointer(s))
	if err != nil {
		return nil, err
	}
	s.chunk, s.page, s.zeroed = ch, page, zeroed
	s.base = ch.Base() + uintptr(page)*arena.PageBytes
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
