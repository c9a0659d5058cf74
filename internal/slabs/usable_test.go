package slabs

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mmalloc/mmalloc/internal/chunk"
	"github.com/mmalloc/mmalloc/internal/errs"
)

// TestUsableAgreesWithFreeObject checks that Usable accepts exactly what
// FreeObject would, with the same errors, for held, interior and freed
// objects of several classes, and that it changes nothing.
func TestUsableAgreesWithFreeObject(t *testing.T) {
	cs, _ := newCentrals(t, 1<<30)
	for _, n := range []int{8, 48, 112, 1024, 32 << 10, MaxSmallBytes} {
		c := ClassOf(n)
		var held []uintptr
		var l Local
		for range 70 { // more than two words of owner bits per slab
			p, _ := take(t, cs, &l, c)
			held = append(held, p)
		}
		for _, p := range held {
			ch := chunk.Lookup(p)
			got, err := Usable(ch, p)
			require.NoError(t, err)
			assert.Equal(t, c, got)
			_, err = Usable(ch, p+1)
			assert.ErrorIs(t, err, errs.ErrInvalidPointer)
		}
		freed := held[len(held)/2]
		require.NoError(t, giveBack(freed))
		_, err := Usable(chunk.Lookup(freed), freed)
		assert.ErrorIs(t, err, errs.ErrDoubleFree)
		for i, p := range held {
			if p == freed {
				continue
			}
			_, err := Usable(chunk.Lookup(p), p)
			require.NoError(t, err, "object %d still held", i)
			require.NoError(t, giveBack(p), "Usable changed nothing: FreeObject still works")
		}
		drain(cs, &l)
		_, err = validate(cs)
		require.NoError(t, err)
	}
}
