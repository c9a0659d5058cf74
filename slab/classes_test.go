package slab

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/mmalloc/mmalloc/internal/slabs"
)

// TestClassesMatchTheEngine: the exported table is the engine's, classes
// 1 to NumClasses, and every argument outside it gets 0, not a panic.
func TestClassesMatchTheEngine(t *testing.T) {
	assert.Equal(t, slabs.NumClasses, NumClasses, "the engine counts the same classes")
	// The classes, counted: every size up to MaxSmallBytes has one, the
	// smallest is 1 and the largest NumClasses.
	classes := map[int]bool{}
	for n := 1; n <= MaxSmallBytes; n++ {
		classes[ClassOf(n)] = true
	}
	assert.Len(t, classes, NumClasses)
	assert.False(t, classes[0], "every size up to MaxSmallBytes has a class")
	assert.True(t, classes[1])
	assert.True(t, classes[NumClasses])
	assert.Equal(t, slabs.MaxSmallBytes, MaxSmallBytes)
	assert.Equal(t, slabs.OwnedBytesBound(), OwnedBytesBound())
	prev := 0
	for c := 1; c <= NumClasses; c++ {
		assert.Greater(t, ClassBytes(c), prev, "class %d grows", c)
		assert.Equal(t, c, ClassOf(ClassBytes(c)), "class %d serves its own size", c)
		assert.Equal(t, c, ClassOf(prev+1), "class %d serves one byte past the class below", c)
		assert.Zero(t, ClassSlabBytes(c)%(64<<10), "class %d's slab is whole 64 KiB units", c)
		prev = ClassBytes(c)
	}
	assert.Equal(t, MaxSmallBytes, prev, "the last class is MaxSmallBytes")
	for _, bad := range []int{-1 << 62, -1, 0, NumClasses + 1, 1 << 40} {
		assert.Zero(t, ClassBytes(bad), "ClassBytes(%d)", bad)
		assert.Zero(t, ClassSlabBytes(bad), "ClassSlabBytes(%d)", bad)
	}
	for _, bad := range []int{-1 << 62, -1, 0, MaxSmallBytes + 1, 1 << 62} {
		assert.Zero(t, ClassOf(bad), "ClassOf(%d)", bad)
	}
}
