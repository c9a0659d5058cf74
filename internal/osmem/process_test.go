package osmem

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestProcessHeldAndWatch(t *testing.T) {
	var mu sync.Mutex
	var seen []int64
	step := int64(4 * PageBytes)
	base := ProcessHeld()
	Watch(step, func(m int64) { mu.Lock(); seen = append(seen, m); mu.Unlock() })
	defer Watch(0, nil)
	require.Equal(t, []int64{base}, seen, "called once at install")

	s, o := NewSource(0), NewSource(0)
	p, err := s.Map(2 * PageBytes) // below the step: no call
	require.NoError(t, err)
	assert.Equal(t, base+int64(2*PageBytes), ProcessHeld())
	assert.Len(t, seen, 1)
	q, err := o.Map(3 * PageBytes) // 5 pages from the last call: one call
	require.NoError(t, err)
	assert.Equal(t, []int64{base, base + int64(5*PageBytes)}, seen)

	q, err = o.Remap(q, 3*PageBytes, 9*PageBytes) // +6 pages
	require.NoError(t, err)
	assert.Equal(t, base+int64(11*PageBytes), seen[len(seen)-1])
	assert.Equal(t, uint64(1), o.Remaps())

	s.Unmap(p, 2*PageBytes)
	o.Unmap(q, 9*PageBytes)
	assert.Equal(t, base, ProcessHeld())
	assert.Equal(t, base, seen[len(seen)-1], "back where it started")

	// A refused mapping leaves the count where it was.
	lim := NewSource(int64(PageBytes))
	_, err = lim.Map(2 * PageBytes)
	require.Error(t, err)
	assert.Equal(t, base, ProcessHeld())

	// Removed: no more calls.
	Watch(0, nil)
	n := len(seen)
	p, err = s.Map(8 * PageBytes)
	require.NoError(t, err)
	s.Unmap(p, 8*PageBytes)
	assert.Len(t, seen, n)
}
