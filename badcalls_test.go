package mmalloc_test

import (
	"fmt"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mmalloc/mmalloc"
	"github.com/mmalloc/mmalloc/arena"
)

var globalBuf [4096]byte

const literal = "a string literal lives in read-only data"

// TestBadCalls runs each caller mistake (63 of them, across Alloc, Free,
// the Cache, New's Options, Realloc, the typed helpers, Buffer and region
// arenas) against an Allocator (and a Region) that holds live
// buffers of every kind, and checks that the call returns its sentinel and
// changes nothing: not the stats, not a byte of any live buffer. Guard
// mode's own table is TestGuardBadCalls.
func TestBadCalls(t *testing.T) {
	a := newAlloc(t, mmalloc.Options{})
	other := newAlloc(t, mmalloc.Options{})

	sizes := []int{8, 16, 100, 4096, 32 * kib, threshold, threshold + 1, 3 * mib}
	live := make([][]byte, len(sizes))
	for i, n := range sizes {
		b, err := a.Alloc(n)
		require.NoError(t, err)
		fill(b, uint64(i))
		live[i] = b
	}
	// Freed buffers whose slots are not handed out again: the small ones
	// stay in a slab with live neighbours, the large one is unmapped.
	freedSmall, err := a.Alloc(100)
	require.NoError(t, err)
	require.NoError(t, a.Free(freedSmall))
	freedLarge, err := a.Alloc(2 * mib)
	require.NoError(t, err)
	require.NoError(t, a.Free(freedLarge))
	otherBuf, err := other.Alloc(100)
	require.NoError(t, err)
	otherLarge, err := other.Alloc(threshold + 1)
	require.NoError(t, err)
	heapBuf := make([]byte, 100)

	small, page, class4k, big, huge := live[2], live[3], live[4], live[6], live[7]

	type call struct {
		name string
		do   func() error
		want error
	}
	alloc := func(n int) func() error {
		return func() error { _, err := a.Alloc(n); return err }
	}
	uninit := func(n int) func() error {
		return func() error { _, err := a.AllocUninit(n); return err }
	}
	free := func(b []byte) func() error { return func() error { return a.Free(b) } }
	realloc := func(b []byte, n int) func() error {
		return func() error { _, err := a.Realloc(b, n); return err }
	}
	// A Region with a live allocation, and one released.
	region, err := arena.NewRegion(arena.RegionOptions{Limit: 2 * mib})
	require.NoError(t, err)
	t.Cleanup(func() { _ = region.Release() })
	regionBuf, err := region.Alloc(1000)
	require.NoError(t, err)
	fill(regionBuf, 77)
	released, err := arena.NewRegion(arena.RegionOptions{})
	require.NoError(t, err)
	require.NoError(t, released.Release())
	c := a.NewCache()
	cfree := func(b []byte) func() error { return func() error { return c.Free(b) } }
	newWith := func(o mmalloc.Options) func() error {
		return func() error {
			b, err := mmalloc.New(o)
			if b != nil {
				_ = b.Close()
			}
			return err
		}
	}
	calls := []call{
		{"Alloc negative", alloc(-1), mmalloc.ErrInvalidSize},
		{"Alloc most negative", alloc(-1 << 63), mmalloc.ErrInvalidSize},
		{"Alloc max int", alloc(int(^uint(0) >> 1)), mmalloc.ErrInvalidSize},
		{"Alloc beyond the address space", alloc(mmalloc.MaxAllocBytes + 1), mmalloc.ErrInvalidSize},
		{"AllocUninit negative", uninit(-100), mmalloc.ErrInvalidSize},
		{"AllocUninit overflow when page-rounded", uninit(int(^uint(0)>>1) - 10), mmalloc.ErrInvalidSize},
		{"Free Go heap slice", free(heapBuf), mmalloc.ErrForeignPointer},
		{"Free global array", free(globalBuf[:]), mmalloc.ErrForeignPointer},
		{"Free stack-ish escaped array", free(new([64]byte)[:]), mmalloc.ErrForeignPointer},
		{"Free another allocator's small object", free(otherBuf), mmalloc.ErrForeignPointer},
		{"Free another allocator's large mapping", free(otherLarge), mmalloc.ErrForeignPointer},
		{"Free interior of small object", free(small[1:]), mmalloc.ErrInvalidPointer},
		{"Free interior at 16 B of small object", free(small[16:]), mmalloc.ErrInvalidPointer},
		{"Free interior of 4 KiB object", free(page[4000:]), mmalloc.ErrInvalidPointer},
		{"Free interior of 32 KiB object", free(class4k[kib:]), mmalloc.ErrInvalidPointer},
		{"Free interior of large mapping, page aligned", free(big[pageBytes:]), mmalloc.ErrInvalidPointer},
		{"Free interior of large mapping, odd offset", free(huge[12345:]), mmalloc.ErrInvalidPointer},
		{"Free small object twice", free(freedSmall), mmalloc.ErrDoubleFree},
		{"Free large mapping twice", free(freedLarge), mmalloc.ErrDoubleFree},
		{"Free the last byte of a small slot", free(small[:cap(small)][cap(small)-1:]), mmalloc.ErrInvalidPointer},
		{"Free a forged pointer into free pages of a chunk", free(unsafe.Slice((*byte)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(small)), 2*mib)), 16)), mmalloc.ErrDoubleFree},
		{"Free an empty reslice inside a small object", free(small[5:5]), mmalloc.ErrInvalidPointer},
		{"Free inside a freed large mapping kept for reuse", free(freedLarge[pageBytes:]), mmalloc.ErrDoubleFree},
		{"Free a string literal's bytes", free(unsafe.Slice(unsafe.StringData(literal), len(literal))), mmalloc.ErrForeignPointer},
		{"Cache.Alloc negative", func() error { _, err := c.Alloc(-5); return err }, mmalloc.ErrInvalidSize},
		{"Cache.AllocUninit max int", func() error { _, err := c.AllocUninit(int(^uint(0) >> 1)); return err }, mmalloc.ErrInvalidSize},
		{"Cache.Free Go heap slice", cfree(heapBuf), mmalloc.ErrForeignPointer},
		{"Cache.Free another allocator's small object", cfree(otherBuf), mmalloc.ErrForeignPointer},
		{"Cache.Free interior of small object", cfree(small[8:]), mmalloc.ErrInvalidPointer},
		{"Cache.Free interior of large mapping", cfree(big[100:]), mmalloc.ErrInvalidPointer},
		{"Cache.Free small object twice", cfree(freedSmall), mmalloc.ErrDoubleFree},
		{"Cache.Free large mapping twice", cfree(freedLarge), mmalloc.ErrDoubleFree},
		{"New with a negative LargeThreshold", newWith(mmalloc.Options{LargeThreshold: -1}), mmalloc.ErrInvalidOption},
		{"New with LargeThreshold above the largest class", newWith(mmalloc.Options{LargeThreshold: threshold + 1}), mmalloc.ErrInvalidOption},
		{"New with a ChunkSize not a power of two", newWith(mmalloc.Options{ChunkSize: 3 * mib}), mmalloc.ErrInvalidOption},
		{"New with a ChunkSize below 1 MiB", newWith(mmalloc.Options{ChunkSize: 512 * kib}), mmalloc.ErrInvalidOption},
		{"New with a ChunkSize above 1 GiB", newWith(mmalloc.Options{ChunkSize: 2 << 30}), mmalloc.ErrInvalidOption},
		{"New with a negative Limit", newWith(mmalloc.Options{Limit: -1}), mmalloc.ErrInvalidOption},
		{"Realloc to a negative size", realloc(small, -1), mmalloc.ErrInvalidSize},
		{"Realloc beyond the address space", realloc(big, mmalloc.MaxAllocBytes+1), mmalloc.ErrInvalidSize},
		{"Realloc a Go heap slice", realloc(heapBuf, 10), mmalloc.ErrForeignPointer},
		{"Realloc another allocator's object", realloc(otherBuf, 1000), mmalloc.ErrForeignPointer},
		{"Realloc the interior of a small object", realloc(small[4:], 10), mmalloc.ErrInvalidPointer},
		{"Realloc the interior of a large mapping", realloc(big[pageBytes:], 5*mib), mmalloc.ErrInvalidPointer},
		{"Realloc a freed small object", realloc(freedSmall, 50), mmalloc.ErrDoubleFree},
		{"Realloc a freed large mapping", realloc(freedLarge, 3*mib), mmalloc.ErrDoubleFree},
		{"MakeSlice of a pointer type", func() error { _, err := mmalloc.MakeSlice[*int](a, 1, 1); return err }, mmalloc.ErrPointerType},
		{"MakeSlice with length above capacity", func() error { _, err := mmalloc.MakeSlice[int64](a, 5, 4); return err }, mmalloc.ErrInvalidSize},
		{"MakeSlice whose bytes overflow", func() error { _, err := mmalloc.MakeSlice[int64](a, 0, int(^uint(0)>>2)); return err }, mmalloc.ErrInvalidSize},
		{"NewValue of a struct hiding a string", func() error { _, err := mmalloc.NewValue[struct{ N [2]struct{ S string } }](a); return err }, mmalloc.ErrPointerType},
		{"FreeSlice of a Go heap slice", func() error { return mmalloc.FreeSlice(a, make([]uint64, 4)) }, mmalloc.ErrForeignPointer},
		{"FreeValue of a Go heap value", func() error { return mmalloc.FreeValue(a, new([4]uint64)) }, mmalloc.ErrForeignPointer},
		{"FreeSlice of a pointer type", func() error { return mmalloc.FreeSlice(a, []*int{nil}) }, mmalloc.ErrPointerType},
		{"Buffer.Grow negative", func() error { return mmalloc.NewBuffer(a).Grow(-1) }, mmalloc.ErrInvalidSize},
		{"Buffer.Grow beyond the address space", func() error { return mmalloc.NewBuffer(a).Grow(mmalloc.MaxAllocBytes + 1) }, mmalloc.ErrInvalidSize},
		{"region Alloc negative", func() error { _, err := region.Alloc(-1); return err }, mmalloc.ErrInvalidSize},
		{"region Alloc past its limit", func() error { _, err := region.Alloc(4 * mib); return err }, mmalloc.ErrOutOfMemory},
		{"region MakeSlice of strings", func() error { _, err := arena.MakeSlice[string](region, 1, 1); return err }, mmalloc.ErrPointerType},
		{"region NewValue of a map holder", func() error { _, err := arena.NewValue[struct{ M map[int]int }](region); return err }, mmalloc.ErrPointerType},
		{"region Alloc after Release", func() error { _, err := released.Alloc(8); return err }, arena.ErrReleased},
		{"region Reset after Release", released.Reset, arena.ErrReleased},
		{"region Release twice", released.Release, arena.ErrReleased},
		{"region New with odd ChunkBytes", func() error { _, err := arena.NewRegion(arena.RegionOptions{ChunkBytes: 1000}); return err }, mmalloc.ErrInvalidOption},
	}
	require.GreaterOrEqual(t, len(calls), 30)

	before, regionBefore := a.Stats(), region.Stats()
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			var err error
			require.NotPanics(t, func() { err = c.do() })
			assert.ErrorIs(t, err, c.want)
			assert.Equal(t, before, a.Stats(), "stats moved")
			assert.Equal(t, regionBefore, region.Stats(), "region stats moved")
			require.Equal(t, -1, check(regionBuf, 77), "the region's live allocation changed")
			for i, b := range live {
				require.Equal(t, -1, check(b, uint64(i)), "live buffer %d changed", i)
			}
			require.NoError(t, a.Validate())
		})
	}

	// After Close every call is ErrClosed and still changes nothing.
	// (TestEveryCallAtTheEdges makes every call of the API so.)
	buf := mmalloc.NewBuffer(a)
	_, err = buf.WriteString("room left")
	require.NoError(t, err)
	require.NoError(t, a.Close())
	closed := a.Stats()
	for _, c := range []call{
		{"Alloc after Close", alloc(10), mmalloc.ErrClosed},
		{"Alloc 0 after Close", alloc(0), mmalloc.ErrClosed},
		{"Alloc -1 after Close", alloc(-1), mmalloc.ErrClosed},
		{"AllocUninit after Close", uninit(10), mmalloc.ErrClosed},
		{"Free after Close", free(small), mmalloc.ErrClosed},
		{"Realloc after Close", realloc(small, 10), mmalloc.ErrClosed},
		{"Trim after Close", a.Trim, mmalloc.ErrClosed},
		{"CheckGuards after Close", a.CheckGuards, mmalloc.ErrClosed},
		{"Cache.Alloc after Close", func() error { _, err := c.Alloc(10); return err }, mmalloc.ErrClosed},
		{"Cache.Free after Close", cfree(small), mmalloc.ErrClosed},
		{"Buffer.Write after Close", func() error { _, err := buf.WriteString("x"); return err }, mmalloc.ErrClosed},
		{"NewValue after Close", func() error { _, err := mmalloc.NewValue[int](a); return err }, mmalloc.ErrClosed},
		{"Close after Close", a.Close, mmalloc.ErrClosed},
	} {
		assert.ErrorIs(t, c.do(), c.want, c.name)
		assert.Equal(t, closed, a.Stats(), c.name)
	}
}

