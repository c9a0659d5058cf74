// Package osmem is the one place that asks the kernel for memory and gives it
// back. Every mapping the allocator makes passes through a Source, which counts
// the calls, holds the optional byte limit and can be made to fail in tests.
//
// # Memory states
//
// A range of address space is either
//
//   - None: not mapped; touching it faults.
//   - Reserved: inside a Reservation (reserve.go): PROT_NONE, no memory and
//     no commit charge; touching it faults.
//   - Ready: mapped PROT_READ|PROT_WRITE, private and anonymous (or, in a
//     shared Reservation, pages of its memory file mapped MAP_SHARED). Pages
//     read as zero until first written; a write faults the page in (RSS grows).
//   - Guard: mapped PROT_NONE inside a Ready mapping; touching it faults.
//   - Retired: a whole former mapping, PROT_NONE and without memory, kept
//     reserved so that no later mapping lands on it; touching it faults.
//
// Map moves a range from None to Ready, Unmap from Ready to None, and Release
// keeps a Ready range Ready but gives its physical pages back (MADV_DONTNEED),
// so that it reads as zero again and costs no RSS until touched. Guard mode
// (guard.go) adds Guard (Ready to Guard), Retire (Ready to Retired) and Drop
// (Retired to None). A Source given a Reservation (SetReservation) maps by
// moving a range of it from Reserved to Ready (commit) and unmaps by moving
// it back (decommit); Release of a shared range also frees its file pages.
package osmem

import (
	"errors"
	"fmt"
	"math"
	"os"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/mmalloc/mmalloc/internal/errs"
)

// PageBytes is the size of one OS page. Mappings are multiples of it.
var PageBytes = uintptr(os.Getpagesize())

// ErrLimit is returned (wrapped) when a mapping would pass the Source's limit.
var ErrLimit = errors.New("mapping would pass the byte limit")

// ErrNoMemory is the sentinel every failed mapping wraps, with either ErrLimit
// or the kernel's errno beside it. It is the value mmalloc exports as
// ErrOutOfMemory.
var ErrNoMemory = errs.ErrOutOfMemory

// Source maps and unmaps memory for one allocator and keeps its figures.
//
// A Source is safe for concurrent use: its counters are atomic and its limit
// is enforced with a compare-and-swap loop on held, so Mapped - Released
// never passes Limit. Memory counts as released while its pages hold no
// memory: from the moment its user reports it with MarkReleased (pages
// given back with Release, or a range mapped and never touched, as a new
// chunk's) until it is used again (MarkHeld) or unmapped (UnmapReleased).
type Source struct {
	limit    int64        // most bytes held at once; 0 means none. Read-only.
	mapped   atomic.Int64 // bytes mapped now through this Source
	released atomic.Int64 // bytes of mapped, given back to the OS (Ready, no pages)
	held     atomic.Int64 // mapped - released: what Limit bounds
	peak     atomic.Int64 // highest value held has had
	mmaps    atomic.Uint64
	munmaps  atomic.Uint64
	remaps   atomic.Uint64

	retainBytes int64        // most bytes kept mapped for reuse indefinitely; read-only
	decayLimit  int64        // most bytes kept beyond retainBytes while they decay; read-only
	retained    atomic.Int64 // bytes kept mapped for reuse now
	reclaim     func()       // unmaps retained memory when the limit is hit; read-only

	// Decay (see SetDecay): onExcess runs once retained passes
	// retainBytes while armed is false, and sets armed; low is the least
	// retained has been since TakeLow last ran, math.MaxInt64 if it has
	// not fallen since; lowStart is retained when TakeLow last ran, and
	// is used only by TakeLow's caller.
	onExcess func() // read-only
	armed    atomic.Bool
	low      atomic.Int64
	lowStart int64
	space    *Reservation // where mappings are carved from, or nil; read-only (reserve.go)

	// Test-only fault injection; see faultinject.go.
	failAt    atomic.Int64
	failCount atomic.Int64
	refusing  atomic.Bool
}

// NewSource returns a Source that keeps at most limit bytes mapped (0: no limit).
func NewSource(limit int64) *Source { return &Source{limit: limit} }

