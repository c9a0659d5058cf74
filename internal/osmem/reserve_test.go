package osmem

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/mmalloc/mmalloc/internal/testutil"
)

// TestReservationTakeGive drives take and give at random against a model
// of the reservation's pages: every range taken lies inside, aligned, and
// overlaps no other; the free list stays valid; once everything is given
// back, it is one range again.
func TestReservationTakeGive(t *testing.T) {
	const pages = 1024
	r, err := NewReservation(pages*PageBytes, PageBytes)
	require.NoError(t, err)
	defer func() { require.NoError(t, r.Close()) }()
	used := make([]bool, pages)
	type rng struct{ addr, n uintptr }
	var live []rng
	rnd := rand.New(rand.NewPCG(1, 2))
	for step := range 5000 {
		if len(live) > 0 && rnd.IntN(2) == 0 {
			i := rnd.IntN(len(live))
			x := live[i]
			live[i] = live[len(live)-1]
			live = live[:len(live)-1]
			r.give(x.addr, x.n)
			for p := (x.addr - r.base) / PageBytes; p < (x.addr-r.base+x.n)/PageBytes; p++ {
				used[p] = false
			}
		} else {
			n := uintptr(1+rnd.IntN(16)) * PageBytes
			align := PageBytes << rnd.IntN(4)
			addr, ok := r.take(n, align)
			if ok {
				require.Zero(t, addr%align, "step %d: aligned", step)
				require.GreaterOrEqual(t, addr, r.base)
				require.LessOrEqual(t, addr+n, r.base+r.bytes)
				for p := (addr - r.base) / PageBytes; p < (addr-r.base+n)/PageBytes; p++ {
					require.False(t, used[p], "step %d: page %d handed out twice", step, p)
					used[p] = true
				}
				live = append(live, rng{addr, n})
			}
		}
		require.NoError(t, r.Validate(), "step %d", step)
		free := uintptr(0)
		for _, u := range used {
			if !u {
				free += PageBytes
			}
		}
		require.Equal(t, free, r.FreeBytes(), "step %d", step)
	}
	for _, x := range live {
		r.give(x.addr, x.n)
	}
	assert.Equal(t, []span{{r.base, r.bytes}}, r.free, "every range merged back into one")
}

// TestReservationAligned: a reservation starts at a multiple of the
// alignment asked for and is exactly as long as asked, so that one of
// align bytes holds one range aligned to align; a bad alignment is
// refused.
func TestReservationAligned(t *testing.T) {
	for _, align := range []uintptr{PageBytes, 1 << 20, 4 << 20, 1 << 30} {
		for _, shared := range []bool{false, true} {
			newRes := NewReservation
			if shared {
				newRes = NewSharedReservation
			}
			r, err := newRes(align, align)
			require.NoError(t, err)
			assert.Zero(t, r.Base()%align, "align %d, shared %v", align, shared)
			assert.Equal(t, align, r.Bytes())
			addr, ok := r.take(align, align)
			assert.True(t, ok, "align %d, shared %v: the whole reservation is one aligned range", align, shared)
			assert.Equal(t, r.Base(), addr)
			require.NoError(t, r.Close())
		}
	}
	for _, align := range []uintptr{0, PageBytes / 2, 3 * PageBytes} {
		r, err := NewReservation(PageBytes, align)
		assert.Error(t, err, "align %d", align)
		assert.Nil(t, r)
	}
}

