package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestGCKinds(t *testing.T) {
	mm, _ := lookupKind("mmalloc")
	heap, _ := lookupKind("go-heap")
	in := []Kind{heap, mm, heap}
	got := gcKinds(in)
	names := make([]string, len(got))
	for i, k := range got {
		names[i] = k.Name
	}
	assert.Equal(t, []string{"go-heap", "mmalloc", "mmalloc-ref", "go-heap"}, names)
	assert.Equal(t, "go-heap", in[2].Name, "the caller's list is left alone")
	assert.Len(t, gcKinds([]Kind{heap}), 1, "no mmalloc, no Ref row")
}

// TestGCHoldRefs holds a small live set as Refs and checks that it is
// allocated and written, and that the cleanup times the forced GC and
// frees it all.
func TestGCHoldRefs(t *testing.T) {
	a, err := gcRefKind.New()
	require.NoError(t, err)
	defer a.Close()
	m := a.(*mmallocAllocator)
	var forced Figure
	cleanup, err := gcHoldRefs(m, gcLiveSet{size: 256, count: 1000}, &forced)
	require.NoError(t, err)
	s := m.a.Stats()
	assert.Equal(t, int64(1000), s.Live)
	assert.Equal(t, int64(256*1000), s.InUse)
	assert.Greater(t, m.a.Resident(), int64(0), "the live set was written")
	require.NoError(t, cleanup())
	assert.Len(t, forced.Values, forcedGCs)
	assert.Zero(t, m.a.Stats().Live)
}