// SetRetainBytes sets the retention budget: how many bytes of freed memory
// (empty chunks and slabs, freed large mappings) may be kept mapped for
// reuse indefinitely. Call it before the Source is used.
func (s *Source) SetRetainBytes(n int64) { s.retainBytes = n }

// SetDecay lets up to n bytes of freed memory be kept beyond the retention
// budget for a while: onExcess is called (on the goroutine whose TryRetain
// passed the budget, which may hold the allocator's locks, so it must not
// take them) each time retained passes the budget while no decay is
// armed, and arms it; the caller disarms it with Disarm once retained is
// back within the budget, and meanwhile gives the excess back as TakeLow
// shows it going unused. Call it before the Source is used.
func (s *Source) SetDecay(n int64, onExcess func()) {
	s.decayLimit = max(n, 0)
	s.onExcess = onExcess
	s.low.Store(math.MaxInt64)
}

// TryRetain reserves n bytes of the retention budget (and of the decay
// allowance beyond it) and reports whether they fit. Every successful call
// is matched by Unretain when the memory is reused or unmapped.
func (s *Source) TryRetain(n uintptr) bool {
	for {
		cur := s.retained.Load()
		next := cur + int64(n)
		if next > s.retainBytes+s.decayLimit {
			return false
		}
		if s.retained.CompareAndSwap(cur, next) {
			if next > s.retainBytes && s.onExcess != nil && !s.armed.Load() && s.armed.CompareAndSwap(false, true) {
				s.onExcess()
			}
			return true
		}
	}
}

// Disarm ends an armed decay, and reports false (leaving it armed) if
// retained is past the budget again: the caller then goes on decaying.
func (s *Source) Disarm() bool {
	s.armed.Store(false)
	if s.retained.Load() > s.retainBytes && s.armed.CompareAndSwap(false, true) {
		return false
	}
	return true
}

// Armed reports whether a decay is armed.
func (s *Source) Armed() bool { return s.armed.Load() }

// ResetLow starts the low-water mark afresh at the retained bytes now.
func (s *Source) ResetLow() {
	s.low.Store(math.MaxInt64)
	s.lowStart = s.retained.Load()
}

// TakeLow returns the least the retained bytes have been since the last
// TakeLow (or ResetLow), and starts the next interval. Memory retained
// throughout the interval went unused all along: nothing took it. Calls
// must be serialised.
func (s *Source) TakeLow() int64 {
	low := s.low.Swap(math.MaxInt64)
	start := s.lowStart
	s.lowStart = s.retained.Load()
	return min(low, start)
}

// SetReclaim sets the function called when a mapping would pass the limit
// while memory is retained: it should unmap retained memory (it may be
// called with the caller's locks held, so it must only try to lock). The
// mapping is then tried once more. Call it before the Source is used.
func (s *Source) SetReclaim(f func()) { s.reclaim = f }

// Unretain gives n bytes back to the retention budget.
func (s *Source) Unretain(n uintptr) {
	v := s.retained.Add(-int64(n))
	for l := s.low.Load(); v < l && !s.low.CompareAndSwap(l, v); l = s.low.Load() {
	}
}

// Retained returns the bytes kept mapped for reuse now.
func (s *Source) Retained() int64 { return s.retained.Load() }

// RetainBytes returns the retention budget, kept indefinitely.
func (s *Source) RetainBytes() int64 { return s.retainBytes }

// RetainCap returns the most bytes ever retained at once: the budget and
// the decay allowance beyond it.
func (s *Source) RetainCap() int64 { return s.retainBytes + s.decayLimit }

// Limit returns the byte limit, 0 if none.
func (s *Source) Limit() int64 { return s.limit }

// Mapped returns the bytes mapped now.
func (s *Source) Mapped() int64 { return s.mapped.Load() }

// Peak returns the most bytes ever held at once (Mapped - Released).
func (s *Source) Peak() int64 { return s.peak.Load() }

// Held returns the bytes mapped and not released: what Limit bounds.
func (s *Source) Held() int64 { return s.held.Load() }

// Mmaps returns the number of mmap calls made.
func (s *Source) Mmaps() uint64 { return s.mmaps.Load() }

// Munmaps returns the number of munmap calls made.
func (s *Source) Munmaps() uint64 { return s.munmaps.Load() }

