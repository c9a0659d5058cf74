package slabs

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSlabLayout pins the Slab record's layout (see Slab): the fields a
// Free or a hand-out touches, and the first owner word, share the record's
// first cache line; owner words 1 to 7 lie in the second; records start on
// a line; and owner bits kept outside the record fill whole lines of their
// own, so that no two slabs' bits share one.
func TestSlabLayout(t *testing.T) {
	var s Slab
	require.Equal(t, uintptr(slabRecordBytes), unsafe.Sizeof(s))
	line := func(off uintptr) uintptr { return off / cacheLineBytes }
	for name, off := range map[string]uintptr{
		"base": unsafe.Offsetof(s.base), "inv": unsafe.Offsetof(s.inv), "state": unsafe.Offsetof(s.state),
		"ownedBase": unsafe.Offsetof(s.ownedBase), "size": unsafe.Offsetof(s.size), "objects": unsafe.Offsetof(s.objects),
		"reuseAt": unsafe.Offsetof(s.reuseAt), "fresh": unsafe.Offsetof(s.fresh), "rot": unsafe.Offsetof(s.rot),
		"class": unsafe.Offsetof(s.class), "zeroed": unsafe.Offsetof(s.zeroed), "inl[0]": unsafe.Offsetof(s.inl),
	} {
		assert.Zero(t, line(off), "%s lies outside the first line", name)
	}
	for w := 1; w < inlineOwnerWords; w++ {
		assert.Equal(t, uintptr(1), line(unsafe.Offsetof(s.inl)+uintptr(w)*8), "owner word %d", w)
	}
	assert.Equal(t, uintptr(1), line(unsafe.Offsetof(s.lastMask)))

	cs, _ := newCentrals(t, 0)
	for c := 1; c < NumClasses; c++ {
		sl, err := cs[c].Acquire()
		require.NoError(t, err)
		addr := uintptr(unsafe.Pointer(sl))
		assert.Zero(t, addr%cacheLineBytes, "class %d: the record starts inside a line", c)
		words := (int(sl.objects) + 63) / 64
		require.Len(t, sl.owned, words)
		bitsAt := uintptr(unsafe.Pointer(unsafe.SliceData(sl.owned)))
		assert.Equal(t, unsafe.Pointer(unsafe.SliceData(sl.owned)), sl.ownedBase)
		if words <= inlineOwnerWords {
			assert.Equal(t, addr+unsafe.Offsetof(sl.inl), bitsAt, "class %d: %d owner words outside the record", c, words)
		} else {
			assert.Zero(t, bitsAt%cacheLineBytes, "class %d: owner bits start inside a line", c)
			assert.Zero(t, cap(sl.owned)%(cacheLineBytes/8), "class %d: owner bits end inside a line", c)
		}
		// Whole units of the chunk's unit table (chunk.Memo), so that a
		// Free finds the slab there rather than in the page table.
		assert.Zero(t, (sl.base-sl.chunk.Base())%(64<<10), "class %d: the slab starts inside a 64 KiB unit", c)
		if ClassBytes(c) >= 1024 {
			assert.LessOrEqual(t, words, 1, "class %d: its owner bits are not all in the first line", c)
		}
		cs[c].Abandon(sl, 0)
	}
}
