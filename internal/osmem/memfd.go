// Anonymous memory files: the backing of shared reservations, and the
// mapping of such a file in another process. See osmem.go for the overview.

package osmem

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ErrNotMemoryFile is returned by CheckMemoryFile for a file that is not an
// anonymous memory file sealed against shrinking, open for reading and
// writing, and writable.
var ErrNotMemoryFile = errors.New("not a writable memory file sealed against shrinking")

// memfdName is the name the memory files carry in /proc/PID/maps and
// /proc/PID/fd ("/memfd:mmalloc (deleted)").
const memfdName = "mmalloc"

// fileBacking commits the pages of one anonymous memory file, mapped
// MAP_SHARED at the offset of the range in its reservation.
//
// The file is sealed against shrinking (F_SEAL_SHRINK) and against further
// seals (F_SEAL_SEAL) as soon as it is made. Its size only grows, so a page
// of it that one process has mapped within the size can never turn into a
// SIGBUS under it, whatever another process holding the file does: no
// process can crash another by truncating it. Pages given back are punched
// out (fallocate FALLOC_FL_PUNCH_HOLE): they read as zero in every process
// and the file holds no memory for them.
//
// fd is read-only; mu protects size. The *os.File handed out is a
// duplicate of fd, so that a caller closing it cannot close fd.
type fileBacking struct {
	fd  int
	out *os.File

	mu   sync.Mutex
	size int64 // the file's size as last set or seen; it never shrinks
}

// newFileBacking makes a new empty memory file, sealed as above.
func newFileBacking() (*fileBacking, error) {
	fd, err := unix.MemfdCreate(memfdName, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING|unix.MFD_NOEXEC_SEAL)
	if errors.Is(err, unix.EINVAL) {
		// Kernels before 6.3 know no MFD_NOEXEC_SEAL.
		fd, err = unix.MemfdCreate(memfdName, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: memfd_create: %w", ErrNoMemory, err)
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, unix.F_SEAL_SHRINK|unix.F_SEAL_SEAL); err != nil {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("%w: sealing the memory file: %w", ErrNoMemory, err)
	}
	dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("%w: duplicating the memory file: %w", ErrNoMemory, err)
	}
	return &fileBacking{fd: fd, out: os.NewFile(uintptr(dup), "memfd:"+memfdName)}, nil
}

// commit grows the file to cover the range, if it must, and maps the
// range's pages of the file over it (MAP_FIXED replaces the reservation).
// It punches the range first: another process may have written into it
// while it was free, and a committed range must read as zero.
func (f *fileBacking) commit(addr, off, n uintptr) error {
	if err := f.grow(int64(off + n)); err != nil {
		return err
	}
	f.punch(off, n)
	_, err := unix.MmapPtr(f.fd, int64(off), AddrPointer(addr), n, unix.PROT_READ|unix.PROT_WRITE,
		unix.MAP_SHARED|unix.MAP_FIXED)
	if err != nil {
		return fmt.Errorf("%w: mapping %d bytes of the memory file at %d: %w", ErrNoMemory, n, off, err)
	}
	return nil
}

// grow makes the file at least end bytes long. Another process holding
// the file may have made it longer: the seal then refuses a truncation to
// less (EPERM), and a fresh look at the size settles it.
func (f *fileBacking) grow(end int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if end <= f.size {
		return nil
	}
	err := unix.Ftruncate(f.fd, end)
	if err == nil {
		f.size = end
		return nil
	}
	if size, serr := FileSize(f.fd); serr == nil && size >= end {
		f.size = size
		return nil
	}
	return fmt.Errorf("%w: growing the memory file to %d bytes: %w", ErrNoMemory, end, err)
}

// decommit reserves the range again and punches its pages out of the file.
func (f *fileBacking) decommit(addr, off, n uintptr) {
	reserveAgain(addr, n)
	f.punch(off, n)
}