// Remaps returns the number of successful mremap calls made.
func (s *Source) Remaps() uint64 { return s.remaps.Load() }

// account counts n bytes as mapped and held, against the limit, before
// they are mapped. If they do not fit while memory is retained, it asks
// for the retained memory to be given back and tries once more.
func (s *Source) account(n uintptr) error {
	if s.injected() {
		return fmt.Errorf("%w: %w", ErrNoMemory, unix.ENOMEM)
	}
	err := s.tryAccount(n)
	if err != nil && s.reclaim != nil && s.retained.Load() > 0 {
		s.reclaim()
		err = s.tryAccount(n)
	}
	return err
}

// tryAccount is account without the reclaim.
func (s *Source) tryAccount(n uintptr) error {
	if err := s.tryHold(n); err != nil {
		return err
	}
	s.mapped.Add(int64(n))
	return nil
}

// tryHold adds n bytes to held if they fit the limit.
func (s *Source) tryHold(n uintptr) error {
	for {
		cur := s.held.Load()
		next := cur + int64(n)
		if next < cur || (s.limit > 0 && next > s.limit) {
			return fmt.Errorf("%w: %w (%d bytes held, %d requested, limit %d)",
				ErrNoMemory, ErrLimit, cur, n, s.limit)
		}
		if s.held.CompareAndSwap(cur, next) {
			processAdd(int64(n))
			return nil
		}
	}
}

// unaccount takes back what account counted, for a mapping refused or
// unmapped.
func (s *Source) unaccount(n uintptr) {
	s.mapped.Add(-int64(n))
	s.held.Add(-int64(n))
	processAdd(-int64(n))
}

// notePeak records a successful mapping in the high-water mark. Peak moves
// only once the kernel has said yes, so a refused mapping changes nothing.
func (s *Source) notePeak() {
	next := s.held.Load()
	for p := s.peak.Load(); next > p && !s.peak.CompareAndSwap(p, next); p = s.peak.Load() {
	}
}

// MarkReleased records that n bytes of mapped memory hold no pages: given
// back with Release, or mapped and never touched.
func (s *Source) MarkReleased(n uintptr) {
	s.released.Add(int64(n))
	s.held.Add(-int64(n))
	processAdd(-int64(n))
}

// MarkHeld records that n released bytes are about to be used again, or
// fails with ErrNoMemory if held would pass the limit (after asking for
// retained memory once, as a mapping does). The caller may hold locks the
// reclaim function knows about.
func (s *Source) MarkHeld(n uintptr) error {
	if n == 0 {
		return nil
	}
	err := s.tryHold(n)
	if err != nil && s.reclaim != nil && s.retained.Load() > 0 {
		s.reclaim()
		err = s.tryHold(n)
	}
	if err != nil {
		return err
	}
	s.released.Add(-int64(n))
	s.notePeak()
	return nil
}

// UnmapReleased is Unmap of n bytes at p, rel of which count as released.
func (s *Source) UnmapReleased(p unsafe.Pointer, n, rel uintptr) {
	if s.space == nil || !s.unmapSpace(p, n) {
		s.munmap(p, n)
	}
	s.released.Add(-int64(rel))
	s.mapped.Add(-int64(n))
	s.held.Add(-int64(n - rel))
	processAdd(-int64(n - rel))
}

// Released returns the bytes mapped now that hold no pages (see MarkReleased).
func (s *Source) Released() int64 { return s.released.Load() }

// Map moves n bytes (a multiple of PageBytes) from None to Ready with one
// mmap call and returns their address. The memory reads as zero.
func (s *Source) Map(n uintptr) (unsafe.Pointer, error) {
	if s.space != nil {
		if p, ok, err := s.mapSpace(n, PageBytes); ok {
			return p, err
		}
	}
	if err := s.account(n); err != nil {
		return nil, err
	}
	p, err := s.mmap(nil, n)
	if err != nil {
		s.unaccount(n)
		return nil, err
	}
	s.notePeak()
	return p, nil
}