// TestSourceCarvesFromReservation maps through a Source with a private
// reservation: mappings land inside it, aligned as asked; Mapped counts
// what is committed; Unmap gives the range back and it faults no more
// than a fresh reservation does (PROT_NONE again).
func TestSourceCarvesFromReservation(t *testing.T) {
	r, err := NewReservation(64<<20, PageBytes)
	require.NoError(t, err)
	defer func() { require.NoError(t, r.Close()) }()
	s := NewSource(0)
	s.SetReservation(r)

	const align = 4 << 20
	p, err := s.MapAligned(align, align, 0)
	require.NoError(t, err)
	q, err := s.Map(3 * PageBytes)
	require.NoError(t, err)
	for _, x := range []struct {
		p unsafe.Pointer
		n uintptr
	}{{p, align}, {q, 3 * PageBytes}} {
		off, in := r.Offset(uintptr(x.p))
		require.True(t, in)
		require.LessOrEqual(t, uintptr(off)+x.n, r.Bytes())
		b := unsafe.Slice((*byte)(x.p), x.n)
		b[0], b[len(b)-1] = 1, 2 // committed: writable
	}
	assert.Zero(t, uintptr(p)%align)
	assert.Equal(t, int64(align+3*PageBytes), s.Mapped())
	assert.Equal(t, r.Bytes()-align-3*PageBytes, r.FreeBytes())
	assert.Equal(t, uint64(2), s.Mmaps())

	s.Unmap(p, align)
	s.Unmap(q, 3*PageBytes)
	assert.Zero(t, s.Mapped())
	assert.Equal(t, r.Bytes(), r.FreeBytes())
	assert.Equal(t, uint64(2), s.Munmaps())
	assert.Equal(t, "---p", protOf(t, uintptr(p)), "a decommitted range is PROT_NONE again")
	assert.False(t, s.Remappable())
	_, err = s.Remap(p, PageBytes, 2*PageBytes)
	require.ErrorIs(t, err, ErrNoRemap)
}

// TestReservationLimitAndInjection: a refusal (the limit, an injected
// ENOMEM) gives the range taken back, and changes no figure.
func TestReservationLimitAndInjection(t *testing.T) {
	r, err := NewReservation(16*PageBytes, PageBytes)
	require.NoError(t, err)
	defer func() { require.NoError(t, r.Close()) }()
	s := NewSource(int64(4 * PageBytes))
	s.SetReservation(r)
	_, err = s.Map(5 * PageBytes)
	require.ErrorIs(t, err, ErrLimit)
	s.FailAfter(1)
	_, err = s.Map(PageBytes)
	require.ErrorIs(t, err, unix.ENOMEM)
	s.FailAfter(0)
	assert.Equal(t, r.Bytes(), r.FreeBytes(), "refused mappings give their range back")
	assert.Zero(t, s.Mapped())
	assert.Zero(t, s.Mmaps())
	p, err := s.Map(4 * PageBytes)
	require.NoError(t, err)
	s.Unmap(p, 4*PageBytes)
}

// TestPrivateReservationFallsBack: a full private reservation lets the
// Source map afresh, outside it, and unmap that mapping as usual.
func TestPrivateReservationFallsBack(t *testing.T) {
	r, err := NewReservation(4*PageBytes, PageBytes)
	require.NoError(t, err)
	defer func() { require.NoError(t, r.Close()) }()
	s := NewSource(0)
	s.SetReservation(r)
	p, err := s.Map(4 * PageBytes)
	require.NoError(t, err)
	q, err := s.Map(2 * PageBytes)
	require.NoError(t, err, "past the reservation: a fresh mapping")
	_, in := r.Offset(uintptr(q))
	assert.False(t, in)
	*(*byte)(q) = 1
	assert.Equal(t, int64(6*PageBytes), s.Mapped())
	s.Unmap(q, 2*PageBytes)
	s.Unmap(p, 4*PageBytes)
	assert.Zero(t, s.Mapped())
	assert.Equal(t, r.Bytes(), r.FreeBytes())
}

