// Reservations: address space taken at once, committed piece by piece.
// See osmem.go for the overview.

package osmem

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ErrReservationFull is returned (wrapped in ErrNoMemory) when a Shared
// reservation has no free range of the size asked for.
var ErrReservationFull = errors.New("no room left in the reservation")

// backing is how a Reservation's ranges get memory: the strategy behind a
// kind of mapping. Every method gets the range's address and its offset
// from the reservation's base; both are multiples of PageBytes, and so is n.
type backing interface {
	// commit moves a range from Reserved to Ready.
	commit(addr, off, n uintptr) error
	// decommit moves a Ready range back to Reserved: no memory, no commit
	// charge, and any access faults.
	decommit(addr, off, n uintptr)
	// release gives the physical pages of a Ready range back; it stays
	// Ready and reads as zero.
	release(addr, off, n uintptr)
	// file is the memory file behind the ranges, nil for anonymous memory.
	file() *os.File
	// close frees what the backing holds (the file) once every range is
	// unmapped.
	close() error
}

// Reservation is one range of address space reserved with a single
// mmap(PROT_NONE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_NORESERVE), which costs
// neither memory nor commit charge, from which a Source carves its mappings
// (SetReservation). Its ranges move between Reserved and Ready through its
// backing: private anonymous pages (NewReservation) or the pages of one
// memory file mapped MAP_SHARED at the range's offset (NewSharedReservation),
// so that an address and its file offset differ by the base.
//
// A private Reservation that is full lets the Source map afresh, as without
// one; a shared one refuses with ErrReservationFull, since every byte of the
// Source must lie in the file.
//
// Free still finds chunks through the process-wide registry: a direct
// table over the one range (a subtraction, a bounds check and a load
// instead of two loads) was measured no faster on the Free path that looks
// chunks up, within the noise of a shared 2-core machine
// (bench/results/reserve-lookup.txt, BenchmarkFreeAcrossChunks).
//
// A Reservation is safe for concurrent use: mu protects free and closed;
// base, bytes, shared and back are read-only.
type Reservation struct {
	base, bytes uintptr
	shared      bool
	back        backing

	mu     sync.Mutex
	free   []span // ranges in the Reserved state, by address, never adjacent
	closed bool
}

// span is a range of address space.
type span struct{ base, size uintptr }

// NewReservation reserves n bytes (rounded up to pages) at an address
// aligned to align, backed, as they are committed, by private anonymous
// memory. align (a power of two, a multiple of PageBytes) is the largest
// alignment a range will be taken with (a chunk's), so that a reservation
// of k*align bytes holds k such ranges wherever the kernel places it.
func NewReservation(n, align uintptr) (*Reservation, error) {
	return newReservation(n, align, anonBacking{})
}

// NewSharedReservation is NewReservation backed, as the ranges are
// committed, by a new anonymous memory file (see memfd.go): the byte at
// base+off is the file's byte at off.
func NewSharedReservation(n, align uintptr) (*Reservation, error) {
	fb, err := newFileBacking()
	if err != nil {
		return nil, err
	}
	r, err := newReservation(n, align, fb)
	if err != nil {
		_ = fb.close()
		return nil, err
	}
	r.shared = true
	return r, nil
}

