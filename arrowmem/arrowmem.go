// Package arrowmem is an allocator for Apache Arrow Go (arrow-go v18)
// whose buffers live outside the Go heap, in an mmalloc.Allocator: the
// collector neither scans them nor counts them toward GOGC, and every
// buffer goes back to mmalloc, which gives its memory back to the OS, the
// moment Arrow releases it. It needs no cgo, where Arrow's own off-heap
// allocators (the C++ memory pool, mallocator over calloc) do.
//
// An Allocator has Arrow's memory.Allocator methods — Allocate(size int)
// []byte, Reallocate(size int, b []byte) []byte, Free(b []byte) — so it
// satisfies that interface structurally, and this package imports nothing
// of Arrow. To switch a program:
//
//	a, err := mmalloc.New(mmalloc.Options{})
//	...
//	memory.DefaultAllocator = arrowmem.New(a)
//
// or pass arrowmem.New(a) wherever Arrow takes a memory.Allocator.
//
// # Buffers
//
// Allocate returns zeroed memory 64-byte aligned (Arrow's alignment), from
// mmalloc.Allocator.AllocAligned, with cap == len, as Arrow's own
// allocators give: Arrow code takes cap(b) for room it may write while
// copying into b[:len(b)] (arrow/compute's execBufBuilder does), which
// loses bytes under a larger cap. The room mmalloc gave beyond len is not
// lost: Reallocate finds it (mmalloc.Allocator.Bytes) and grows into it
// without moving. Allocate(0) returns an empty slice, which Free and
// Reallocate accept. Reallocate resizes in place when the allocation has
// room (clearing the bytes it adds); grows a buffer
// past 128 KiB (mmalloc.DefaultLargeThreshold, above which every buffer is
// a mapping of its own) with mmalloc's Realloc, which remaps it with
// mremap and copies nothing; shrinks such a buffer with Realloc too, which
// gives its tail pages back to the OS (a shrink to 128 KiB or less moves
// it into a slab and unmaps it); and otherwise moves it to a new aligned
// allocation. In guard mode (mmalloc.Options.Guard) every resize that does
// not fit moves, so that the new buffer gets its own guard.
//
// # Errors
//
// Arrow's signatures return no error, so an Allocator decides what to do
// with one; the user chooses with Options at New.
//
//   - Out of memory (mmalloc's Limit passed, or the kernel refused a
//     mapping): by default Allocate and Reallocate panic with the error,
//     which wraps mmalloc.ErrOutOfMemory. That is what Arrow users get
//     from Arrow's own allocators — memory.GoAllocator's make panics or dies
//     when the Go heap cannot grow, and mallocator panics ("mallocator:
//     out of memory") — and it is the only answer that keeps Arrow's
//     contract: Arrow indexes the buffer it asked for, so a nil or short
//     one would fail later, far from the cause. HeapFallback instead
//     serves the request from the Go heap, as GoAllocator would, so that
//     a program with an mmalloc Limit degrades to Go memory instead of
//     failing; Free and Reallocate recognise those buffers.
//   - A bad Free (memory this Allocator did not hand out, a second Free, a
//     Free after the mmalloc Allocator's Close): mmalloc refuses it and
//     changes nothing, so the process's memory is intact. By default the
//     Allocator counts it (BadFrees), keeps the first error (Err) and
//     returns, as Arrow's mallocator returns from a Free it does not know
//     and GoAllocator ignores every Free: a refused call that harmed
//     nothing should not crash a program in production. OnBadFree sets a
//     function called with each such error instead — panic there in
//     tests, or log.
//   - A negative size is a bug of the caller's: Allocate and Reallocate
//     panic with mmalloc.ErrInvalidSize, as make and mallocator panic.
//     So do allocations on the zero Allocator or after the mmalloc
//     Allocator's Close (mmalloc.ErrUninitialized, mmalloc.ErrClosed),
//     whatever the Options; a Free there is a bad Free.
//
// # Finding memory bugs
//
// With mmalloc's guard mode under it, an Allocator finds what Arrow's
// memory.CheckedAllocator cannot: a write past a buffer's end, and a read or
// write after Free. NewFromEnv makes an Allocator in guard mode when the
// environment says ARROWMEM_GUARD=1, so that a program's tests can run
// either way without a change:
//
//	func TestMain(m *testing.M) {
//		mem, err := arrowmem.NewFromEnv()
//		if err != nil { panic(err) }
//		memory.DefaultAllocator = mem
//		code := m.Run()
//		if err := mem.Check(); err != nil { fmt.Println(err); code = 1 }
//		os.Exit(code)
//	}
//
//	ARROWMEM_GUARD=1 go test ./...
//
// In guard mode a buffer larger than 128 KiB ends at an inaccessible
// page and is made inaccessible by its Free: an overflow or any use after
// Free faults at once, and the fault's traceback names the code that made
// the access. A smaller buffer is followed by canary bytes, checked by its
// Free, and poisoned when freed: a write after Free is found when its slot
// leaves the quarantine, or by Check. Every bad Free panics.
//
// An Allocator is safe for concurrent use by many goroutines, as Arrow
// requires of its allocators.
package arrowmem

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/mmalloc/mmalloc"
)

