package osmem

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestReleasedAccounting follows Released, and what it takes out of the
// bytes held (Mapped - Released, what Limit bounds and the process count
// adds up), through every call that moves it: MarkReleased, MarkHeld (a
// refused one too), Release (which gives pages back but leaves the
// counting to its caller), UnmapReleased, and Retire.
func TestReleasedAccounting(t *testing.T) {
	page := int64(PageBytes)
	s := NewSource(8 * page)
	proc := ProcessHeld()
	check := func(mapped, released int64, msg string) {
		t.Helper()
		assert.Equal(t, mapped, s.Mapped(), "Mapped: %s", msg)
		assert.Equal(t, released, s.Released(), "Released: %s", msg)
		assert.Equal(t, mapped-released, s.held.Load(), "held: %s", msg)
		assert.Equal(t, proc+mapped-released, ProcessHeld(), "ProcessHeld: %s", msg)
	}

	p, err := s.Map(uintptr(6 * page))
	require.NoError(t, err)
	check(6*page, 0, "mapped")
	s.MarkReleased(uintptr(4 * page)) // never touched, say
	check(6*page, 4*page, "4 pages marked released")
	assert.Equal(t, 6*page, s.Peak(), "the peak stays")

	q, err := s.Map(uintptr(4 * page))
	require.NoError(t, err, "released bytes leave room under Limit")
	check(10*page, 4*page, "4 more mapped")
	require.NoError(t, s.MarkHeld(uintptr(page)))
	check(10*page, 3*page, "1 page held again")
	assert.Equal(t, 7*page, s.Peak())

	err = s.MarkHeld(uintptr(2 * page))
	require.ErrorIs(t, err, ErrNoMemory, "9 pages held would pass the limit of 8")
	require.ErrorIs(t, err, ErrLimit)
	check(10*page, 3*page, "a refused MarkHeld changes nothing")
	assert.Equal(t, 7*page, s.Peak())
	require.NoError(t, s.MarkHeld(0))
	check(10*page, 3*page, "MarkHeld(0)")

	b := (*[1 << 30]byte)(q)[: 4*page : 4*page]
	b[0], b[page] = 1, 2
	s.Release(q, uintptr(2*page))
	assert.Zero(t, b[0], "released pages read as zero")
	check(10*page, 3*page, "Release counts nothing by itself")
	s.MarkReleased(uintptr(2 * page))
	check(10*page, 5*page, "its caller marks them")
	require.NoError(t, s.MarkHeld(uintptr(3*page)), "room again")
	check(10*page, 2*page, "3 pages held again")
	assert.Equal(t, 8*page, s.Peak())

	s.UnmapReleased(q, uintptr(4*page), uintptr(page))
	check(6*page, page, "4 pages unmapped, 1 of them released")
	s.UnmapReleased(p, uintptr(6*page), uintptr(page))
	check(0, 0, "all unmapped")

	// Retire gives a mapping's pages back and stops counting it at once:
	// nothing of it stays Released.
	r, err := s.Map(uintptr(2 * page))
	require.NoError(t, err)
	require.True(t, s.Retire(r, uintptr(2*page)))
	check(0, 0, "retired")
	s.Drop(r, uintptr(2*page))
	check(0, 0, "dropped")
	assert.Equal(t, 8*page, s.Peak())
}