// newReservation reserves n bytes aligned to align. The kernel aligns a
// mapping to a page only, so it reserves align-PageBytes bytes more and
// unmaps the unaligned ends, as Source.MapAligned does.
func newReservation(n, align uintptr, back backing) (*Reservation, error) {
	n = (n + PageBytes - 1) &^ (PageBytes - 1)
	if n == 0 {
		return nil, fmt.Errorf("osmem: a reservation of 0 bytes")
	}
	if align < PageBytes || align&(align-1) != 0 || n+align < n {
		return nil, fmt.Errorf("osmem: a reservation of %d bytes aligned to %d", n, align)
	}
	extra := align - PageBytes
	p, err := unix.MmapPtr(-1, 0, nil, n+extra, unix.PROT_NONE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	if err != nil {
		return nil, fmt.Errorf("%w: reserving %d bytes of address space: %w", ErrNoMemory, n, err)
	}
	base := (uintptr(p) + align - 1) &^ (align - 1)
	// Unmapping whole ends of a mapping we made cannot fail.
	if head := base - uintptr(p); head > 0 {
		_ = unix.MunmapPtr(p, head)
	}
	if tail := uintptr(p) + n + extra - (base + n); tail > 0 {
		_ = unix.MunmapPtr(AddrPointer(base+n), tail)
	}
	return &Reservation{base: base, bytes: n, back: back, free: []span{{base, n}}}, nil
}

// Base returns the reservation's first address.
func (r *Reservation) Base() uintptr { return r.base }

// Bytes returns the size of the reservation.
func (r *Reservation) Bytes() uintptr { return r.bytes }

// File returns the memory file of a shared reservation, nil otherwise.
// The Reservation owns it until Close.
func (r *Reservation) File() *os.File { return r.back.file() }

// Offset returns addr's offset from the base, and whether addr lies in
// the reservation: a subtraction and a bounds check.
func (r *Reservation) Offset(addr uintptr) (int64, bool) {
	off := addr - r.base
	return int64(off), off < r.bytes
}

// FreeBytes returns the bytes of the reservation in the Reserved state.
func (r *Reservation) FreeBytes() uintptr {
	r.mu.Lock()
	defer r.mu.Unlock()
	var n uintptr
	for _, sp := range r.free {
		n += sp.size
	}
	return n
}

// Close unmaps the whole reservation, committed or not, and closes its
// file. Whatever was carved from it must not be touched again: it faults.
// A second Close does nothing.
func (r *Reservation) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	r.free = nil
	if err := unix.MunmapPtr(AddrPointer(r.base), r.bytes); err != nil {
		return fmt.Errorf("osmem: unmapping a reservation: %w", err)
	}
	return r.back.close()
}

// take finds the first Reserved range with room for n bytes aligned to
// align (a power of two, a multiple of PageBytes) and removes them from
// the free list. It does not commit them.
func (r *Reservation) take(n, align uintptr) (uintptr, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, sp := range r.free {
		start := (sp.base + align - 1) &^ (align - 1)
		end := sp.base + sp.size
		if start < sp.base || start > end || end-start < n {
			continue
		}
		head := span{sp.base, start - sp.base}
		tail := span{start + n, end - start - n}
		switch {
		case head.size == 0 && tail.size == 0:
			r.free = append(r.free[:i], r.free[i+1:]...)
		case head.size == 0:
			r.free[i] = tail
		case tail.size == 0:
			r.free[i] = head
		default:
			r.free[i] = head
			r.free = append(r.free, span{})
			copy(r.free[i+2:], r.free[i+1:])
			r.free[i+1] = tail
		}
		return start, true
	}
	return 0, false
}

// give puts n bytes at addr back on the free list, merging them with the
// ranges on either side.
func (r *Reservation) give(addr, n uintptr) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	i := sort.Search(len(r.free), func(i int) bool { return r.free[i].base > addr })
	joinPrev := i > 0 && r.free[i-1].base+r.free[i-1].size == addr
	joinNext := i < len(r.free) && addr+n == r.free[i].base
	switch {
	case joinPrev && joinNext:
		r.free[i-1].size += n + r.free[i].size
		r.free = append(r.free[:i], r.free[i+1:]...)
	case joinPrev:
		r.free[i-1].size += n
	case joinNext:
		r.free[i].base = addr
		r.free[i].size += n
	default:
		r.free = append(r.free, span{})
		copy(r.free[i+1:], r.free[i:])
		r.free[i] = span{addr, n}
	}
}

// Validate checks the free list: sorted, inside the reservation, no two
// ranges overlapping or adjacent.
func (r *Reservation) Validate() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	end := r.base
	for i, sp := range r.free {
		if sp.size == 0 || sp.base%PageBytes != 0 || sp.size%PageBytes != 0 {
			return fmt.Errorf("osmem: reservation range %d (%#x+%d) is empty or not page aligned", i, sp.base, sp.size)
		}
		if sp.base < end || (i > 0 && sp.base == end) {
			return fmt.Errorf("osmem: reservation range %d (%#x) overlaps or touches the one before", i, sp.base)
		}
		end = sp.base + sp.size
	}
	if end > r.base+r.bytes {
		return fmt.Errorf("osmem: reservation free list passes its end")
	}
	return nil
}

// SetReservation makes s carve its mappings from r: Map and MapAligned
// take a range and commit it, Unmap and Drop decommit it and give it back,
// Release goes through r's backing, and Remap is refused (Remappable is
// false: mremap would move a range out of the reservation or, for a
// shared one, out of step with its file offset). Call it before s is used.
func (s *Source) SetReservation(r *Reservation) { s.space = r }

