package heapprof

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestLiveSet runs random puts, removes and resizes against a map: every
// entry is found with its bucket, every other address is not, the count
// is exact, and the table stays at most half full (or a quarter after
// fit). Addresses come from a small pool, so that probe runs are long and
// wrap around the end of the table, and removals move entries back.
func TestLiveSet(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	pool := make([]uintptr, 300)
	for i := range pool {
		pool[i] = uintptr(r.Uint64N(1<<20)+1) << granuleShift
	}
	buckets := make([]*bucket, 4)
	for i := range buckets {
		buckets[i] = &bucket{size: int64(i)}
	}
	var s liveSet
	model := map[uintptr]*bucket{}
	for step := range 100_000 {
		addr := pool[r.IntN(len(pool))]
		switch op := r.IntN(10); {
		case op < 5:
			b := buckets[r.IntN(len(buckets))]
			assert.Same(t, model[addr], s.put(addr, b), "put returns the bucket replaced")
			model[addr] = b
		case op < 9:
			assert.Same(t, model[addr], s.remove(addr), "remove returns the bucket removed")
			delete(model, addr)
		default:
			if step%100 == 9 {
				s.fit()
				require.True(t, s.n == 0 && s.slots == nil || 4*s.n <= len(s.slots), "fit: a quarter full at most")
			}
		}
		require.Equal(t, len(model), s.n)
		require.LessOrEqual(t, 2*s.n, len(s.slots))
		if step%97 == 0 {
			for _, a := range pool {
				require.Same(t, model[a], s.get(a), "step %d: %#x", step, a)
			}
			seen := 0
			s.each(func(a uintptr, b *bucket) {
				seen++
				require.Same(t, model[a], b)
			})
			require.Equal(t, len(model), seen)
		}
	}
	s.clear()
	assert.Zero(t, s.n)
	for _, a := range pool {
		assert.Nil(t, s.get(a))
	}
	s.fit()
	assert.Nil(t, s.slots, "empty: no table")
}
