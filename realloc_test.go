package mmalloc_test

import (
	"bytes"
	"fmt"
	"os"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mmalloc/mmalloc"
)

// TestReallocTransitions walks every way Realloc can resize: in place,
// by mremap, by moving, and the two degenerate sizes. Each case fills the
// whole usable size with a pattern first, so that bytes past len(b) that
// leak into the result show.
func TestReallocTransitions(t *testing.T) {
	type how int
	const (
		inPlace how = iota // same address, nothing copied or remapped
		remap              // one mremap, nothing copied
		moved              // a new allocation and a copy of the kept bytes
	)
	cases := []struct {
		name      string
		from, len int // allocation size, and the len of the slice passed in
		to        int
		want      how
	}{
		{"small grows within its class", 100, 100, 112, inPlace},
		{"small shrinks within its class", 112, 112, 100, inPlace},
		{"small shrinks to the class below: one usable size", 100, 100, 90, moved},
		{"small regrows after a shrink: bytes past len are cleared", 100, 20, 100, inPlace},
		{"small grows to another class", 100, 100, 1000, moved},
		{"small shrinks far", 1000, 1000, 10, moved},
		{"small to large", 1000, 1000, 1 * mib, moved},
		{"small at the threshold to large", threshold, threshold, threshold + 1, moved},
		{"large grows", 1 * mib, 1 * mib, 8 * mib, remap},
		{"large grows from a short slice", 1 * mib, 10, 3 * mib, remap},
		{"large shrinks", 8 * mib, 8 * mib, 1 * mib, remap},
		{"large within its pages", 1 * mib, 1 * mib, 1*mib - 100, inPlace},
		{"large shrinks by one page", 1 * mib, 1 * mib, 1*mib - pageBytes, remap},
		{"large grows by one page", 1 * mib, 1 * mib, 1*mib + 1, remap},
		{"large regrows within its pages", 1*mib + 1, 5, 1*mib + 100, inPlace},
		{"large to small", 1 * mib, 1 * mib, 1000, moved},
		{"large just above the threshold to small", threshold + 1, threshold + 1, threshold, moved},
	}
	a := newAlloc(t, mmalloc.Options{})
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, err := a.Alloc(c.from)
			require.NoError(t, err)
			fill(b, uint64(i))
			b = b[:c.len]
			keep := min(c.len, c.to)
			want := bytes.Clone(b[:keep])
			before, copied := a.Stats(), mmalloc.ReallocCopiedBytes()
			remaps := a.Remaps()

			r, err := a.Realloc(b, c.to)
			require.NoError(t, err)
			require.Equal(t, c.to, len(r))
			assert.Equal(t, a.UsableSize(c.to), cap(r), "the one cap rule, in place too")
			assert.Equal(t, want, r[:keep], "kept bytes")
			assert.True(t, allZero(r[keep:c.to:c.to]), "new bytes are zero")

			after := a.Stats()
			switch c.want {
			case inPlace:
				assert.Equal(t, addr(b), addr(r), "same memory")
				assert.Equal(t, before.Allocs, after.Allocs)
				assert.Equal(t, remaps, a.Remaps())
				assert.Equal(t, copied, mmalloc.ReallocCopiedBytes())
			case remap:
				assert.Equal(t, remaps+1, a.Remaps())
				assert.Equal(t, before.Mmaps, after.Mmaps, "no new mapping")
				assert.Equal(t, before.Allocs, after.Allocs)
				assert.Equal(t, copied, mmalloc.ReallocCopiedBytes(), "no byte copied")
				assert.Equal(t, before.Large.InUse-int64(a.UsableSize(c.from))+int64(a.UsableSize(c.to)), after.Large.InUse)
			case moved:
				assert.NotEqual(t, addr(b), addr(r))
				assert.Equal(t, before.Allocs+1, after.Allocs)
				assert.Equal(t, before.Frees+1, after.Frees)
				assert.Equal(t, copied+int64(keep), mmalloc.ReallocCopiedBytes())
			}
			assert.Equal(t, before.Live, after.Live)
			require.NoError(t, a.Validate())
			require.NoError(t, a.Free(r))
			if c.want == moved {
				assert.ErrorIs(t, a.Free(b), mmalloc.ErrDoubleFree, "the old memory was freed")
			}
		})
	}
}