// TestFreeOfAppendedSlice: append past cap moves an off-heap slice to the
// Go heap. Its Free returns ErrForeignPointer with a message that says
// what probably happened, and the allocation it came from is still live:
// freeing that one works — in every mode and through every Free.
func TestFreeOfAppendedSlice(t *testing.T) {
	for _, o := range []mmalloc.Options{{}, {Guard: true}} {
		a := newAlloc(t, o)
		c := a.NewCache()
		for _, n := range []int{16, 1000, 2 * mib} {
			b, err := a.Alloc(n)
			require.NoError(t, err)
			grown := append(b[:cap(b)], 1)
			require.NotEqual(t, addr(b), addr(grown), "append moved it")
			before := a.Stats()
			for name, free := range map[string]func([]byte) error{"Allocator": a.Free, "Cache": c.Free} {
				err := free(grown)
				require.ErrorIs(t, err, mmalloc.ErrForeignPointer, name)
				assert.Contains(t, err.Error(), "grown by append past its cap", name)
				assert.Contains(t, err.Error(), "free the slice that was allocated", name)
			}
			s, err := mmalloc.MakeSlice[uint64](a, n/8, n/8)
			require.NoError(t, err)
			err = mmalloc.FreeSlice(a, append(s, 1))
			require.ErrorIs(t, err, mmalloc.ErrForeignPointer)
			assert.Contains(t, err.Error(), "append")
			assert.Equal(t, before.Live+1, a.Stats().Live, "b (and now s) are still live")
			require.NoError(t, a.Free(b))
			require.NoError(t, mmalloc.FreeSlice(a, s))
		}
		c.Flush()
		require.NoError(t, a.Validate())
		assert.Zero(t, a.Stats().Live)
	}
}