// Alignment is the alignment of every buffer: Arrow's, 64 bytes.
const Alignment = 64

// GuardEnv is the environment variable NewFromEnv reads.
const GuardEnv = "ARROWMEM_GUARD"

// Allocator is an Arrow memory allocator over an mmalloc.Allocator. It is
// safe for concurrent use. The zero Allocator (and a nil one) is not
// usable: its Allocate and Reallocate panic with mmalloc.ErrUninitialized,
// and its Free does nothing but count. Make one with New.
type Allocator struct {
	a     *mmalloc.Allocator
	guard bool // a is in guard mode: every resize that does not fit moves

	onBadFree    func(error) // nil: count only
	heapFallback bool

	heap sync.Map // with heapFallback: address → the Go-heap buffer served there

	allocated atomic.Int64 // len of the live buffers, as Arrow asked for them
	badFrees  atomic.Int64
	fallbacks atomic.Int64
	firstErr  atomic.Pointer[error]
}

// Option configures an Allocator at New.
type Option func(*Allocator)

// OnBadFree makes f be called with the error of every Free that mmalloc
// refuses (it wraps mmalloc.ErrForeignPointer, ErrInvalidPointer,
// ErrDoubleFree or ErrClosed), after it is counted. f may panic (in
// tests) or log; it is called on the goroutine that called Free.
func OnBadFree(f func(error)) Option { return func(m *Allocator) { m.onBadFree = f } }

// HeapFallback makes an allocation that mmalloc refuses for want of
// memory (mmalloc.ErrOutOfMemory) come from the Go heap instead, 64-byte
// aligned, as GoAllocator's would, rather than panic. Such buffers are
// counted by Fallbacks; Free and Reallocate recognise them.
func HeapFallback() Option { return func(m *Allocator) { m.heapFallback = true } }

// New returns an Allocator whose buffers come from a, configured by opts.
// The default is documented in the package doc: out of memory panics, a
// bad Free is counted and ignored.
func New(a *mmalloc.Allocator, opts ...Option) *Allocator {
	m := &Allocator{a: a, guard: a.UsableSize(1) == 1} // only guard mode serves 1 byte as 1
	for _, o := range opts {
		if o != nil {
			o(m)
		}
	}
	return m
}

// NewFromEnv returns an Allocator over a new mmalloc.Allocator with the
// default Options, or, when the environment has ARROWMEM_GUARD=1, in
// guard mode (mmalloc.Options.Guard) with every bad Free panicking. The
// error is mmalloc.New's.
func NewFromEnv() (*Allocator, error) {
	guard := os.Getenv(GuardEnv) == "1"
	a, err := mmalloc.New(mmalloc.Options{Guard: guard})
	if err != nil {
		return nil, err
	}
	if guard {
		return New(a, OnBadFree(func(err error) { panic(err) })), nil
	}
	return New(a), nil
}

// Mmalloc returns the mmalloc.Allocator the buffers come from, for its
// Stats, CheckGuards or heap profile.
func (m *Allocator) Mmalloc() *mmalloc.Allocator {
	if m == nil {
		return nil
	}
	return m.a
}