func TestReallocDegenerate(t *testing.T) {
	a := newAlloc(t, mmalloc.Options{})
	t.Run("cap 0 acts as Alloc", func(t *testing.T) {
		for _, b := range [][]byte{nil, {}, make([]byte, 0)} {
			r, err := a.Realloc(b, 300)
			require.NoError(t, err)
			assert.Len(t, r, 300)
			assert.True(t, allZero(r))
			assert.Equal(t, int64(1), a.Stats().Live)
			require.NoError(t, a.Free(r))
		}
		r, err := a.Realloc(nil, 0)
		require.NoError(t, err)
		assert.Empty(t, r)
		assert.NotNil(t, r)
	})
	t.Run("n 0 frees", func(t *testing.T) {
		for _, n := range []int{10, 5000, 2 * mib} {
			b, err := a.Alloc(n)
			require.NoError(t, err)
			r, err := a.Realloc(b, 0)
			require.NoError(t, err)
			assert.Empty(t, r)
			assert.Zero(t, a.Stats().Live)
			assert.ErrorIs(t, a.Free(b), mmalloc.ErrDoubleFree)
		}
	})
	t.Run("chain of growths keeps every byte", func(t *testing.T) {
		b, err := a.Alloc(1)
		require.NoError(t, err)
		b[0] = 1
		for n := 2; n <= 16*mib; n = n*3/2 + 1 {
			old := len(b)
			b, err = a.Realloc(b, n)
			require.NoError(t, err)
			require.True(t, allZero(b[old:n:n]))
			b[n-1] = byte(n)
			b[old] = byte(old)
		}
		require.NoError(t, a.Validate())
		require.NoError(t, a.Free(b))
	})
}