// TestMessagesPointTheRightWay: each error says what most likely
// happened, and not what did not. ErrForeignPointer blames append past cap
// only among the possibilities for a slice, never for a Ref or for memory
// known to be another Allocator's; ErrInvalidSize gives the maximum;
// ErrDoubleFree names a Realloc that moved the memory; the zero
// Allocator's error names New. Every mode, and nothing changes.
func TestMessagesPointTheRightWay(t *testing.T) {
	for _, mode := range []struct {
		name string
		o    mmalloc.Options
	}{{"default", mmalloc.Options{}}, {"Guard", mmalloc.Options{Guard: true}}, {"Shared", mmalloc.Options{Shared: true}}} {
		t.Run(mode.name, func(t *testing.T) {
			a := newAlloc(t, mode.o)
			other := newAlloc(t, mode.o)
			alloc := func(a *mmalloc.Allocator, n int) []byte {
				b, err := a.Alloc(n)
				require.NoError(t, err)
				return b
			}
			small, large := alloc(a, 100), alloc(a, 3*mib)
			otherSmall, otherLarge := alloc(other, 100), alloc(other, 3*mib)
			movedSmall, movedLarge := alloc(a, 100), alloc(a, 3*mib)
			nb, err := a.Realloc(movedSmall, 5000) // another class
			require.NoError(t, err)
			require.NotEqual(t, addr(movedSmall), addr(nb))
			defer a.Free(nb)
			nb, err = a.Realloc(movedLarge, 100) // large to small
			require.NoError(t, err)
			require.NotEqual(t, addr(movedLarge), addr(nb))
			defer a.Free(nb)

			for _, c := range []struct {
				name string
				call func() error
				want error
				says []string
				not  []string
			}{
				{"Free of another Allocator's small object", func() error { return a.Free(otherSmall) },
					mmalloc.ErrForeignPointer, []string{"another Allocator"}, []string{"append"}},
				{"Realloc of another Allocator's small object", func() error { return err1(a.Realloc(otherSmall, 10)) },
					mmalloc.ErrForeignPointer, []string{"another Allocator"}, []string{"append"}},
				{"FreeRef of another Allocator's small object", func() error { return a.FreeRef(mmalloc.RefOf(otherSmall)) },
					mmalloc.ErrForeignPointer, []string{"another Allocator"}, []string{"append"}},
				{"Free of another Allocator's large object", func() error { return a.Free(otherLarge) },
					mmalloc.ErrForeignPointer, []string{"another Allocator"}, nil},
				{"FreeRef of another Allocator's large object", func() error { return a.FreeRef(mmalloc.RefOf(otherLarge)) },
					mmalloc.ErrForeignPointer, []string{"another Allocator"}, []string{"append"}},
				{"FreeRef of a forged Ref", func() error { return a.FreeRef(0x12345) },
					mmalloc.ErrForeignPointer, []string{"Ref 0x12345", "another Allocator", "no AllocRef or RefOf"}, []string{"append"}},
				{"Bytes of a forged Ref", func() error { return err1(a.Bytes(0x12345)) },
					mmalloc.ErrForeignPointer, []string{"Ref 0x12345", "another Allocator"}, []string{"append"}},
				{"Realloc of a slice from make", func() error { return err1(a.Realloc(make([]byte, 10), 20)) },
					mmalloc.ErrForeignPointer, []string{"make", "another Allocator"}, nil},
				{"Free of a slice grown by append", func() error { return a.Free(append(small[:cap(small)], 1)) },
					mmalloc.ErrForeignPointer, []string{"grown by append past its cap", "free the slice that was allocated"}, nil},
				{"Alloc(1<<62)", func() error { return err1(a.Alloc(1 << 62)) },
					mmalloc.ErrInvalidSize, []string{"4611686018427387904", "MaxAllocBytes", fmt.Sprint(mmalloc.MaxAllocBytes)}, nil},
				{"Realloc to 1<<62", func() error { return err1(a.Realloc(large, 1<<62)) },
					mmalloc.ErrInvalidSize, []string{"MaxAllocBytes", fmt.Sprint(mmalloc.MaxAllocBytes)}, nil},
				{"MakeSlice of 1<<62 words", func() error { return err1(mmalloc.MakeSlice[uint64](a, 1<<62, 1<<62)) },
					mmalloc.ErrInvalidSize, []string{"MaxAllocBytes", fmt.Sprint(mmalloc.MaxAllocBytes)}, nil},
				{"Alloc(-5)", func() error { return err1(a.Alloc(-5)) },
					mmalloc.ErrInvalidSize, []string{"-5", "negative"}, []string{"MaxAllocBytes"}},
				{"Free of the old slice of a small Realloc that moved", func() error { return a.Free(movedSmall) },
					mmalloc.ErrDoubleFree, []string{"Realloc that moved it"}, nil},
				{"Free of the old slice of a large Realloc that moved", func() error { return a.Free(movedLarge) },
					mmalloc.ErrDoubleFree, []string{"Realloc that moved it"}, nil},
				{"FreeRef of the old Ref of a Realloc that moved", func() error { return a.FreeRef(mmalloc.RefOf(movedSmall)) },
					mmalloc.ErrDoubleFree, []string{"Realloc that moved it"}, nil},
			} {
				before, beforeOther := a.Stats(), other.Stats()
				err := c.call()
				require.ErrorIs(t, err, c.want, c.name)
				for _, s := range c.says {
					assert.Contains(t, err.Error(), s, c.name)
				}
				for _, s := range c.not {
					assert.NotContains(t, err.Error(), s, c.name)
				}
				assert.Equal(t, before, a.Stats(), "%s: nothing changed", c.name)
				assert.Equal(t, beforeOther, other.Stats(), "%s: nothing changed", c.name)
			}
			require.NoError(t, a.Validate())
			require.NoError(t, other.Validate())
		})
	}

	r, err := arena.NewRegion(arena.RegionOptions{})
	require.NoError(t, err)
	defer r.Release()
	_, err = r.Alloc(1 << 62)
	require.ErrorIs(t, err, mmalloc.ErrInvalidSize)
	assert.Contains(t, err.Error(), fmt.Sprint(mmalloc.MaxAllocBytes))

	for name, a := range map[string]*mmalloc.Allocator{"zero": {}, "nil": nil} {
		for call, err := range map[string]error{
			"Alloc":   err1(a.Alloc(1)),
			"Free":    a.Free(make([]byte, 1)),
			"Realloc": err1(a.Realloc(nil, 1)),
			"FreeRef": a.FreeRef(1),
			"Trim":    a.Trim(),
		} {
			require.ErrorIs(t, err, mmalloc.ErrUninitialized, "%s Allocator: %s", name, call)
			assert.Contains(t, err.Error(), "New", "%s Allocator: %s", name, call)
		}
	}
}

func err1(_ any, err error) error { return err }