// Allocate returns size zeroed bytes, 64-byte aligned, with cap == len.
// Allocate(0) returns an empty slice. A negative
// size panics; out of memory panics or falls back to the Go heap (see the
// package doc).
func (m *Allocator) Allocate(size int) []byte {
	if m == nil {
		m.fail("Allocate", size, mmalloc.ErrUninitialized)
	}
	if size < 0 {
		m.fail("Allocate", size, fmt.Errorf("%w: %d bytes", mmalloc.ErrInvalidSize, size))
	}
	b, err := m.a.AllocAligned(size, Alignment)
	if err != nil {
		b = m.fallback("Allocate", size, err)
	}
	m.allocated.Add(int64(size))
	return b[:size:size]
}

// Reallocate resizes b, which Allocate or Reallocate returned, to size
// bytes and returns it: b[:min(len(b), size)] is kept and the bytes after
// it read as zero. After it b MUST NOT be used (unless the result starts
// where b does). A b with cap 0 makes it Allocate(size). See the package
// doc for how it resizes and what it does with errors.
func (m *Allocator) Reallocate(size int, b []byte) []byte {
	if m == nil {
		m.fail("Reallocate", size, mmalloc.ErrUninitialized)
	}
	if size < 0 {
		m.fail("Reallocate", size, fmt.Errorf("%w: %d bytes", mmalloc.ErrInvalidSize, size))
	}
	if cap(b) == 0 {
		return m.Allocate(size)
	}
	nb := m.resize(size, b)
	m.allocated.Add(int64(size - len(b)))
	return nb
}

// resize is Reallocate for a b with cap(b) > 0 and size >= 0. Every
// slice it returns has cap == len.
func (m *Allocator) resize(size int, b []byte) []byte {
	// Above DefaultLargeThreshold every buffer is a mapping of its own.
	const large = mmalloc.DefaultLargeThreshold
	// A result of size 0 has cap 0, which Free ignores: b goes now.
	if size == 0 {
		m.freeMoved(b)
		return []byte{}
	}
	if m.heapFallback && m.isHeap(b) {
		if size <= cap(b) {
			return grow(b[:cap(b)], len(b), size)
		}
		return m.move(size, b)
	}
	// The allocation's room: its usable size (in guard mode, its len).
	whole, err := m.a.Bytes(mmalloc.RefOf(b))
	if err != nil || len(whole) < len(b) {
		return m.move(size, b) // not mmalloc's: the move reports it as a bad Free
	}
	room := len(whole)
	switch {
	case size <= room && (m.guard || room <= large):
		return grow(whole, len(b), size) // room in the allocation
	case size > large && !m.guard:
		// Grow or shrink by mremap, or move into a mapping of its own
		// (page aligned); a resize to the same pages stays in place.
		if nb, err := m.a.Realloc(b, size); err == nil {
			return nb[:size:size]
		}
		if size <= room {
			return grow(whole, len(b), size) // a shrink that could not remap keeps the memory
		}
	case size <= room:
		// A large buffer shrunk to 128 KiB or less moves into a slab, and
		// its mapping goes back to the OS.
		if nb, err := m.a.AllocAligned(size, Alignment); err == nil {
			copy(nb, b)
			m.freeMoved(b)
			return nb[:size:size]
		}
		return grow(whole, len(b), size)
	}
	return m.move(size, b)
}

// move moves b into a new allocation of size bytes, from mmalloc or, out
// of memory, as the policy says: Reallocate's last resort.
func (m *Allocator) move(size int, b []byte) []byte {
	nb, err := m.a.AllocAligned(size, Alignment)
	if err != nil {
		nb = m.fallback("Reallocate", size, err)
	}
	copy(nb, b[:min(len(b), size)])
	m.freeMoved(b)
	return nb[:size:size]
}

// grow returns whole[:size:size], the bytes from n (b's len) to size
// cleared.
func grow(whole []byte, n, size int) []byte {
	if size > n {
		clear(whole[n:size])
	}
	return whole[:size:size]
}

