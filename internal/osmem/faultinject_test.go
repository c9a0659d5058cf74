package osmem

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// TestFailSyscallsFrom: from the chosen request on, the reservation is
// made and the kernel call refused, so each request's undo runs: nothing
// stays reserved, the peak does not move, and every later request is
// refused too until injection is disarmed. Requests are counted whether
// they fail or not.
func TestFailSyscallsFrom(t *testing.T) {
	s := NewSource(0)
	p, err := s.Map(PageBytes)
	require.NoError(t, err)
	s.FailSyscallsFrom(2)
	q, err := s.Map(PageBytes)
	require.NoError(t, err, "the first request is not refused")
	peak := s.Peak()
	for _, c := range []struct {
		name string
		call func() error
	}{
		{"Map", func() error { _, err := s.Map(PageBytes); return err }},
		{"MapAligned", func() error { _, err := s.MapAligned(16*PageBytes, 16*PageBytes, 0); return err }},
		{"MapAligned with a hint", func() error {
			_, err := s.MapAligned(16*PageBytes, 16*PageBytes, 1<<40)
			return err
		}},
		{"Remap growing", func() error { _, err := s.Remap(q, PageBytes, 4*PageBytes); return err }},
		{"Remap shrinking", func() error { _, err := s.Remap(q, PageBytes, PageBytes/2); return err }},
		{"Guard", func() error { return s.Guard(q, PageBytes) }},
	} {
		name, call := c.name, c.call
		err := call()
		require.ErrorIs(t, err, ErrNoMemory, name)
		assert.True(t, errors.Is(err, unix.ENOMEM), name)
		assert.Equal(t, int64(2*PageBytes), s.Mapped(), "%s: the reservation was given back", name)
		assert.Equal(t, peak, s.Peak(), name)
	}
	assert.Equal(t, int64(6), s.Requests(), "Map, both MapAligned, the growing Remap and Guard; a shrink reserves nothing")
	s.FailAfter(0)
	assert.Zero(t, s.Requests())
	r, err := s.Map(PageBytes)
	require.NoError(t, err, "disarmed")
	*(*byte)(q) = 1 // q is still mapped, writable: nothing was guarded
	s.Unmap(p, PageBytes)
	s.Unmap(q, PageBytes)
	s.Unmap(r, PageBytes)
	assert.Zero(t, s.Mapped())
}

// TestFailAfterCountsWithoutFailing: armed far ahead, injection counts a
// workload's requests and fails none, which is how the sweeps size
// themselves.
func TestFailAfterCountsWithoutFailing(t *testing.T) {
	s := NewSource(0)
	s.FailAfter(1 << 62)
	var ps []uintptr
	for range 5 {
		p, err := s.Map(PageBytes)
		require.NoError(t, err)
		ps = append(ps, uintptr(p))
	}
	assert.Equal(t, int64(5), s.Requests())
	for _, p := range ps {
		s.Unmap(AddrPointer(p), PageBytes)
	}
	s.FailAfter(0)
}

// TestFailAfterEveryRequest: each kind of mapping request fails when it is
// the chosen one, before its reservation, changing nothing.
func TestFailAfterEveryRequest(t *testing.T) {
	s := NewSource(0)
	p, err := s.Map(PageBytes)
	require.NoError(t, err)
	for _, c := range []struct {
		name string
		call func() error
	}{
		{"Map", func() error { _, err := s.Map(PageBytes); return err }},
		{"MapAligned", func() error { _, err := s.MapAligned(16*PageBytes, 16*PageBytes, 0); return err }},
		{"Remap growing", func() error { _, err := s.Remap(p, PageBytes, 4*PageBytes); return err }},
		{"Guard", func() error { return s.Guard(p, PageBytes) }},
	} {
		s.FailAfter(1)
		err := c.call()
		require.ErrorIs(t, err, ErrNoMemory, c.name)
		assert.True(t, errors.Is(err, unix.ENOMEM), c.name)
		assert.Equal(t, int64(PageBytes), s.Mapped(), c.name)
		assert.Equal(t, int64(1), s.Requests(), c.name)
	}
	s.FailAfter(0)
	*(*byte)(p) = 1 // still mapped and writable
	s.Unmap(p, PageBytes)
	assert.Zero(t, s.Mapped())
}
