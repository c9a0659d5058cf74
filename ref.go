// Ref: an allocation's address as a plain integer, for indexes the garbage
// collector never scans. See doc.go for the overview.

package mmalloc

import (
	"unsafe"

	"github.com/mmalloc/mmalloc/internal/errs"
	"github.com/mmalloc/mmalloc/internal/osmem"
	"github.com/mmalloc/mmalloc/internal/slabs"
)

// Ref is an allocation's address as a plain integer: what a program keeps
// in its index instead of a []byte. A map or slice whose keys and values
// are Refs (and other integers) holds no Go pointer, so the garbage
// collector never scans it, however many entries it has; a map or slice
// of []byte keeps one slice header per entry on the Go heap, and every GC
// cycle scans them all. The zero Ref means no allocation.
//
// AllocRef, AllocRefUninit and FreeRef are Alloc, AllocUninit and Free in
// terms of Refs; RefOf turns a slice from Alloc into its Ref, and Bytes
// turns a Ref back into the allocation's memory, checked. UnsafeBytes is
// the unchecked accessor, for hot paths that already know the size.
//
// A Ref is not a reference the collector knows about: it keeps nothing
// alive, and the memory it names is the Allocator's until FreeRef (or Free
// of its slice, or Close). After that the Ref is stale and MUST NOT be
// used: Bytes and FreeRef of it return ErrDoubleFree (or ErrForeignPointer
// once the memory is unmapped) only as long as no later allocation has
// been given the same address, as with a []byte after Free.
type Ref uint64

// RefOf returns the Ref of an allocation that Alloc (or AllocUninit,
// Realloc, a Cache) returned, so that a.Bytes(RefOf(b)) is b[:cap(b)]. A b
// with cap(b) == 0 gives the zero Ref. RefOf checks nothing: the Ref of a
// slice that is not an allocation's start is refused later, by Bytes and
// FreeRef.
func RefOf(b []byte) Ref {
	if cap(b) == 0 {
		return 0
	}
	return Ref(uintptr(unsafe.Pointer(unsafe.SliceData(b))))
}

// UnsafeBytes returns the n bytes at r, len and cap n, WITHOUT ANY CHECK:
// no lookup, no lock, nothing read but r itself. It costs what a slice
// expression does, where Allocator.Bytes looks the allocation up.
//
// The caller MUST know that r is a live allocation of at least n usable
// bytes (n <= cap of what Alloc returned for it). A stale, foreign or
// interior Ref, or too large an n, gives a slice over memory the caller
// does not own: reading it returns another allocation's bytes, writing it
// corrupts them, and either may fault. A zero r or an n <= 0 gives nil.
func (r Ref) UnsafeBytes(n int) []byte {
	if r == 0 || n <= 0 {
		return nil
	}
	return unsafe.Slice((*byte)(osmem.AddrPointer(uintptr(r))), n)
}

// AllocRef is Alloc returning the allocation's Ref: n zeroed bytes, whose
// memory Bytes(r) gives with its usable size, UsableSize(n). The memory
// MUST be freed with FreeRef (or with Free of its slice). AllocRef(0)
// returns the zero Ref and nil; the errors are Alloc's (ErrInvalidSize,
// ErrOutOfMemory, ErrClosed), with the zero Ref.
func (a *Allocator) AllocRef(n int) (Ref, error) {
	b, err := a.Alloc(n)
	return RefOf(b), err
}

// AllocRefUninit is AllocRef without the clearing: the contents of the
// memory are unspecified, as with AllocUninit.
func (a *Allocator) AllocRefUninit(n int) (Ref, error) {
	b, err := a.AllocUninit(n)
	return RefOf(b), err
}

// FreeRef frees the allocation r names, as Free frees its slice,
// with the same checks and errors, none of which changes anything: a Ref
// this Allocator did not hand out returns ErrForeignPointer, one inside an
// allocation ErrInvalidPointer, one already freed ErrDoubleFree, and any
// call after Close ErrClosed. FreeRef(0) does nothing and returns nil.
//
// No byte of the memory is read before r is found in the Allocator's own
// registries (its chunks, its large mappings), so any integer may be
// passed, not only Refs.
func (a *Allocator) FreeRef(r Ref) error {
	b, err := a.freeable(r)
	if err != nil || b == nil {
		return err
	}
	return a.Free(b)
}