// Remappable reports whether Remap can resize mappings of s: not when they
// are carved from a Reservation.
func (s *Source) Remappable() bool { return s.space == nil }

// ErrNoRemap is returned (wrapped in ErrNoMemory) by Remap on a Source that
// carves from a Reservation.
var ErrNoRemap = errors.New("mappings carved from a reservation cannot be remapped")

// mapSpace is Map and MapAligned for a Source with a Reservation: it takes
// n bytes aligned to align, accounts them and commits them. ok is false
// when a private reservation is full: the caller then maps afresh. A full
// shared one first has retained memory given back, as a passed limit does.
func (s *Source) mapSpace(n, align uintptr) (p unsafe.Pointer, ok bool, err error) {
	r := s.space
	addr, found := r.take(n, align)
	if !found && s.reclaim != nil && s.retained.Load() > 0 {
		s.reclaim()
		addr, found = r.take(n, align)
	}
	if !found {
		if !r.shared {
			return nil, false, nil
		}
		return nil, true, fmt.Errorf("%w: %w (%d bytes asked, %d of %d free)",
			ErrNoMemory, ErrReservationFull, n, r.FreeBytes(), r.bytes)
	}
	if err := s.account(n); err != nil {
		r.give(addr, n)
		return nil, true, err
	}
	if err := r.back.commit(addr, addr-r.base, n); err != nil {
		s.unaccount(n)
		r.give(addr, n)
		return nil, true, err
	}
	s.mmaps.Add(1)
	s.notePeak()
	return AddrPointer(addr), true, nil
}

// unmapSpace decommits the n bytes at p and gives them back to the
// reservation, and reports whether p was in it (if not, it was mapped
// afresh past a full private reservation and the caller unmaps it). It
// does not touch the accounting.
func (s *Source) unmapSpace(p unsafe.Pointer, n uintptr) bool {
	r := s.space
	off, in := r.Offset(uintptr(p))
	if !in {
		return false
	}
	r.back.decommit(uintptr(p), uintptr(off), n)
	s.munmaps.Add(1)
	r.give(uintptr(p), n)
	return true
}

// Release gives the physical pages of a Ready range back to the kernel;
// the range stays Ready and reads as zero afterwards. For private memory
// that is MADV_DONTNEED; for a shared reservation it punches the range out
// of the memory file, so that the file holds no page for it either.
func (s *Source) Release(p unsafe.Pointer, n uintptr) {
	if r := s.space; r != nil && n > 0 {
		if off, in := r.Offset(uintptr(p)); in {
			r.back.release(uintptr(p), uintptr(off), n)
			return
		}
	}
	Release(p, n)
}

// anonBacking commits private anonymous memory.
type anonBacking struct{}

// commit maps fresh private pages over the range (MAP_FIXED replaces the
// PROT_NONE reservation in one step): the commit charge is taken now, the
// memory on first touch.
func (anonBacking) commit(addr, _, n uintptr) error {
	_, err := unix.MmapPtr(-1, 0, AddrPointer(addr), n, unix.PROT_READ|unix.PROT_WRITE,
		unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_FIXED)
	if err != nil {
		return fmt.Errorf("%w: committing %d bytes: %w", ErrNoMemory, n, err)
	}
	return nil
}

func (anonBacking) decommit(addr, _, n uintptr) { reserveAgain(addr, n) }

func (anonBacking) release(addr, _, n uintptr) { Release(AddrPointer(addr), n) }

func (anonBacking) file() *os.File { return nil }

func (anonBacking) close() error { return nil }

// reserveAgain moves a range back to Reserved: one mmap(MAP_FIXED,
// PROT_NONE, MAP_NORESERVE) over it drops its pages and its commit charge
// at once (mprotect(PROT_NONE) would keep the charge). Should the kernel
// refuse (it may, when splitting a mapping passes vm.max_map_count), the
// pages are still dropped with MADV_DONTNEED and the range stays readable
// and writable until it is committed again: no memory is held, only the
// charge and the protection.
func reserveAgain(addr, n uintptr) {
	_, err := unix.MmapPtr(-1, 0, AddrPointer(addr), n, unix.PROT_NONE,
		unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_FIXED|unix.MAP_NORESERVE)
	if err != nil {
		Release(AddrPointer(addr), n)
	}
}
