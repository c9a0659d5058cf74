package mmalloc_test

// AllocAligned in every mode, and the alignment Alloc gives without it.

import (
	"fmt"
	"math"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mmalloc/mmalloc"
	"github.com/mmalloc/mmalloc/slab"
)

// alignments are the powers of two AllocAligned accepts: 1 to the page.
func alignments() []int {
	var out []int
	for al := 1; al <= pageBytes; al *= 2 {
		out = append(out, al)
	}
	return out
}

// pow2Of returns the largest power of two that divides n, at most the page.
func pow2Of(n int) int { return min(n&-n, pageBytes) }

func roundUp(n, al int) int { return (n + al - 1) &^ (al - 1) }

// TestAlignedClasses: the size class of every size that is a multiple of
// an alignment up to the page is itself a multiple of it, so that
// AllocAligned's cap is UsableSize of n rounded up to the alignment.
func TestAlignedClasses(t *testing.T) {
	for _, al := range alignments() {
		for m := al; m <= slab.MaxSmallBytes; m += al {
			c := slab.ClassOf(m)
			require.Zero(t, slab.ClassBytes(c)%al, "class %d (%d B) of %d bytes is not %d-aligned", c, slab.ClassBytes(c), m, al)
		}
	}
}

// TestAllocAligned: in every mode, through the Allocator and a Cache, for
// every alignment and sizes from 1 byte across the large threshold, the
// memory is aligned, zeroed, of len n and of the documented cap, which
// Bytes(RefOf(b)) agrees with; every byte up to cap is the caller's (a
// pattern over each allocation stays intact while the others are live);
// every allocation goes back with Free, and Stats count it all.
func TestAllocAligned(t *testing.T) {
	sizes := []int{1, 7, 8, 15, 16, 33, 63, 64, 65, 100, 1000, 4095, 4096, 4097, 33 * kib, threshold - 1, threshold, threshold + 1, mib + 3}
	modes := []mmalloc.Options{{}, {Guard: true}, {Shared: true}, {Reserve: 1 << 30}, {LargeThreshold: 1000}, {RetainBytes: mmalloc.NoRetain}}
	if testing.Short() {
		sizes = []int{1, 65, 4097, threshold, mib + 3}
	}
	for _, o := range modes {
		t.Run(fmt.Sprintf("guard=%v,shared=%v,reserve=%d,threshold=%d", o.Guard, o.Shared, o.Reserve, o.LargeThreshold), func(t *testing.T) {
			a := newAlloc(t, o)
			c := a.NewCache()
			defer c.Close()
			var live [][]byte
			seed := uint64(1)
			for _, al := range alignments() {
				for _, n := range sizes {
					for _, via := range []string{"Allocator", "Cache"} {
						var b []byte
						var err error
						if via == "Cache" {
							b, err = c.AllocAligned(n, al)
						} else {
							b, err = a.AllocAligned(n, al)
						}
						require.NoError(t, err, "%s.AllocAligned(%d, %d)", via, n, al)
						require.Len(t, b, n)
						require.Zero(t, addr(b)%uintptr(al), "%s.AllocAligned(%d, %d) at %#x", via, n, al, addr(b))
						want := a.UsableSize(roundUp(n, al))
						if o.Guard {
							want = n
						}
						require.Equal(t, want, cap(b), "%s.AllocAligned(%d, %d): cap", via, n, al)
						require.True(t, allZero(b), "%s.AllocAligned(%d, %d) is not zeroed", via, n, al)
						whole, err := a.Bytes(mmalloc.RefOf(b))
						require.NoError(t, err)
						require.Equal(t, addr(b), addr(whole))
						require.Len(t, whole, cap(b), "Bytes(RefOf(b)) is b[:cap(b)]")
						if cap(b)%8 == 0 {
							fill(b, seed)
						} else {
							b[n-1] = byte(seed)
						}
						seed++
						live = append(live, b)
					}
				}
				// Half the allocations go, the rest stay live beside the next alignment's.
				keep := live[:0]
				for i, b := range live {
					if i%2 == 0 {
						keep = append(keep, b)
						continue
					}
					require.NoError(t, a.Free(b))
				}
				live = keep
			}
			require.NoError(t, a.Validate())
			st := a.Stats()
			assert.Equal(t, int64(len(live)), st.Live, "Stats counts every aligned allocation")
			for _, b := range live {
				require.NoError(t, c.Free(b), "a Cache frees what the Allocator aligned, and the reverse")
			}
			require.NoError(t, a.CheckGuards())
			c.Flush()
			require.NoError(t, a.Validate())
			assert.Zero(t, a.Stats().Live)
		})
	}
}

// TestAllocAlignedPatternsSurvive: aligned objects never overlap: each
// holds its own pattern while its neighbours are written.
func TestAllocAlignedPatternsSurvive(t *testing.T) {
	a := newAlloc(t, mmalloc.Options{})
	type obj struct {
		b    []byte
		seed uint64
	}
	var objs []obj
	for i := range 3000 {
		al := alignments()[i%len(alignments())]
		n := 1 + (i*37)%5000
		b, err := a.AllocAligned(n, al)
		require.NoError(t, err)
		require.Zero(t, addr(b)%uintptr(al))
		fill(b, uint64(i)*1000)
		objs = append(objs, obj{b, uint64(i) * 1000})
	}
	for _, o := range objs {
		require.Equal(t, -1, check(o.b, o.seed), "object at %#x was overwritten", addr(o.b))
		require.NoError(t, a.Free(o.b))
	}
	require.NoError(t, a.Validate())
}

