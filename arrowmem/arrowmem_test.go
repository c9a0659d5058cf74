package arrowmem_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mmalloc/mmalloc"
	"github.com/mmalloc/mmalloc/arrowmem"
)

// arrowAllocator is arrow-go v18's memory.Allocator, spelled out: the
// package must satisfy it without importing Arrow. The integration
// module checks it against Arrow's own type.
type arrowAllocator interface {
	Allocate(size int) []byte
	Reallocate(size int, b []byte) []byte
	Free(b []byte)
}

var _ arrowAllocator = (*arrowmem.Allocator)(nil)

const (
	kib = 1 << 10
	mib = 1 << 20
)

func newMmalloc(t *testing.T, o mmalloc.Options) *mmalloc.Allocator {
	t.Helper()
	a, err := mmalloc.New(o)
	require.NoError(t, err)
	t.Cleanup(func() { _ = a.Close() })
	return a
}

func addr(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func pattern(b []byte, seed byte) {
	for i := range b {
		b[i] = seed + byte(i*7)
	}
}

func hasPattern(b []byte, seed byte) bool {
	for i := range b {
		if b[i] != seed+byte(i*7) {
			return false
		}
	}
	return true
}

var modes = []mmalloc.Options{{}, {Guard: true}, {Shared: true}, {RetainBytes: mmalloc.NoRetain}, {LargeThreshold: 4096}}

func modeName(o mmalloc.Options) string {
	return fmt.Sprintf("guard=%v,shared=%v,threshold=%d", o.Guard, o.Shared, o.LargeThreshold)
}

// TestAllocateAndResize: in every mode, buffers are zeroed and 64-byte
// aligned, resizes keep the bytes kept and clear the bytes added, stay
// 64-byte aligned, and every buffer goes back to mmalloc: Live is 0 and
// AllocatedBytes 0 at the end.
func TestAllocateAndResize(t *testing.T) {
	sizes := []int{0, 1, 4, 33, 64, 65, 80, 81, 4095, 4096, 8193, 100 * kib, 128 * kib, 128*kib + 1, 3*mib + 5}
	for _, o := range modes {
		t.Run(modeName(o), func(t *testing.T) {
			a := newMmalloc(t, o)
			m := arrowmem.New(a)
			for i, from := range sizes {
				for j, to := range sizes {
					b := m.Allocate(from)
					require.Len(t, b, from)
					require.Equal(t, from, cap(b), "cap == len")
					require.True(t, allZero(b), "Allocate(%d) is zeroed", from)
					if from > 0 {
						require.Zero(t, addr(b)%arrowmem.Alignment, "Allocate(%d) is aligned", from)
					}
					seed := byte(i*31 + j)
					pattern(b, seed)
					r := m.Reallocate(to, b)
					require.Len(t, r, to)
					require.Equal(t, to, cap(r), "cap == len")
					if to > 0 {
						require.Zero(t, addr(r)%arrowmem.Alignment, "Reallocate(%d -> %d) is aligned", from, to)
					}
					keep := min(from, to)
					require.True(t, hasPattern(r[:keep], seed), "Reallocate(%d -> %d) keeps the bytes", from, to)
					require.True(t, allZero(r[keep:]), "Reallocate(%d -> %d) clears the bytes it adds", from, to)
					m.Free(r)
				}
			}
			assert.Zero(t, m.BadFrees())
			assert.Zero(t, m.AllocatedBytes())
			require.NoError(t, m.Check())
			assert.Zero(t, a.Stats().Live, "every buffer went back to mmalloc")
		})
	}
}

// TestReallocateInPlace: growth within the allocation's room keeps the
// address and clears what it adds, even where the caller had written
// past len before.
func TestReallocateInPlace(t *testing.T) {
	m := arrowmem.New(newMmalloc(t, mmalloc.Options{}))
	b := m.Allocate(80)
	assert.Equal(t, 80, cap(b), "cap == len, as Arrow's allocators give")
	whole, err := m.Mmalloc().Bytes(mmalloc.RefOf(b))
	require.NoError(t, err)
	require.Len(t, whole, 128, "80 bytes rounded up to 64 take the 128-byte class")
	pattern(whole, 1)
	r := m.Reallocate(100, b)
	assert.Equal(t, addr(b), addr(r), "grown in place")
	assert.True(t, hasPattern(r[:80], 1))
	assert.True(t, allZero(r[80:100]), "the added bytes read as zero")
	assert.Equal(t, 100, cap(r), "cap == len")
	m.Free(r)
	assert.Zero(t, m.AllocatedBytes())
}

// TestReallocateLargeRemaps: growing a large buffer maps nothing new
// (mremap), and shrinking it gives its pages back to the OS, at the same
// address; a shrink below 128 KiB moves it into a slab and unmaps it.
func TestReallocateLargeRemaps(t *testing.T) {
	a := newMmalloc(t, mmalloc.Options{RetainBytes: mmalloc.NoRetain})
	m := arrowmem.New(a)
	b := m.Allocate(mib)
	pattern(b, 9)
	mm := a.Stats().Mmaps
	b = m.Reallocate(64*mib, b)
	assert.Equal(t, mm, a.Stats().Mmaps, "growth by mremap, no new mapping")
	assert.True(t, hasPattern(b[:mib], 9))
	assert.True(t, allZero(b[mib:]))
	clear(b)
	for i := 0; i < len(b); i += 4096 {
		b[i] = 1 // resident
	}
	before := a.Resident()
	require.GreaterOrEqual(t, before, int64(64*mib))
	at := addr(b)
	b = m.Reallocate(mib, b)
	assert.Equal(t, at, addr(b), "a shrink stays in place")
	assert.LessOrEqual(t, a.Resident(), before-63*mib, "the shrink gave 63 MiB back")
	assert.Equal(t, int64(mib), a.Stats().Mapped)

	b = m.Reallocate(1000, b)
	assert.Len(t, b, 1000)
	assert.Zero(t, a.Stats().Large.Live, "the mapping is gone")
	m.Free(b)
	assert.Zero(t, a.Stats().Live)
}

// TestOutOfMemory: by default an allocation past mmalloc's Limit panics
// with ErrOutOfMemory; with HeapFallback it comes from the Go heap,
// aligned and zeroed, and Free and Reallocate recognise it.
func TestOutOfMemory(t *testing.T) {
	a := newMmalloc(t, mmalloc.Options{Limit: 8 * mib})
	m := arrowmem.New(a)
	assertPanicsWith(t, mmalloc.ErrOutOfMemory, func() { m.Allocate(64 * mib) })
	small := m.Allocate(100)
	assertPanicsWith(t, mmalloc.ErrOutOfMemory, func() { m.Reallocate(64*mib, small) })
	m.Free(small)
	assert.Zero(t, m.AllocatedBytes())

	h := arrowmem.New(a, arrowmem.HeapFallback())
	b := h.Allocate(64 * mib)
	require.Len(t, b, 64*mib)
	assert.Zero(t, addr(b)%arrowmem.Alignment)
	assert.True(t, allZero(b))
	assert.Equal(t, int64(1), h.Fallbacks())
	pattern(b[:4096], 3)
	b = h.Reallocate(65*mib, b)
	assert.True(t, hasPattern(b[:4096], 3))
	assert.Equal(t, int64(2), h.Fallbacks())
	b = h.Reallocate(1000, b)
	assert.True(t, hasPattern(b[:1000], 3))
	h.Free(b)
	assert.Zero(t, h.BadFrees(), "Go-heap buffers are recognised")
	assert.Zero(t, h.AllocatedBytes())
	assert.Zero(t, a.Stats().Live)
}

// TestBadFree: by default a refused Free is counted, its error kept, and
// nothing panics or changes; OnBadFree sees each error. A negative size
// panics with ErrInvalidSize whatever the options, and so does any
// allocation on a zero Allocator or after Close.
func TestBadFree(t *testing.T) {
	a := newMmalloc(t, mmalloc.Options{})
	m := arrowmem.New(a)
	b := m.Allocate(100)
	m.Free(b)
	live := a.Stats().Live
	assert.NotPanics(t, func() { m.Free(b) })
	m.Free(make([]byte, 10))
	assert.Equal(t, int64(2), m.BadFrees())
	assert.ErrorIs(t, m.Err(), mmalloc.ErrDoubleFree)
	assert.ErrorIs(t, m.Check(), mmalloc.ErrDoubleFree)
	assert.Equal(t, live, a.Stats().Live, "nothing changed")

	var seen []error
	s := arrowmem.New(a, arrowmem.OnBadFree(func(err error) { seen = append(seen, err) }))
	s.Free(make([]byte, 10))
	require.Len(t, seen, 1)
	assert.ErrorIs(t, seen[0], mmalloc.ErrForeignPointer)
	p := arrowmem.New(a, arrowmem.OnBadFree(func(err error) { panic(err) }))
	assertPanicsWith(t, mmalloc.ErrForeignPointer, func() { p.Free(make([]byte, 10)) })

	assertPanicsWith(t, mmalloc.ErrInvalidSize, func() { m.Allocate(-1) })
	keep := m.Allocate(1)
	assertPanicsWith(t, mmalloc.ErrInvalidSize, func() { m.Reallocate(-1, keep) })
	m.Free(keep)
	assertPanicsWith(t, mmalloc.ErrUninitialized, func() { new(arrowmem.Allocator).Allocate(1) })
	assertPanicsWith(t, mmalloc.ErrUninitialized, func() { arrowmem.New(nil).Allocate(1) })
	closed, err := mmalloc.New(mmalloc.Options{})
	require.NoError(t, err)
	require.NoError(t, closed.Close())
	c := arrowmem.New(closed, arrowmem.HeapFallback())
	assertPanicsWith(t, mmalloc.ErrClosed, func() { c.Allocate(1) })
	c.Free([]byte{0})
	assert.ErrorIs(t, c.Err(), mmalloc.ErrClosed)
}

func assertPanicsWith(t *testing.T, target error, f func()) {
	t.Helper()
	defer func() {
		t.Helper()
		r := recover()
		require.NotNil(t, r, "no panic")
		err, ok := r.(error)
		require.True(t, ok, "the panic value %v is an error", r)
		assert.ErrorIs(t, err, target)
	}()
	f()
}

// TestGuardMode: under mmalloc's guard mode a resize moves, the buffer
// stays aligned, and a write past a buffer's end is reported by Check.
func TestGuardMode(t *testing.T) {
	t.Setenv(arrowmem.GuardEnv, "1")
	m, err := arrowmem.NewFromEnv()
	require.NoError(t, err)
	defer m.Mmalloc().Close()
	b := m.Allocate(100)
	assert.Equal(t, 100, cap(b), "guard mode: cap == len")
	r := m.Reallocate(101, b)
	assert.NotEqual(t, addr(b), addr(r), "a resize moves in guard mode")
	assert.Zero(t, addr(r)%arrowmem.Alignment)
	unsafe.Slice(unsafe.SliceData(r), 102)[101] ^= 0xFF // one byte past the end
	assertPanicsWith(t, mmalloc.ErrCorrupted, func() { m.Free(r) })
	assert.ErrorIs(t, m.Check(), mmalloc.ErrCorrupted)

	t.Setenv(arrowmem.GuardEnv, "")
	n, err := arrowmem.NewFromEnv()
	require.NoError(t, err)
	defer n.Mmalloc().Close()
	b = n.Allocate(100)
	whole, err := n.Mmalloc().Bytes(mmalloc.RefOf(b))
	require.NoError(t, err)
	assert.Greater(t, len(whole), 100, "without the variable, no guard mode: the slot has room")
	n.Free(b)
}

// TestConcurrent: goroutines allocate, resize and free buffers that other
// goroutines made, through one Allocator.
func TestConcurrent(t *testing.T) {
	a := newMmalloc(t, mmalloc.Options{})
	m := arrowmem.New(a)
	ch := make(chan []byte, 64)
	var wg sync.WaitGroup
	rounds := 2000
	if testing.Short() {
		rounds = 300
	}
	for g := range 4 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 1))
			for range rounds {
				b := m.Allocate(r.IntN(300 * kib))
				b = m.Reallocate(r.IntN(300*kib), b)
				if len(b) > 0 {
					b[len(b)-1] = byte(g)
				}
				ch <- b
			}
		}()
		go func() {
			defer wg.Done()
			for range rounds {
				m.Free(<-ch)
			}
		}()
	}
	wg.Wait()
	assert.Zero(t, m.BadFrees())
	assert.Zero(t, m.AllocatedBytes())
	assert.Zero(t, a.Stats().Live)
}

func TestMain(m *testing.M) {
	os.Unsetenv(arrowmem.GuardEnv)
	os.Exit(m.Run())
}

// TestNil: a nil Allocator panics with ErrUninitialized on allocation
// and does nothing on Free, its figures zero.
func TestNil(t *testing.T) {
	var m *arrowmem.Allocator
	assertPanicsWith(t, mmalloc.ErrUninitialized, func() { m.Allocate(1) })
	assertPanicsWith(t, mmalloc.ErrUninitialized, func() { m.Reallocate(1, nil) })
	assert.NotPanics(t, func() { m.Free([]byte{1}) })
	assert.Zero(t, m.AllocatedBytes()+m.BadFrees()+m.Fallbacks())
	assert.NoError(t, m.Err())
	assert.ErrorIs(t, m.Check(), mmalloc.ErrUninitialized)
	assert.Nil(t, m.Mmalloc())
}