// Bytes returns the memory of the live allocation r names, with len and
// cap its usable size: the cap of the slice Alloc returned for it,
// UsableSize of the size asked for (after a Realloc, of the new size).
// For a slice b from Alloc, Bytes(RefOf(b)) is b[:cap(b)]. Bytes(0)
// returns an empty slice.
//
// r is checked against the Allocator's registries before any byte of
// memory is touched: a Ref this Allocator did not hand out returns
// ErrForeignPointer, one inside an allocation ErrInvalidPointer, one of
// an allocation already freed ErrDoubleFree (the errors Free would
// return), and any call after Close ErrClosed. A small allocation is
// checked without a lock (a registry lookup and its owner bit); a large
// one takes the large registry's lock. Where the caller knows r and its
// size to be good, UnsafeBytes skips the check.
//
// A Bytes racing with a FreeRef of the same r is a caller's race: it may
// return memory that is being freed.
func (a *Allocator) Bytes(r Ref) ([]byte, error) {
	if err := a.usable(); err != nil {
		return nil, err
	}
	if r == 0 {
		return []byte{}, nil
	}
	n, err := a.refBytes(r)
	if err != nil {
		return nil, err
	}
	return r.UnsafeBytes(n), nil
}

// AllocRef is Allocator.AllocRef through the Cache: n zeroed bytes.
func (c *Cache) AllocRef(n int) (Ref, error) {
	b, err := c.Alloc(n)
	return RefOf(b), err
}

// AllocRefUninit is Allocator.AllocRefUninit through the Cache: n bytes
// whose contents are unspecified.
func (c *Cache) AllocRefUninit(n int) (Ref, error) {
	b, err := c.AllocUninit(n)
	return RefOf(b), err
}

// FreeRef is Allocator.FreeRef through the Cache, with the same checks and
// errors: the object goes straight back to its slab.
func (c *Cache) FreeRef(r Ref) error {
	if !c.made() {
		return ErrUninitialized
	}
	b, err := c.st.a.freeable(r)
	if err != nil || b == nil {
		return err
	}
	return c.Free(b)
}

// freeable returns a slice starting at r for Free to check and free,
// or nil and nil for the zero Ref, or the error Free would return. The
// slice is made only once r is known to lie in the Allocator's memory (a
// pointer to anywhere else may be one into the Go heap, which the
// collector must never see dangling): in one of its chunks, where Free's
// own checks need nothing more, or at the start of one of its large
// mappings (or, in guard mode, of a live object).
func (a *Allocator) freeable(r Ref) ([]byte, error) {
	if err := a.usable(); err != nil {
		return nil, err
	}
	if r == 0 {
		return nil, nil
	}
	if a.guard == nil && uint64(uintptr(r)) == uint64(r) && a.chunkOf(uintptr(r)) != nil {
		return r.UnsafeBytes(1), nil
	}
	n, err := a.refBytes(r)
	if err != nil {
		return nil, err
	}
	return r.UnsafeBytes(n), nil
}

// refBytes returns the usable size of the live allocation that starts at
// r, or the error Free would return for it. It reads the registries only
// (the chunk registry and the slab's owner bits without a lock; the large
// registry, or guard mode's table, under its lock), never the memory, and
// changes nothing.
func (a *Allocator) refBytes(r Ref) (int, error) {
	addr := uintptr(r)
	if uint64(addr) != uint64(r) {
		return 0, errs.ForeignRef(uint64(r))
	}
	if a.guard != nil {
		n, err := a.guard.liveBytes(a, addr)
		return n, a.foreign(err, addr, true)
	}
	if ch := a.chunkOf(addr); ch != nil {
		c, err := slabs.Usable(ch, addr)
		if err != nil {
			return 0, err
		}
		return slabs.ClassBytes(c), nil
	}
	n, err := a.large.Usable(addr)
	if err != nil {
		return 0, a.foreign(err, addr, true)
	}
	return int(n), nil
}