// freeMoved frees b, which Reallocate has copied elsewhere, as Free would
// but without counting its bytes out (Reallocate counted the change).
func (m *Allocator) freeMoved(b []byte) {
	if m.heapFallback && m.dropHeap(b) {
		return
	}
	if err := m.a.Free(b); err != nil {
		m.badFree(err)
	}
}

// Free releases b, which Allocate or Reallocate returned. A b with cap 0
// is ignored. A Free that mmalloc refuses is counted and handed to the
// OnBadFree function, if any; it changes nothing.
func (m *Allocator) Free(b []byte) {
	if m == nil || cap(b) == 0 {
		return
	}
	err := m.a.Free(b)
	if err == nil || m.heapFallback && errors.Is(err, mmalloc.ErrForeignPointer) && m.dropHeap(b) {
		m.allocated.Add(-int64(len(b)))
		return
	}
	m.badFree(err)
}

// AllocatedBytes returns the bytes of the buffers live now, as asked for
// (the len of each), as Arrow's mallocator and CheckedAllocator count.
func (m *Allocator) AllocatedBytes() int64 {
	if m == nil {
		return 0
	}
	return m.allocated.Load()
}

// BadFrees returns how many Frees mmalloc refused.
func (m *Allocator) BadFrees() int64 {
	if m == nil {
		return 0
	}
	return m.badFrees.Load()
}

// Fallbacks returns how many buffers HeapFallback took from the Go heap.
func (m *Allocator) Fallbacks() int64 {
	if m == nil {
		return 0
	}
	return m.fallbacks.Load()
}

// Err returns the error of the first Free that mmalloc refused, or nil.
func (m *Allocator) Err() error {
	if m == nil {
		return nil
	}
	if p := m.firstErr.Load(); p != nil {
		return *p
	}
	return nil
}

// Check returns what is wrong so far: the first bad Free (Err), and, in
// guard mode, every corruption the mmalloc Allocator's guards have found
// (mmalloc.Allocator.CheckGuards: writes past a buffer's end or after its
// Free), joined; nil if nothing is.
func (m *Allocator) Check() error {
	if m == nil {
		return mmalloc.ErrUninitialized
	}
	var errs []error
	if n := m.BadFrees(); n > 0 {
		errs = append(errs, fmt.Errorf("arrowmem: %d bad frees, the first: %w", n, m.Err()))
	}
	if err := m.a.CheckGuards(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (m *Allocator) badFree(err error) {
	m.badFrees.Add(1)
	m.firstErr.CompareAndSwap(nil, &err)
	if m.onBadFree != nil {
		m.onBadFree(err)
	}
}

// fallback serves size bytes from the Go heap after mmalloc refused them
// for want of memory, with HeapFallback; otherwise it panics with err.
func (m *Allocator) fallback(op string, size int, err error) []byte {
	if !m.heapFallback || !errors.Is(err, mmalloc.ErrOutOfMemory) {
		m.fail(op, size, err)
	}
	buf := make([]byte, size+Alignment)
	shift := int(-uintptr(unsafe.Pointer(unsafe.SliceData(buf))) & (Alignment - 1))
	b := buf[shift : shift+size : shift+size]
	if size > 0 {
		m.heap.Store(uintptr(unsafe.Pointer(unsafe.SliceData(b))), b)
	}
	m.fallbacks.Add(1)
	return b
}

// isHeap reports whether b is a buffer fallback served from the Go heap.
func (m *Allocator) isHeap(b []byte) bool {
	_, ok := m.heap.Load(uintptr(unsafe.Pointer(unsafe.SliceData(b))))
	return ok
}

// dropHeap forgets b if it is a Go-heap buffer, and reports whether it was.
func (m *Allocator) dropHeap(b []byte) bool {
	_, ok := m.heap.LoadAndDelete(uintptr(unsafe.Pointer(unsafe.SliceData(b))))
	return ok
}

// fail panics with err, for op on size bytes.
func (m *Allocator) fail(op string, size int, err error) {
	panic(fmt.Errorf("arrowmem: %s(%d): %w", op, size, err))
}
