package mmalloc_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mmalloc/mmalloc"
)

// TestInvariantsBuildChecksEveryCall: with -tags invariants, a broken
// invariant is caught by the very next call, whichever it is.
func TestInvariantsBuildChecksEveryCall(t *testing.T) {
	if !mmalloc.Invariants {
		t.Skip("run with -tags invariants")
	}
	for _, tc := range []struct {
		name string
		call func(a *mmalloc.Allocator, c *mmalloc.Cache)
	}{
		{"Alloc", func(a *mmalloc.Allocator, _ *mmalloc.Cache) { _, _ = a.Alloc(8) }},
		{"Free of a foreign slice", func(a *mmalloc.Allocator, _ *mmalloc.Cache) { _ = a.Free(make([]byte, 8)) }},
		{"Trim", func(a *mmalloc.Allocator, _ *mmalloc.Cache) { _ = a.Trim() }},
		{"Cache.Alloc", func(_ *mmalloc.Allocator, c *mmalloc.Cache) { _, _ = c.Alloc(8) }},
		{"Cache.Flush", func(_ *mmalloc.Allocator, c *mmalloc.Cache) { c.Flush() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newAlloc(t, mmalloc.Options{})
			c := a.NewCache()
			b, err := c.Alloc(8) // a Cache holding objects is counted, not a break
			require.NoError(t, err)
			tc.call(a, c)
			a.MiscountForTest()
			defer func() {
				r := recover()
				require.NotNil(t, r, "the broken invariant went unnoticed")
				assert.Contains(t, r, "mmalloc: invariant broken after")
			}()
			tc.call(a, c)
			_ = b
		})
	}
}
