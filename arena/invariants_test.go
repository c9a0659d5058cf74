package arena

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mmalloc/mmalloc/internal/invariants"
)

// TestRegionInvariantsBuildChecksEveryCall: with -tags invariants, a
// broken invariant of a Region is caught by the very next call.
func TestRegionInvariantsBuildChecksEveryCall(t *testing.T) {
	if !invariants.Enabled {
		t.Skip("run with -tags invariants")
	}
	for _, tc := range []struct {
		name string
		call func(a *Region)
	}{
		{"Alloc", func(a *Region) { _, _ = a.Alloc(8) }},
		{"Alloc of a bad size", func(a *Region) { _, _ = a.Alloc(-1) }},
		{"NewValue", func(a *Region) { _, _ = NewValue[int64](a) }},
		{"MakeSlice", func(a *Region) { _, _ = MakeSlice[int32](a, 4, 4) }},
		{"Reset", func(a *Region) { _ = a.Reset() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newRegion(t, RegionOptions{})
			_, err := a.Alloc(100)
			require.NoError(t, err)
			a.chunks = append(a.chunks, mapping{bytes: a.chunkBytes}) // a chunk never mapped
			defer func() {
				r := recover()
				require.NotNil(t, r, "the broken invariant went unnoticed")
				assert.Contains(t, r, "arena: invariant broken after "+tc.name[:min(len(tc.name), 5)])
				a.chunks = a.chunks[:len(a.chunks)-1]
			}()
			tc.call(a)
		})
	}
}
