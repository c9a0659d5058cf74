// Memory shared with other processes, and reservations of address space:
// Options.Shared and Options.Reserve. See doc.go for the overview.

package mmalloc

import (
	"errors"
	"fmt"
	"math"
	"os"
	"sync"
	"unsafe"

	"github.com/mmalloc/mmalloc/internal/osmem"
	"github.com/mmalloc/mmalloc/internal/slabs"
)

// Bounds of Options.Reserve.
const (
	// DefaultSharedReserveBytes is the address space a Shared Allocator
	// reserves when Options.Reserve is 0: the most its memory file can
	// hold at once. Address space reserved PROT_NONE costs neither memory
	// nor commit charge, only a range of the 128 TiB a process has.
	DefaultSharedReserveBytes = 64 << 30

	// MaxReserveBytes is the largest Options.Reserve accepted: half of the
	// 47-bit user address space, as MaxAllocBytes.
	MaxReserveBytes = 1 << 46
)

// Errors of shared memory. Test for them with errors.Is.
var (
	// ErrNotShared: Offset on an Allocator made without Options.Shared.
	ErrNotShared = errors.New("mmalloc: allocator is not shared")
	// ErrNotSharedFile: OpenShared of a file that is not the memory file
	// of a Shared Allocator (any memory file sealed against shrinking is
	// accepted), or of a closed or nil one.
	ErrNotSharedFile = errors.New("mmalloc: not a shared memory file")
	// ErrOutOfRange: SharedView.Bytes of a range that does not lie within
	// the memory file (a negative offset or length included).
	ErrOutOfRange = errors.New("mmalloc: range outside the shared memory file")
)

// setReservation makes the reservation of Options.Shared or Reserve and
// has a's Source carve from it. It is the last step of New.
func (a *Allocator) setReservation(opts Options) error {
	n := opts.Reserve
	switch {
	case n < 0 || n > MaxReserveBytes:
		return fmt.Errorf("%w: Reserve %d is outside 0..%d", ErrInvalidOption, n, int64(MaxReserveBytes))
	case n > 0 && n < int64(opts.ChunkSize):
		return fmt.Errorf("%w: Reserve %d is less than one chunk (%d)", ErrInvalidOption, n, opts.ChunkSize)
	case n == 0 && !opts.Shared:
		return nil
	case n == 0:
		n = DefaultSharedReserveBytes
	}
	// Aligned to a chunk: a reservation of k chunks holds k of them.
	var err error
	if opts.Shared {
		a.space, err = osmem.NewSharedReservation(uintptr(n), uintptr(opts.ChunkSize))
	} else {
		a.space, err = osmem.NewReservation(uintptr(n), uintptr(opts.ChunkSize))
	}
	if err != nil {
		return err
	}
	a.src.SetReservation(a.space)
	return nil
}

// closeReservation unmaps the reservation and closes the memory file, once
// everything carved from it is unmapped. Close calls it.
func (a *Allocator) closeReservation() {
	if a.space != nil {
		_ = a.space.Close()
	}
}

// validateReservation checks the reservation's free list and that what is
// taken from it is what is mapped from it:
//
//	Bytes − FreeBytes == Mapped + retired guard mappings (Shared)
//	Bytes − FreeBytes <= Mapped + retired guard mappings (private: the
//	                     mappings made past a full reservation lie outside)
func (a *Allocator) validateReservation() error {
	r := a.space
	if r == nil {
		return nil
	}
	if err := r.Validate(); err != nil {
		return err
	}
	if a.closed.Load() {
		return nil
	}
	var retired int64
	if g := a.guard; g != nil {
		g.mu.Lock()
		retired = int64(g.rBytes)
		g.mu.Unlock()
	}
	taken := int64(r.Bytes() - r.FreeBytes())
	want := a.src.Mapped() + retired
	if taken > want || (a.isShared() && taken != want) {
		return fmt.Errorf("mmalloc: %d bytes taken from the reservation, %d mapped (%d of them retired)", taken, want, retired)
	}
	return nil
}

// isShared reports whether a was made with Options.Shared.
func (a *Allocator) isShared() bool { return a.space != nil && a.space.File() != nil }

// File returns the memory file of an Allocator made with Options.Shared:
// every chunk and every large mapping of a lies in it, at the offset
// Offset returns. Pass it to another process (in exec.Cmd.ExtraFiles, or
// over a Unix socket) to be mapped with OpenShared there.
//
// The Allocator owns the file: File returns the same *os.File on every
// call, and Close closes it. A caller that closes it only loses it for
// passing on; the Allocator keeps its own descriptor. File returns nil for
// an Allocator made without Options.Shared, for the zero Allocator, and
// after Close.
func (a *Allocator) File() *os.File {
	if a == nil || !a.isShared() || a.closed.Load() {
		return nil
	}
	return a.space.File()
}