// TestSharedReservation: a shared reservation is backed by its memory
// file at the range's offset, refuses to map past its end, and punches
// released and unmapped ranges out of the file.
func TestSharedReservation(t *testing.T) {
	r, err := NewSharedReservation(8*PageBytes, PageBytes)
	require.NoError(t, err)
	defer func() { require.NoError(t, r.Close()) }()
	fd := int(r.File().Fd())
	require.NoError(t, CheckMemoryFile(fd))
	s := NewSource(0)
	s.SetReservation(r)

	p, err := s.Map(4 * PageBytes)
	require.NoError(t, err)
	b := unsafe.Slice((*byte)(p), 4*PageBytes)
	for i := range b {
		b[i] = byte(i % 251)
	}
	off, in := r.Offset(uintptr(p))
	require.True(t, in)
	got := make([]byte, 4*PageBytes)
	_, err = unix.Pread(fd, got, off)
	require.NoError(t, err)
	assert.Equal(t, b, got, "the file holds the bytes at the range's offset")
	blocks, err := FileBlocks(fd)
	require.NoError(t, err)
	assert.Equal(t, int64(4*PageBytes), blocks)

	_, err = s.Map(5 * PageBytes)
	require.ErrorIs(t, err, ErrReservationFull)
	require.ErrorIs(t, err, ErrNoMemory)

	s.Release(AddrPointer(uintptr(p)+PageBytes), 2*PageBytes)
	blocks, err = FileBlocks(fd)
	require.NoError(t, err)
	assert.Equal(t, int64(2*PageBytes), blocks, "released pages leave the file")
	assert.Zero(t, b[PageBytes], "and read as zero")
	assert.Equal(t, byte(1), b[1])

	s.Unmap(p, 4*PageBytes)
	blocks, err = FileBlocks(fd)
	require.NoError(t, err)
	assert.Zero(t, blocks, "unmapped pages leave the file")
	size, err := FileSize(fd)
	require.NoError(t, err)
	assert.Equal(t, int64(off)+int64(4*PageBytes), size, "the file never shrinks")
	require.Error(t, unix.Ftruncate(fd, 0), "nobody can shrink it")
}

// TestCheckMemoryFile refuses a file that can shrink, one sealed against
// writing and a descriptor open read-only, saying which; it accepts a
// memory file sealed against shrinking, open for reading and writing.
func TestCheckMemoryFile(t *testing.T) {
	fd, err := unix.MemfdCreate("plain", unix.MFD_CLOEXEC)
	require.NoError(t, err)
	defer unix.Close(fd)
	require.ErrorIs(t, CheckMemoryFile(fd), ErrNotMemoryFile)
	require.ErrorIs(t, CheckMemoryFile(-1), ErrNotMemoryFile)

	memfd := func(seals int) int {
		fd, err := unix.MemfdCreate("sealed", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
		require.NoError(t, err)
		t.Cleanup(func() { _ = unix.Close(fd) })
		_, err = unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, seals)
		require.NoError(t, err)
		return fd
	}
	good := memfd(unix.F_SEAL_SHRINK)
	require.NoError(t, CheckMemoryFile(good))
	ro, err := unix.Open(fmt.Sprintf("/proc/self/fd/%d", good), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	require.NoError(t, err)
	defer unix.Close(ro)
	for name, c := range map[string]struct {
		fd   int
		says string
	}{
		"can shrink":         {fd, "lack F_SEAL_SHRINK"},
		"not a file":         {-1, "reading its seals"},
		"sealed for writing": {memfd(unix.F_SEAL_SHRINK | unix.F_SEAL_WRITE), "forbid writing"},
		"open read-only":     {ro, "not open for reading and writing"},
	} {
		err := CheckMemoryFile(c.fd)
		assert.ErrorIs(t, err, ErrNotMemoryFile, name)
		assert.ErrorContains(t, err, c.says, name)
	}
}

// protOf returns the protection of the mapping holding addr, as
// /proc/self/maps prints it.
func protOf(t *testing.T, addr uintptr) string {
	t.Helper()
	for _, m := range testutil.Maps(t) {
		if m.Lo <= addr && addr < m.Hi {
			return m.Perms
		}
	}
	t.Fatalf("no mapping holds %#x", addr)
	return ""
}