// TestReallocBadCalls gives Realloc every slice Free refuses and checks the
// same error, with nothing changed.
func TestReallocBadCalls(t *testing.T) {
	a := newAlloc(t, mmalloc.Options{})
	other := newAlloc(t, mmalloc.Options{})

	small, err := a.Alloc(100)
	require.NoError(t, err)
	big, err := a.Alloc(3 * mib)
	require.NoError(t, err)
	fill(small, 1)
	fill(big, 2)
	freedSmall, _ := a.Alloc(100)
	require.NoError(t, a.Free(freedSmall))
	freedLarge, _ := a.Alloc(2 * mib)
	require.NoError(t, a.Free(freedLarge))
	otherBuf, _ := other.Alloc(100)
	otherLarge, _ := other.Alloc(threshold + 1)

	cases := []struct {
		name string
		b    []byte
		n    int
		want error
	}{
		{"Go heap slice", make([]byte, 100), 200, mmalloc.ErrForeignPointer},
		{"global array", globalBuf[:], 10, mmalloc.ErrForeignPointer},
		{"another allocator's small object", otherBuf, 200, mmalloc.ErrForeignPointer},
		{"another allocator's large mapping", otherLarge, 4 * mib, mmalloc.ErrForeignPointer},
		{"interior of a small object", small[16:], 50, mmalloc.ErrInvalidPointer},
		{"interior of a large mapping", big[pageBytes:], 8 * mib, mmalloc.ErrInvalidPointer},
		{"freed small object", freedSmall, 1000, mmalloc.ErrDoubleFree},
		{"freed large mapping", freedLarge, 4 * mib, mmalloc.ErrDoubleFree},
		{"negative size", small, -1, mmalloc.ErrInvalidSize},
		{"negative size, large", big, -1 << 40, mmalloc.ErrInvalidSize},
		{"size beyond the address space", big, mmalloc.MaxAllocBytes + 1, mmalloc.ErrInvalidSize},
		{"cap 0 and a negative size", nil, -5, mmalloc.ErrInvalidSize},
	}
	before := a.Stats()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var err error
			var r []byte
			require.NotPanics(t, func() { r, err = a.Realloc(c.b, c.n) })
			assert.ErrorIs(t, err, c.want)
			assert.Nil(t, r)
			assert.Equal(t, before, a.Stats(), "stats moved")
			assert.Equal(t, -1, check(small, 1))
			assert.Equal(t, -1, check(big, 2))
			require.NoError(t, a.Validate())
		})
	}

	t.Run("refused mremap", func(t *testing.T) {
		a.FailMapAfter(1)
		defer a.FailMapAfter(0)
		r, err := a.Realloc(big, 64*mib)
		assert.ErrorIs(t, err, mmalloc.ErrOutOfMemory)
		assert.Nil(t, r)
		assert.Equal(t, before, a.Stats())
		assert.Equal(t, -1, check(big, 2))
	})
	t.Run("limit", func(t *testing.T) {
		l := newAlloc(t, mmalloc.Options{Limit: 4 * mib})
		b, err := l.Alloc(3 * mib)
		require.NoError(t, err)
		fill(b, 3)
		st := l.Stats()
		_, err = l.Realloc(b, 5*mib)
		assert.ErrorIs(t, err, mmalloc.ErrOutOfMemory)
		assert.Equal(t, st, l.Stats())
		assert.Equal(t, -1, check(b, 3))
	})

	require.NoError(t, a.Close())
	closed := a.Stats()
	_, err = a.Realloc(small, 10)
	assert.ErrorIs(t, err, mmalloc.ErrClosed)
	_, err = a.Realloc(nil, 10)
	assert.ErrorIs(t, err, mmalloc.ErrClosed)
	assert.Equal(t, closed, a.Stats())
}

// fullSizeEnv names the variable under which the tests of the README's
// 1 GiB claims must run at full size: the Makefile's fullsize target, a CI
// step without the race detector, sets it.
const fullSizeEnv = "MMALLOC_FULL_SIZE"

// claimSize returns the size a test of a README claim runs at: full, or
// small with -short or -race (whose shadow memory would double the RSS).
// Under fullSizeEnv, a run that would shrink fails instead.
func claimSize(t *testing.T, full, small int) int {
	if !testing.Short() && !raceEnabled {
		return full
	}
	require.Empty(t, os.Getenv(fullSizeEnv), "%s is set: this test must run at full size, without -short and -race", fullSizeEnv)
	return small
}

// TestReallocLargeNoCopy grows a fully written 1 GiB allocation (64 MiB
// with -short or -race; the Makefile's fullsize target runs it at 1 GiB)
// to twice its size and shows that no byte was copied: the allocator
// copied nothing and made no new mapping (one mremap), and every page
// kept its contents. The time the growth took, beside a copy of the same
// bytes in the same process, is logged: it is a figure, not a check, on a
// shared machine.
func TestReallocLargeNoCopy(t *testing.T) {
	size := claimSize(t, 1<<30, 64<<20)
	a := newAlloc(t, mmalloc.Options{RetainBytes: mmalloc.NoRetain})
	b, err := a.Alloc(size)
	require.NoError(t, err)
	stamp := func(b []byte) {
		for off := 0; off < len(b); off += pageBytes {
			*(*uint64)(unsafe.Pointer(&b[off])) = uint64(off) | 1
		}
	}
	stamped := func(b []byte) bool {
		for off := 0; off < size; off += pageBytes {
			if *(*uint64)(unsafe.Pointer(&b[off])) != uint64(off)|1 {
				return false
			}
		}
		return true
	}
	stamp(b)

	before, copied, remaps := a.Stats(), mmalloc.ReallocCopiedBytes(), a.Remaps()
	start := time.Now()
	r, err := a.Realloc(b, 2*size)
	growth := time.Since(start)
	require.NoError(t, err)
	after := a.Stats()
	assert.Equal(t, copied, mmalloc.ReallocCopiedBytes(), "bytes copied")
	assert.Equal(t, remaps+1, a.Remaps(), "one mremap")
	assert.Equal(t, before.Mmaps, after.Mmaps, "no new mapping")
	assert.Equal(t, before.Mapped+int64(size), after.Mapped)
	assert.True(t, stamped(r), "contents kept")
	assert.Zero(t, r[2*size-1])

	// The baseline: copying the same bytes into a fresh mapping.
	dst, err := a.AllocUninit(size)
	require.NoError(t, err)
	start = time.Now()
	copy(dst, r[:size])
	copying := time.Since(start)
	require.True(t, stamped(dst))
	t.Logf("Realloc %d MiB -> %d MiB: %v; copying %d MiB: %v (%.0fx)",
		size>>20, 2*size>>20, growth, size>>20, copying, float64(copying)/float64(growth))
	require.NoError(t, a.Free(dst))
	require.NoError(t, a.Free(r))
	assert.Zero(t, a.Stats().Mapped)
}

