package arena

import (
	"fmt"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mmalloc/mmalloc/internal/errs"
	"github.com/mmalloc/mmalloc/internal/osmem"
	"github.com/mmalloc/mmalloc/internal/testutil"
)

func newRegion(t testing.TB, o RegionOptions) *Region {
	t.Helper()
	a, err := NewRegion(o)
	require.NoError(t, err)
	t.Cleanup(func() { _ = a.Close() })
	return a
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func addrOf(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }

// regionSizes is a request mix: small ones, one that ends a chunk early,
// and big ones with mappings of their own (with 64 KiB chunks).
var regionSizes = []int{1, 7, 16, 100, 3000, 4096, 10000, 16 << 10, 16<<10 + 1, 100 << 10, 5, 64}

func TestRegionAllocZeroedAlignedDisjoint(t *testing.T) {
	for _, ahead := range []uintptr{0, 100, 8 << 10, 64 << 10} {
		t.Run(fmt.Sprintf("clearAhead=%d", ahead), func(t *testing.T) {
			a := newRegion(t, RegionOptions{ChunkBytes: 64 << 10})
			a.clearAhead = ahead
			for round := range 3 {
				var live [][]byte
				for i := range 20 {
					for _, n := range regionSizes {
						b, err := a.Alloc(n)
						require.NoError(t, err)
						require.Len(t, b, n)
						require.Equal(t, n, cap(b))
						require.Zero(t, addrOf(b)%regionAlignBytes, "aligned")
						require.True(t, isZero(b), "round %d: %d bytes not zero", round, n)
						for j := range b {
							b[j] = byte(i + n + round)
						}
						live = append(live, b)
					}
				}
				k := 0
				for i := range 20 {
					for _, n := range regionSizes {
						for _, c := range live[k] {
							if c != byte(i+n+round) {
								require.Fail(t, "overlap", "allocation %d", k)
							}
						}
						k++
					}
				}
				require.NoError(t, a.validate())
				require.NoError(t, a.Reset())
				require.NoError(t, a.validate())
			}
		})
	}
}

// TestRegionResetReuses shows that after Reset the same requests get the
// same memory, zeroed, without a single new mmap.
func TestRegionResetReuses(t *testing.T) {
	for _, ahead := range []uintptr{0, 100, 8 << 10, 64 << 10} {
		t.Run(fmt.Sprintf("clearAhead=%d", ahead), func(t *testing.T) {
			a := newRegion(t, RegionOptions{ChunkBytes: 64 << 10})
			a.clearAhead = ahead
			round := func(fill byte) []uintptr {
				var addrs []uintptr
				for range 200 {
					b, err := a.Alloc(1000)
					require.NoError(t, err)
					require.True(t, isZero(b))
					for j := range b {
						b[j] = fill
					}
					addrs = append(addrs, addrOf(b))
				}
				return addrs
			}
			first := round(1)
			st := a.Stats()
			assert.Equal(t, 4, st.Chunks, "200 KB in 64 KiB chunks")
			assert.Equal(t, int64(4*64<<10), st.Mapped)
			require.NoError(t, a.Reset())
			assert.Zero(t, a.Stats().Used)
			second := round(2)
			assert.Equal(t, first, second, "same memory")
			assert.Equal(t, st.Mmaps, a.Stats().Mmaps, "no new mmap")
			assert.Equal(t, st.Mapped, a.Stats().Mapped)
		})
	}
}

func TestRegionRetention(t *testing.T) {
	a := newRegion(t, RegionOptions{ChunkBytes: 64 << 10, RetainBytes: 2 * 64 << 10})
	for range 5 * 64 {
		_, err := a.Alloc(1 << 10)
		require.NoError(t, err)
	}
	big, err := a.Alloc(1 << 20)
	require.NoError(t, err)
	big[len(big)-1] = 1
	st := a.Stats()
	assert.Equal(t, 5, st.Chunks)
	assert.Equal(t, 1, st.Big)
	assert.Equal(t, int64(5*64<<10+1<<20), st.Mapped)
	require.NoError(t, a.Reset())
	st2 := a.Stats()
	assert.Equal(t, 2, st2.Chunks, "kept within RetainBytes")
	assert.Zero(t, st2.Big, "big mappings go at Reset")
	assert.Equal(t, int64(2*64<<10), st2.Mapped)
	assert.Equal(t, st.Munmaps+4, st2.Munmaps)

	none := newRegion(t, RegionOptions{ChunkBytes: 64 << 10, RetainBytes: -1})
	_, err = none.Alloc(10)
	require.NoError(t, err)
	require.NoError(t, none.Reset())
	assert.Zero(t, none.Stats().Mapped)
}

// TestRegionCloseUnmaps checks in /proc/self/maps that every chunk and
// big mapping is there before Close and gone after it.
func TestRegionCloseUnmaps(t *testing.T) {
	a, err := NewRegion(RegionOptions{ChunkBytes: 64 << 10})
	require.NoError(t, err)
	var addrs []uintptr
	for range 3 {
		for range 100 {
			b, err := a.Alloc(2000)
			require.NoError(t, err)
			addrs = append(addrs, addrOf(b))
		}
		b, err := a.Alloc(512 << 10)
		require.NoError(t, err)
		addrs = append(addrs, addrOf(b), addrOf(b)+uintptr(len(b))-1)
	}
	for _, m := range a.chunks {
		addrs = append(addrs, m.base, m.base+m.bytes-1)
	}
	before := testutil.Maps(t)
	for _, p := range addrs {
		require.True(t, testutil.Mapped(before, p), "%#x mapped before Close", p)
	}
	require.NoError(t, a.validate())
	require.NoError(t, a.Close())
	require.NoError(t, a.validate())
	after := testutil.Maps(t)
	for _, p := range addrs {
		assert.False(t, testutil.Mapped(after, p), "%#x still mapped after Close", p)
	}
	assert.Zero(t, a.Stats().Mapped)
}

func TestRegionAfterClose(t *testing.T) {
	a := newRegion(t, RegionOptions{})
	_, err := a.Alloc(100)
	require.NoError(t, err)
	require.NoError(t, a.Close())
	st := a.Stats()
	assert.True(t, st.Closed)
	calls := map[string]func() error{
		"Alloc":         func() error { _, err := a.Alloc(10); return err },
		"Alloc 0":       func() error { _, err := a.Alloc(0); return err },
		"Alloc big":     func() error { _, err := a.Alloc(10 << 20); return err },
		"Alloc -1":      func() error { _, err := a.Alloc(-1); return err },
		"Reset":         a.Reset,
		"Close":         a.Close,
		"NewValue":      func() error { _, err := NewValue[int64](a); return err },
		"NewValue zero": func() error { _, err := NewValue[struct{}](a); return err },
		"MakeSlice":     func() error { _, err := MakeSlice[int32](a, 5, 10); return err },
		"MakeSlice 0":   func() error { _, err := MakeSlice[int32](a, 0, 0); return err },
	}
	for name, call := range calls {
		err := call()
		assert.Equal(t, errs.ErrClosed, err, "%s: a closed Region returns ErrClosed, as an Allocator after Close", name)
		assert.Equal(t, st, a.Stats(), name)
	}
}

func TestRegionBadCalls(t *testing.T) {
	a := newRegion(t, RegionOptions{ChunkBytes: 64 << 10, Limit: 128 << 10})
	keep, err := a.Alloc(100)
	require.NoError(t, err)
	keep[0] = 7
	st := a.Stats()
	calls := []struct {
		name string
		do   func() error
		want error
	}{
		{"negative", func() error { _, err := a.Alloc(-1); return err }, errs.ErrInvalidSize},
		{"beyond osmem.MaxAllocBytes", func() error { _, err := a.Alloc(osmem.MaxAllocBytes + 1); return err }, errs.ErrInvalidSize},
		{"past the limit", func() error { _, err := a.Alloc(1 << 20); return err }, errs.ErrOutOfMemory},
		{"slice length above capacity", func() error { _, err := MakeSlice[int](a, 5, 4); return err }, errs.ErrInvalidSize},
		{"slice bytes overflow", func() error { _, err := MakeSlice[int](a, 0, int(^uint(0)>>1)); return err }, errs.ErrInvalidSize},
		{"pointer type", func() error { _, err := NewValue[struct{ S []int }](a); return err }, errs.ErrPointerType},
		{"pointer type slice", func() error { _, err := MakeSlice[*int](a, 1, 1); return err }, errs.ErrPointerType},
	}
	for _, c := range calls {
		var err error
		require.NotPanics(t, func() { err = c.do() }, c.name)
		assert.ErrorIs(t, err, c.want, c.name)
		assert.Equal(t, st, a.Stats(), c.name)
	}
	assert.Equal(t, byte(7), keep[0])

	// A refused chunk mapping: nothing changes, and the arena goes on.
	a.src.FailAfter(1)
	for range 200 {
		if _, err = a.Alloc(1000); err != nil {
			break
		}
	}
	assert.ErrorIs(t, err, errs.ErrOutOfMemory)
	a.src.FailAfter(0)
	n := a.Stats().Chunks
	_, err = a.Alloc(1000)
	require.NoError(t, err)
	assert.Equal(t, n+1, a.Stats().Chunks)
	require.NoError(t, a.validate())
}

func TestRegionOptions(t *testing.T) {
	for _, o := range []RegionOptions{{ChunkBytes: -1}, {ChunkBytes: 1000}, {ChunkBytes: 2 << 30}, {Limit: -1}} {
		_, err := NewRegion(o)
		assert.ErrorIs(t, err, errs.ErrInvalidOption, "%+v", o)
	}
	a := newRegion(t, RegionOptions{})
	st := a.Stats()
	assert.Equal(t, int64(DefaultRegionChunkBytes), st.ChunkBytes)
	assert.Zero(t, st.Mapped, "nothing mapped before the first Alloc")
}

func TestRegionTyped(t *testing.T) {
	a := newRegion(t, RegionOptions{ChunkBytes: 64 << 10})
	type rec struct {
		A int8
		B float64
		C [3]uint16
	}
	_, err := a.Alloc(1) // misalign the bump pointer
	require.NoError(t, err)
	p, err := NewValue[rec](a)
	require.NoError(t, err)
	assert.Zero(t, uintptr(unsafe.Pointer(p))%unsafe.Alignof(*p))
	assert.Equal(t, rec{}, *p)
	p.B = 1.5
	s, err := MakeSlice[int32](a, 3, 1000)
	require.NoError(t, err)
	assert.Len(t, s, 3)
	assert.Equal(t, 1000, cap(s))
	s = append(s, 4)
	assert.Equal(t, int32(4), s[3])
	b, err := MakeSlice[byte](a, 1, 1)
	require.NoError(t, err)
	u, err := NewValue[uint64](a)
	require.NoError(t, err)
	assert.Zero(t, uintptr(unsafe.Pointer(u))%8, "aligned after a 1-byte slice")
	b[0] = 1
	assert.Equal(t, 1.5, p.B)
	e, err := NewValue[struct{}](a)
	require.NoError(t, err)
	assert.NotNil(t, e)

	_, err = NewValue[struct {
		X [2]struct{ M map[int]int }
	}](a)
	require.ErrorIs(t, err, errs.ErrPointerType)
	assert.Contains(t, err.Error(), ".X[0].M is a map")
}

// TestRegionValidateReportsEachBrokenInvariant breaks each of validate's
// equations on purpose, one at a time, and shows that validate reports it
// and holds again once it is mended.
func TestRegionValidateReportsEachBrokenInvariant(t *testing.T) {
	a := newRegion(t, RegionOptions{ChunkBytes: 64 << 10})
	_, err := a.Alloc(100)
	require.NoError(t, err)
	_, err = a.Alloc(1 << 20) // a big mapping of its own
	require.NoError(t, err)
	require.NoError(t, a.validate())
	fresh := newRegion(t, RegionOptions{})
	var zero Region
	for _, tc := range []struct {
		name, want string
		on         *Region
		brk        func(a *Region) (mend func())
	}{
		{"a bump pointer without a chunk", "without a current chunk", fresh, func(a *Region) func() {
			a.end = 4096
			return func() { a.end = 0 }
		}},
		{"a bump pointer past its chunk", "outside chunk", a, func(a *Region) func() {
			next := a.next
			a.next = a.end + 16
			return func() { a.next = next }
		}},
		{"a cleared mark past its chunk", "cleared", a, func(a *Region) func() {
			cleared := a.cleared
			a.cleared = a.end + 1
			return func() { a.cleared = cleared }
		}},
		{"a mapping not counted", "bytes mapped", a, func(a *Region) func() {
			a.big = append(a.big, mapping{base: 1 << 40, bytes: 1 << 20})
			return func() { a.big = a.big[:len(a.big)-1] }
		}},
		{"closed with memory", "closed with", a, func(a *Region) func() {
			a.closed = true
			return func() { a.closed = false }
		}},
		{"a zero Region with state", "without a Source", &zero, func(a *Region) func() {
			a.next = 64
			return func() { a.next = 0 }
		}},
	} {
		require.NoError(t, tc.on.validate(), tc.name)
		mend := tc.brk(tc.on)
		err := tc.on.validate()
		require.Error(t, err, "%s went unnoticed", tc.name)
		assert.Contains(t, err.Error(), tc.want, tc.name)
		mend()
		require.NoError(t, tc.on.validate(), "%s mended", tc.name)
	}
}

// TestRegionNilAndZero: a nil *Region returns ErrUninitialized from every
// call that returns an error and the zero Stats; the zero Region works with
// the default RegionOptions.
func TestRegionNilAndZero(t *testing.T) {
	var nilArena *Region
	_, err := nilArena.Alloc(8)
	assert.ErrorIs(t, err, errs.ErrUninitialized)
	assert.ErrorIs(t, nilArena.Reset(), errs.ErrUninitialized)
	assert.ErrorIs(t, nilArena.Close(), errs.ErrUninitialized)
	_, err = NewValue[int64](nilArena)
	assert.ErrorIs(t, err, errs.ErrUninitialized)
	_, err = MakeSlice[int64](nilArena, 1, 1)
	assert.ErrorIs(t, err, errs.ErrUninitialized)
	assert.Equal(t, RegionStats{}, nilArena.Stats())

	var zero Region
	require.NoError(t, zero.validate(), "a zero Region is consistent")
	p, err := NewValue[[3]uint64](&zero)
	require.NoError(t, err)
	assert.Equal(t, [3]uint64{}, *p)
	_, err = NewValue[[osmem.MaxAllocBytes + 1]byte](&zero)
	assert.ErrorIs(t, err, errs.ErrInvalidSize)
	assert.Equal(t, int64(DefaultRegionChunkBytes), zero.Stats().ChunkBytes)
	require.NoError(t, zero.validate())
	require.NoError(t, zero.Close())
	assert.Zero(t, zero.Stats().Mapped)
}
