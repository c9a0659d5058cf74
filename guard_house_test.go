package mmalloc_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mmalloc/mmalloc"
)

// TestValidateGuardModeCachesOwnNoSlab: guard mode serves every small
// object from the Centrals under its lock and counts on no cache, a P's
// or a Cache, ever owning a slab. Validate reports a slab planted in
// either kind of cache, and is content again once it is taken out.
func TestValidateGuardModeCachesOwnNoSlab(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cache bool
	}{
		{"a P's cache", false},
		{"a Cache", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newAlloc(t, mmalloc.Options{Guard: true})
			c := a.NewCache()
			defer func() { assert.NoError(t, c.Close()) }()
			// Guard mode's own paths leave every cache empty.
			b, err := c.Alloc(100)
			require.NoError(t, err)
			require.NoError(t, c.Free(b))
			b, err = a.Alloc(100)
			require.NoError(t, err)
			require.NoError(t, a.Free(b))
			require.NoError(t, a.Validate())

			var into *mmalloc.Cache
			if tc.cache {
				into = c
			}
			undo, err := a.PlantSlabForTest(into)
			require.NoError(t, err)
			err = a.Validate()
			undo()
			assert.ErrorContains(t, err, "guard mode, but a cache owns a slab of class 1")
			assert.NoError(t, a.Validate(), "the slab taken back out")
		})
	}
}
