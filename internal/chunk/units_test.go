package chunk

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestUnitTable: a run of whole units (every slab's) is entered in the
// chunk's unit table, a run that covers a unit only in part is not, and
// freeing any page of a unit takes the unit out; Memo.Owner gives the
// page table's answer for every page either way.
func TestUnitTable(t *testing.T) {
	h, _ := newHeap(t, 1<<20, 1<<20)
	up := unitPages()
	a, b, c := unsafe.Pointer(new(int)), unsafe.Pointer(new(int)), unsafe.Pointer(new(int))
	ch, pa, _, err := h.AllocPages(2*up, a) // units 0 and 1
	require.NoError(t, err)
	_, pb, _, err := h.AllocPages(1, b) // the first page of unit 2
	require.NoError(t, err)
	_, pc, _, err := h.AllocPages(2*up-1, c) // the rest of unit 2, and unit 3
	require.NoError(t, err)
	require.Equal(t, []int{0, 2 * up, 2*up + 1}, []int{pa, pb, pc}, "first fit")
	require.NoError(t, h.Validate())

	assert.Equal(t, []unsafe.Pointer{a, a, nil, c}, ch.units[:4])
	for _, u := range ch.units[4:] {
		assert.Nil(t, u)
	}
	var m Memo
	m.Set(ch)
	check := func() {
		t.Helper()
		for p := 0; p < ch.pages; p++ {
			addr := ch.Base() + uintptr(p)*PageBytes + 8
			require.Equal(t, ch.Owner(p), m.Owner(addr), "page %d", p)
		}
	}
	check()

	h.FreePages(ch, 1, 1) // one page of unit 0
	assert.Nil(t, ch.units[0], "a unit with a free page has no owner")
	assert.Equal(t, a, ch.units[1])
	require.NoError(t, h.Validate())
	check()

	h.FreePages(ch, pb, 1)
	h.FreePages(ch, pc, 2*up-1)
	assert.Nil(t, ch.units[3])
	require.NoError(t, h.Validate())
	check()
}