// MapAligned maps n bytes at an address that is a multiple of align (a power
// of two, multiple of PageBytes, n a multiple of align). It first tries hint,
// which usually lies just below the previous aligned mapping and so costs one
// mmap; otherwise it maps n+align and unmaps the unaligned ends.
func (s *Source) MapAligned(n, align uintptr, hint uintptr) (unsafe.Pointer, error) {
	if s.space != nil {
		if p, ok, err := s.mapSpace(n, align); ok {
			return p, err
		}
	}
	if err := s.account(n); err != nil {
		return nil, err
	}
	if hint != 0 && hint%align == 0 {
		p, err := s.mmap(AddrPointer(hint), n)
		if err == nil {
			if uintptr(p)%align == 0 {
				s.notePeak()
				return p, nil
			}
			s.munmap(p, n)
		}
	}
	p, err := s.mmap(nil, n+align)
	if err != nil {
		s.unaccount(n)
		return nil, err
	}
	base := uintptr(p)
	start := (base + align - 1) &^ (align - 1)
	if head := start - base; head > 0 {
		s.munmap(p, head)
	}
	if tail := base + n + align - (start + n); tail > 0 {
		s.munmap(unsafe.Add(p, start-base+n), tail)
	}
	s.notePeak()
	return unsafe.Add(p, start-base), nil
}

// Unmap moves n bytes at p from Ready to None with one munmap call.
func (s *Source) Unmap(p unsafe.Pointer, n uintptr) {
	if s.space == nil || !s.unmapSpace(p, n) {
		s.munmap(p, n)
	}
	s.unaccount(n)
}

// Remap grows or shrinks the mapping at p from oldN to newN bytes with
// mremap(MREMAP_MAYMOVE): the kernel moves page tables, no byte is copied.
func (s *Source) Remap(p unsafe.Pointer, oldN, newN uintptr) (unsafe.Pointer, error) {
	if s.space != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoMemory, ErrNoRemap)
	}
	if newN > oldN {
		if err := s.account(newN - oldN); err != nil {
			return nil, err
		}
	}
	q, err := s.refusal()
	if err == nil {
		q, err = unix.MremapPtr(p, oldN, nil, newN, unix.MREMAP_MAYMOVE)
	}
	if err != nil {
		if newN > oldN {
			s.unaccount(newN - oldN)
		}
		return nil, fmt.Errorf("%w: mremap %d to %d bytes: %w", ErrNoMemory, oldN, newN, err)
	}
	if newN < oldN {
		s.unaccount(oldN - newN)
	}
	s.remaps.Add(1)
	s.notePeak()
	return q, nil
}

// Release gives the physical pages of a Ready range back to the kernel; the
// range stays mapped and reads as zero afterwards.
func Release(p unsafe.Pointer, n uintptr) {
	if n == 0 {
		return
	}
	// MADV_DONTNEED on a private anonymous range cannot fail for a range we
	// mapped; an error here would mean the range is not ours.
	if err := unix.Madvise(unsafe.Slice((*byte)(p), n), unix.MADV_DONTNEED); err != nil {
		panic("osmem: madvise on an owned range failed: " + err.Error())
	}
}

// AdviseHuge asks for transparent huge pages on a Ready range. It is only
// advice: an error (e.g. THP disabled) is ignored.
func AdviseHuge(p unsafe.Pointer, n uintptr) {
	_ = unix.Madvise(unsafe.Slice((*byte)(p), n), unix.MADV_HUGEPAGE)
}

func (s *Source) mmap(hint unsafe.Pointer, n uintptr) (unsafe.Pointer, error) {
	p, err := s.refusal()
	if err == nil {
		p, err = unix.MmapPtr(-1, 0, hint, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: mmap of %d bytes: %w", ErrNoMemory, n, err)
	}
	s.mmaps.Add(1)
	return p, nil
}

func (s *Source) munmap(p unsafe.Pointer, n uintptr) {
	// munmap of a range we mapped only fails on a programming error in the
	// allocator (bad alignment or length): never on caller input.
	if err := unix.MunmapPtr(p, n); err != nil {
		panic("osmem: munmap of an owned range failed: " + err.Error())
	}
	s.munmaps.Add(1)
}

// AddrPointer turns the address of mapped memory into a pointer. Mapped
// memory is never Go memory: the collector neither moves nor frees it, so
// holding its address as an unsafe.Pointer is safe, and this form avoids
// the uintptr-to-pointer conversion vet warns about. Every layer uses it.
func AddrPointer(a uintptr) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(&a)) }