// release punches the range's pages out of the file. The mapping stays:
// its pages read as zero, in this process and in every other.
func (f *fileBacking) release(_, off, n uintptr) { f.punch(off, n) }

// punch frees the file's pages in [off, off+n), keeping its size. It
// cannot fail on a range of our own file (the seals allow it, and the
// file is ours); should it, the pages stay in the file, which costs memory
// but no correctness: the range still reads as what was last written, and
// is only handed out again through a path that clears it or knows it dirty.
func (f *fileBacking) punch(off, n uintptr) {
	_ = unix.Fallocate(f.fd, unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, int64(off), int64(n))
}

func (f *fileBacking) file() *os.File { return f.out }

// close closes both descriptors. The file itself lives on while another
// process holds it or maps it.
func (f *fileBacking) close() error {
	_ = f.out.Close() // the caller may have closed it already
	return unix.Close(f.fd)
}

// FileSize returns the size of the file fd.
func FileSize(fd int) (int64, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return 0, err
	}
	return st.Size, nil
}

// FileBlocks returns the bytes of memory the file fd holds (st_blocks).
func FileBlocks(fd int) (int64, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return 0, err
	}
	return st.Blocks * 512, nil
}

// CheckMemoryFile returns nil if fd is a file sealed against shrinking and
// not against writing, open for reading and writing, as the memory files
// of shared reservations are; else an error wrapping ErrNotMemoryFile
// that says which it is not. Only a file sealed against shrinking can be
// mapped without the risk of a SIGBUS when another process truncates it,
// and only a writable one can be mapped for writing.
func CheckMemoryFile(fd int) error {
	seals, err := unix.FcntlInt(uintptr(fd), unix.F_GET_SEALS, 0)
	if err != nil {
		return fmt.Errorf("%w: reading its seals: %w", ErrNotMemoryFile, err)
	}
	if seals&unix.F_SEAL_SHRINK == 0 {
		return fmt.Errorf("%w: seals %#x lack F_SEAL_SHRINK", ErrNotMemoryFile, seals)
	}
	if seals&(unix.F_SEAL_WRITE|unix.F_SEAL_FUTURE_WRITE) != 0 {
		return fmt.Errorf("%w: seals %#x forbid writing (F_SEAL_WRITE or F_SEAL_FUTURE_WRITE)", ErrNotMemoryFile, seals)
	}
	flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil {
		return fmt.Errorf("%w: reading its flags: %w", ErrNotMemoryFile, err)
	}
	if flags&unix.O_ACCMODE != unix.O_RDWR {
		return fmt.Errorf("%w: the descriptor is not open for reading and writing (flags %#o)", ErrNotMemoryFile, flags)
	}
	return nil
}

// DupFile returns a duplicate of fd, closed on exec.
func DupFile(fd int) (int, error) {
	return unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
}

// CloseFile closes fd.
func CloseFile(fd int) error { return unix.Close(fd) }

// MapFile maps n bytes of the file fd from offset 0, MAP_SHARED, readable
// and writable. n may pass the file's end: the pages past it fault when
// touched, so the caller bounds every access by the file's size. A
// refusal for want of memory or address space (ENOMEM) wraps ErrNoMemory;
// any other (EACCES, EPERM: the file cannot be mapped so) wraps only the
// errno.
func MapFile(fd int, n uintptr) (unsafe.Pointer, error) {
	p, err := unix.MmapPtr(fd, 0, nil, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if errors.Is(err, unix.ENOMEM) {
		return nil, fmt.Errorf("%w: mapping %d bytes of a memory file: %w", ErrNoMemory, n, err)
	}
	if err != nil {
		return nil, fmt.Errorf("mapping %d bytes of a memory file: %w", n, err)
	}
	return p, nil
}

// UnmapFile unmaps what MapFile mapped.
func UnmapFile(p unsafe.Pointer, n uintptr) error { return unix.MunmapPtr(p, n) }