// Offset returns the offset in File of the first byte of b, which must be
// a live allocation of a, as it would be passed to Free: another process
// reads and writes b through SharedView.Bytes(offset, len(b)). It changes
// nothing.
//
// A b that a did not hand out (an empty slice included) returns
// ErrForeignPointer; one that starts inside an allocation, or at one that
// was freed, returns ErrInvalidPointer. An Allocator made without
// Options.Shared (or the zero Allocator) returns ErrNotShared, and any call
// after Close ErrClosed.
func (a *Allocator) Offset(b []byte) (int64, error) {
	if !a.made() {
		return 0, errNoAllocator
	}
	if a.closed.Load() {
		return 0, ErrClosed
	}
	if !a.isShared() {
		return 0, ErrNotShared
	}
	if cap(b) == 0 {
		return 0, fmt.Errorf("%w: an empty slice has no offset", ErrForeignPointer)
	}
	addr := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	off, in := a.space.Offset(addr)
	if !in {
		return 0, fmt.Errorf("%w: %#x", ErrForeignPointer, addr)
	}
	if err := a.checkLive(addr); err != nil {
		if errors.Is(err, ErrDoubleFree) {
			return 0, fmt.Errorf("%w: not a live allocation: %w", ErrInvalidPointer, err)
		}
		return 0, err
	}
	return off, nil
}

// checkLive returns nil if addr is the first byte of a live allocation of
// a, else the error Free would return. It changes nothing.
func (a *Allocator) checkLive(addr uintptr) error {
	if g := a.guard; g != nil {
		g.mu.Lock()
		defer g.mu.Unlock()
		if _, ok := g.live[addr]; ok {
			return nil
		}
		return g.classify(a, addr)
	}
	if ch := a.chunkOf(addr); ch != nil {
		_, err := slabs.Usable(ch, addr)
		return err
	}
	_, err := a.large.Usable(addr)
	return err
}

// viewMinBytes is the address space a SharedView maps at first: the file
// may grow that far before Bytes maps it again. Mapping past the file's end
// costs nothing until touched, and Bytes never hands out bytes past it.
const viewMinBytes = 1 << 30

// SharedView is the memory file of a Shared Allocator mapped in another
// process (or in the same one), MAP_SHARED: a write on either side is seen
// by the other. Bytes gives the bytes at an offset that Allocator.Offset
// returned on the other side.
//
// The memory file only grows and cannot be truncated (it is sealed against
// shrinking), so a SharedView never faults on a slice Bytes returned, until
// Close. A range the Allocator has freed reads as zero once its pages are
// given back (a large allocation past the retention budget, or on Trim), or
// else as what it held or what it was reused for. Writing into a freed
// range corrupts nothing the Allocator relies on: its structures live
// outside the memory it hands out. Nor does such a write reach a later
// Alloc, whatever kind of kept memory it lands in (a kept empty chunk or
// slab, free pages, objects never handed out, a kept large mapping): a
// Shared Allocator takes no free memory to read as zero, so Alloc clears
// every small object it hands out, clears a kept large mapping as it
// reuses it, and punches a range out of the file as it maps it anew.
// (AllocUninit's bytes are unspecified, and may hold such a write.)
// Reading or writing a released range brings pages into the file again,
// until the Allocator releases it once more.
//
// A SharedView is safe for concurrent use. The zero SharedView, and a nil
// one, map nothing: Bytes and Close return ErrUninitialized.
type SharedView struct {
	_ noCopy

	mu      sync.Mutex
	made    bool     // set by OpenShared: a zero view has no file
	open    bool     // set by OpenShared, cleared by Close
	fd      int      // a duplicate of the file's descriptor, while open
	size    int64    // the file's size when last seen; it never shrinks
	windows []window // mappings of the file from offset 0, the last the longest
}

// window is one mapping of a memory file from its offset 0.
type window struct {
	base  unsafe.Pointer
	bytes uintptr
}