// sevens[i] is byte(7i), long enough for FuzzRealloc's largest object
// from any starting point.
var sevens = func() []byte {
	b := make([]byte, 256+(0xffff-0x8000)*128)
	for i := range b {
		b[i] = byte(i * 7)
	}
	return b
}()

// TestReallocHugePages grows and shrinks a large allocation of an
// Allocator that advises huge pages: mremap keeps every byte whether the
// kernel backs the range with huge pages or not.
func TestReallocHugePages(t *testing.T) {
	a := newAlloc(t, mmalloc.Options{HugePages: true, RetainBytes: mmalloc.NoRetain})
	b, err := a.Alloc(256 * kib)
	require.NoError(t, err)
	fill(b, 7)
	want := bytes.Clone(b)
	for _, n := range []int{3 * mib, 64 * mib, 9 * mib, 200 * kib} {
		keep := min(len(want), n)
		b, err = a.Realloc(b, n)
		require.NoError(t, err)
		require.True(t, bytes.Equal(want[:keep], b[:keep]), "kept bytes at %d", n)
		require.True(t, allZero(b[keep:n:n]))
		b[n-1] = 1
		want = append(want[:keep], b[keep:]...)
		require.NoError(t, a.Validate())
	}
	require.NoError(t, a.Free(b))
	assert.Zero(t, a.Stats().Mapped)
}

// BenchmarkReallocGrow doubles a written allocation and shrinks it back,
// per op: mmalloc by mremap both ways, against the Go heap's way of growing
// a slice (a new array and a copy of the old bytes).
func BenchmarkReallocGrow(b *testing.B) {
	for _, size := range []int{1 * mib, 16 * mib, 256 * mib} {
		b.Run(fmt.Sprintf("size=%dMiB/mmalloc", size/mib), func(b *testing.B) {
			a := newAlloc(b, mmalloc.Options{RetainBytes: mmalloc.NoRetain})
			buf, err := a.Alloc(size)
			require.NoError(b, err)
			for off := 0; off < size; off += pageBytes {
				buf[off] = 1
			}
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for b.Loop() {
				if buf, err = a.Realloc(buf, 2*size); err != nil {
					b.Fatal(err)
				}
				if buf, err = a.Realloc(buf, size); err != nil {
					b.Fatal(err)
				}
			}
			require.NoError(b, a.Free(buf))
		})
		b.Run(fmt.Sprintf("size=%dMiB/goheap", size/mib), func(b *testing.B) {
			buf := make([]byte, size)
			for off := 0; off < size; off += pageBytes {
				buf[off] = 1
			}
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for b.Loop() {
				grown := make([]byte, 2*size)
				copy(grown, buf)
				buf = grown[:size:size]
			}
			benchSink = buf
		})
	}
}
