package errs

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestForeignSaysWhatProbablyHappened: the error of a Free of memory never
// handed out is ErrForeignPointer, names the address, and says that a
// slice grown by append past its cap is the likely cause and what to do.
func TestForeignSaysWhatProbablyHappened(t *testing.T) {
	err := Foreign(0xc000123450)
	assert.ErrorIs(t, err, ErrForeignPointer)
	assert.Contains(t, err.Error(), "0xc000123450")
	assert.Contains(t, err.Error(), "grown by append past its cap")
	assert.Contains(t, err.Error(), "free the slice that was allocated")
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
