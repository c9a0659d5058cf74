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

// TestValidateReportsEachBrokenInvariant breaks each invariant that
// validate checks at the Allocator's level (and guard mode's), one at a
// time, and shows that validate reports it with its own message, and
// that it holds again once mended: no check of these can pass for the
// wrong reason.
func TestValidateReportsEachBrokenInvariant(t *testing.T) {
	for _, tc := range []struct {
		b     mmalloc.Break
		guard bool
		want  string
	}{
		{mmalloc.BreakGuardQuarantineBytes, true, "guard quarantine counts"},
		{mmalloc.BreakGuardHeld, true, "slots of class"},
		{mmalloc.BreakGuardLargeMapped, true, "large objects in"},
		{mmalloc.BreakGuardLargeAllocs, true, "large allocs"},
		{mmalloc.BreakGuardLargeInUse, true, "in use in large objects"},
		{mmalloc.BreakGuardSmallInUse, true, "in use in objects of class 1"},
		{mmalloc.BreakLargeRegistry, false, "large: "},
		{mmalloc.BreakMapped, false, "Mapped is"},
		{mmalloc.BreakRetainedOverBudget, false, "over the budget"},
		{mmalloc.BreakCharged, false, "charged to the retention budget"},
		{mmalloc.BreakClassOut, false, "objects held in its slabs"},
	} {
		t.Run(string(tc.b), func(t *testing.T) {
			a := newAlloc(t, mmalloc.Options{Guard: tc.guard})
			small, err := a.Alloc(100)
			require.NoError(t, err)
			require.NoError(t, a.Free(small)) // quarantined in guard mode
			live, err := a.Alloc(3 * mib)
			require.NoError(t, err)
			kept, err := a.Alloc(2 * mib)
			require.NoError(t, err)
			require.NoError(t, a.Free(kept)) // kept for reuse (retired in guard mode)
			require.NoError(t, a.Validate())

			mend := a.Breaks(tc.b)
			err = a.Validate()
			require.Error(t, err, "validate missed a broken invariant")
			assert.Contains(t, err.Error(), tc.want)
			mend()
			require.NoError(t, a.Validate(), "mended")
			require.NoError(t, a.Free(live))
		})
	}
}