// TestAllocAlignedGuard: guard mode's canary follows an aligned object,
// so that a write one byte past its end is found by Free, and a large
// aligned object still ends close to its guard page.
func TestAllocAlignedGuard(t *testing.T) {
	a := newAlloc(t, mmalloc.Options{Guard: true})
	for _, al := range []int{16, 64, 512, pageBytes} {
		for _, n := range []int{1, 63, 100, 3000, threshold + 5} {
			b, err := a.AllocAligned(n, al)
			require.NoError(t, err)
			require.Zero(t, addr(b)%uintptr(al))
			whole := b[:n:n]
			// One byte past the end, through the memory the slice cannot reach.
			past, err := a.Bytes(mmalloc.RefOf(b))
			require.NoError(t, err)
			require.Len(t, past, n, "guard mode: Bytes gives len n")
			ext := unsafeExtend(whole, 1)
			ext[n] = ^ext[n] // whatever the canary holds there, it changes
			err = a.Free(b)
			assert.ErrorIs(t, err, mmalloc.ErrCorrupted, "AllocAligned(%d, %d): a write past the end is found", n, al)
		}
	}
}

// TestAllocAlignedRefusals: a bad alignment or size returns
// ErrInvalidSize and changes nothing; a closed Allocator or Cache
// returns ErrClosed, a nil or zero one ErrUninitialized.
func TestAllocAlignedRefusals(t *testing.T) {
	a := newAlloc(t, mmalloc.Options{})
	c := a.NewCache()
	before := a.Stats()
	for _, tc := range []struct{ n, align int }{
		{100, 0}, {100, -1}, {100, 3}, {100, 48}, {100, 2 * pageBytes}, {100, math.MinInt}, {100, math.MaxInt},
		{-1, 64}, {mmalloc.MaxAllocBytes + 1, 64}, {math.MaxInt, pageBytes}, {1, 1 << 62},
	} {
		b, err := a.AllocAligned(tc.n, tc.align)
		assert.ErrorIs(t, err, mmalloc.ErrInvalidSize, "AllocAligned(%d, %d)", tc.n, tc.align)
		assert.Nil(t, b)
		b, err = c.AllocAligned(tc.n, tc.align)
		assert.ErrorIs(t, err, mmalloc.ErrInvalidSize, "Cache.AllocAligned(%d, %d)", tc.n, tc.align)
		assert.Nil(t, b)
	}
	assert.Equal(t, before.Live, a.Stats().Live)
	assert.Equal(t, before.Mapped, a.Stats().Mapped)

	b, err := a.AllocAligned(0, 64)
	require.NoError(t, err)
	assert.Empty(t, b)
	assert.NotNil(t, b, "AllocAligned(0) is an empty slice, as Alloc(0)")
	require.NoError(t, a.Free(b))

	require.NoError(t, c.Close())
	_, err = c.AllocAligned(64, 64)
	assert.ErrorIs(t, err, mmalloc.ErrClosed)
	require.NoError(t, a.Close())
	_, err = a.AllocAligned(64, 3)
	assert.ErrorIs(t, err, mmalloc.ErrClosed, "closed first, whatever the arguments")
	_, err = (*mmalloc.Allocator)(nil).AllocAligned(64, 64)
	assert.ErrorIs(t, err, mmalloc.ErrUninitialized)
	_, err = new(mmalloc.Cache).AllocAligned(64, 64)
	assert.ErrorIs(t, err, mmalloc.ErrUninitialized)
}

// TestAllocAlignment: what Alloc documents without AllocAligned. The b of
// Alloc(n) starts at a multiple of the largest power of two dividing
// cap(b), up to the page: 8 bytes for n <= 8, 16 or more above, 64 for
// the classes that are multiples of 64, the page for large allocations.
// Checked for the smallest and largest n of every class, several objects
// each (so that objects past a slab's first are seen), and in guard mode
// for the documented GuardAlignBytes of large objects.
func TestAllocAlignment(t *testing.T) {
	a := newAlloc(t, mmalloc.Options{})
	var live [][]byte
	prev := 0
	for c := 1; c < slab.NumClasses; c++ {
		size := slab.ClassBytes(c)
		for _, n := range []int{prev + 1, size} {
			for range 5 {
				b, err := a.Alloc(n)
				require.NoError(t, err)
				require.Equal(t, size, cap(b))
				al := pow2Of(cap(b))
				require.Zero(t, addr(b)%uintptr(al), "Alloc(%d), class of %d B, at %#x is not %d-aligned", n, size, addr(b), al)
				if size >= 512 {
					require.Zero(t, size%64, "Alloc's doc: every class from 512 B up is a multiple of 64")
				}
				switch {
				case n <= 8:
					require.Zero(t, addr(b)%8)
				case size%64 == 0:
					require.Zero(t, addr(b)%64)
				default:
					require.Zero(t, addr(b)%16)
				}
				live = append(live, b)
			}
		}
		prev = size
	}
	for _, n := range []int{threshold + 1, threshold + 3*pageBytes + 1, mib} {
		b, err := a.Alloc(n)
		require.NoError(t, err)
		require.Zero(t, addr(b)%uintptr(pageBytes), "large Alloc(%d) is page aligned", n)
		live = append(live, b)
	}
	for _, b := range live {
		require.NoError(t, a.Free(b))
	}

	g := newAlloc(t, mmalloc.Options{Guard: true})
	for _, n := range []int{threshold, threshold + 1, mib + 3} {
		b, err := g.Alloc(n)
		require.NoError(t, err)
		require.Zero(t, addr(b)%mmalloc.GuardAlignBytes, "guard mode: large Alloc(%d) is GuardAlignBytes-aligned", n)
		require.NoError(t, g.Free(b))
	}
}

// unsafeExtend returns b with k more bytes of the memory after it, for a
// test that writes where no caller may.
func unsafeExtend(b []byte, k int) []byte {
	return unsafe.Slice(unsafe.SliceData(b), len(b)+k)
}