// OpenShared maps f, the File of a Shared Allocator (in a child process,
// os.NewFile(3, "...") for the first of exec.Cmd.ExtraFiles). It keeps its
// own duplicate of the descriptor: f may be closed once OpenShared returns.
//
// A nil or closed f, or a file that is not a memory file sealed against
// shrinking (a file another process could truncate would fault under the
// mapping), or one that cannot be mapped for writing (sealed against
// writing, or open read-only), returns ErrNotSharedFile, saying which. A
// mapping refused for want of memory returns ErrOutOfMemory. A descriptor
// the process cannot duplicate returns the error of fcntl, wrapping its
// errno (EMFILE at the process's limit of open files).
func OpenShared(f *os.File) (*SharedView, error) {
	if f == nil || !madeByOS(f) {
		return nil, fmt.Errorf("%w: nil file, or one not made by the os package", ErrNotSharedFile)
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotSharedFile, err)
	}
	fd := -1
	var dupErr error
	if err := rc.Control(func(raw uintptr) { fd, dupErr = osmem.DupFile(int(raw)) }); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotSharedFile, err)
	}
	if dupErr != nil {
		return nil, fmt.Errorf("mmalloc: OpenShared: duplicating the file's descriptor: %w", os.NewSyscallError("fcntl", dupErr))
	}
	v, err := openView(fd)
	if err != nil {
		_ = osmem.CloseFile(fd)
		return nil, err
	}
	return v, nil
}

func openView(fd int) (*SharedView, error) {
	if err := osmem.CheckMemoryFile(fd); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotSharedFile, err)
	}
	size, err := osmem.FileSize(fd)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotSharedFile, err)
	}
	n := max(pageRound(size), viewMinBytes)
	p, err := osmem.MapFile(fd, n)
	if err != nil && !errors.Is(err, ErrOutOfMemory) {
		return nil, fmt.Errorf("%w: %w", ErrNotSharedFile, err)
	}
	if err != nil {
		return nil, err
	}
	return &SharedView{made: true, open: true, fd: fd, size: size, windows: []window{{p, n}}}, nil
}

// pageRound returns n rounded up to whole pages.
func pageRound(n int64) uintptr {
	return (uintptr(n) + osmem.PageBytes - 1) &^ (osmem.PageBytes - 1)
}

// Bytes returns the n bytes at offset off of the memory file, as a slice
// with len and cap n that reads and writes the file itself. The range must
// lie within the file's size now (which may have grown since OpenShared),
// else Bytes returns ErrOutOfRange; it never faults. A file grown past what
// is mapped is mapped again, larger; earlier slices stay valid. Bytes(off,
// 0) within the file returns an empty slice.
//
// The slice MUST NOT be used after Close. A call after Close returns
// ErrClosed, on the zero (or a nil) SharedView ErrUninitialized.
func (v *SharedView) Bytes(off int64, n int) ([]byte, error) {
	if v == nil {
		return nil, ErrUninitialized
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.made {
		return nil, ErrUninitialized
	}
	if !v.open {
		return nil, ErrClosed
	}
	if off < 0 || n < 0 || off > math.MaxInt64-int64(n) {
		return nil, fmt.Errorf("%w: %d bytes at %d", ErrOutOfRange, n, off)
	}
	end := off + int64(n)
	if end > v.size {
		size, err := osmem.FileSize(v.fd)
		if err != nil {
			return nil, fmt.Errorf("%w: %d bytes at %d: %w", ErrOutOfRange, n, off, err)
		}
		v.size = max(v.size, size)
		if end > v.size {
			return nil, fmt.Errorf("%w: %d bytes at %d, the file holds %d", ErrOutOfRange, n, off, v.size)
		}
	}
	if n == 0 {
		return []byte{}, nil
	}
	w := v.windows[len(v.windows)-1]
	if uintptr(end) > w.bytes {
		size := max(pageRound(v.size), 2*w.bytes)
		p, err := osmem.MapFile(v.fd, size)
		if err != nil {
			return nil, err
		}
		w = window{p, size}
		v.windows = append(v.windows, w)
	}
	return unsafe.Slice((*byte)(unsafe.Add(w.base, off)), n), nil
}

// Close unmaps every window of the view and closes its descriptor: every
// slice Bytes returned becomes invalid, and touching one faults. The
// Allocator on the other side is not affected. A second Close returns
// ErrClosed, a Close of the zero (or a nil) SharedView ErrUninitialized.
func (v *SharedView) Close() error {
	if v == nil {
		return ErrUninitialized
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.made {
		return ErrUninitialized
	}
	if !v.open {
		return ErrClosed
	}
	v.open = false
	var errs []error
	for _, w := range v.windows {
		if err := osmem.UnmapFile(w.base, w.bytes); err != nil {
			errs = append(errs, err)
		}
	}
	v.windows = nil
	if err := osmem.CloseFile(v.fd); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// madeByOS reports whether f was made by the os package. A zero os.File
// (new(os.File)) holds no file, and its methods dereference nil; Name has
// no side effect, so a panic from it tells such a value apart.
func madeByOS(f *os.File) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	_ = f.Name()
	return true
}
