package errs

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestForeignSaysWhatProbablyHappened: the errors for memory never handed
// out are ErrForeignPointer and name the address. For a slice, the
// possibilities are named, a slice grown by append past its cap (with
// what to do) among them; for a Ref, or memory known to be another
// Allocator's, append is not blamed.
func TestForeignSaysWhatProbablyHappened(t *testing.T) {
	err := Foreign(0xc000123450)
	assert.ErrorIs(t, err, ErrForeignPointer)
	assert.Contains(t, err.Error(), "0xc000123450")
	for _, hint := range []string{"another Allocator", "already unmapped", "make", "grown by append past its cap", "free the slice that was allocated"} {
		assert.Contains(t, err.Error(), hint)
	}

	err = ForeignRef(12345)
	assert.ErrorIs(t, err, ErrForeignPointer)
	assert.Contains(t, err.Error(), "Ref 0x3039")
	assert.Contains(t, err.Error(), "another Allocator")
	assert.NotContains(t, err.Error(), "append")

	err = OtherAllocator(0x7f0000001000)
	assert.ErrorIs(t, err, ErrForeignPointer)
	assert.Contains(t, err.Error(), "0x7f0000001000 lies in memory of another Allocator")
	assert.NotContains(t, err.Error(), "append")
}

// TestDoubleFreeNamesRealloc: the error for memory no longer allocated is
// ErrDoubleFree, names what it was given, and says that a Realloc that
// moved the memory freed it, as well as a Free.
func TestDoubleFreeNamesRealloc(t *testing.T) {
	err := DoubleFree("the 16-byte object at 0x7f0000001000")
	assert.ErrorIs(t, err, ErrDoubleFree)
	assert.Contains(t, err.Error(), "the 16-byte object at 0x7f0000001000: freed already")
	assert.Contains(t, err.Error(), "by a Realloc that moved it")
}

// TestOneValuePerMeaning: the sentinels are distinct values, each its own
// meaning, and none wraps another.
func TestOneValuePerMeaning(t *testing.T) {
	all := []error{ErrInvalidSize, ErrForeignPointer, ErrInvalidPointer, ErrDoubleFree, ErrOutOfMemory,
		ErrClosed, ErrInvalidOption, ErrPointerType, ErrUninitialized, ErrCorrupted}
	for i, a := range all {
		for j, b := range all {
			assert.Equal(t, i == j, errors.Is(a, b), "%v vs %v", a, b)
		}
		assert.Regexp(t, `^mmalloc: `, a.Error(), fmt.Sprint(a))
	}
}
