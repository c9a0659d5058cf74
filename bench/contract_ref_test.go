package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestRefRowContract: the gc workload's mmalloc-ref row zeroes and is
// goroutine-safe, as the mmalloc row it is held beside, so the tables
// set it against the zeroed peers.
func TestRefRowContract(t *testing.T) {
	assert.True(t, zeroedOf(gcRefKind.Name))
	w := &WorkloadReport{}
	assert.Equal(t, "goroutine-safe", w.safetyOf(gcRefKind.Name))
	assert.Equal(t, "same (goroutine-safe)", w.safetyDiff(gcRefKind.Name, "go-heap"))
	_, ok := lookupKind(gcRefKind.Name)
	assert.False(t, ok, "-alloc does not offer it: only gc runs it")
}
