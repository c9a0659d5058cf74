package mmalloc_test

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mmalloc/mmalloc"
)

// TestRacingDoubleFree frees one object from two goroutines at the same
// moment, again and again, through the shared Allocator and through two
// Caches: exactly one Free may succeed and the other must be refused as
// a double free. Were both to succeed, the object would be handed out
// twice and the slab's counts would no longer agree with its bitmap
// (validate says so, and a refill from that slab could loop). In "cache
// owned" the object comes from the first Cache, whose Free takes its
// quickest step (the object goes back into its reserve) while the other
// Cache's takes the chunk's.
func TestRacingDoubleFree(t *testing.T) {
	rounds := 20000
	if testing.Short() || raceEnabled {
		rounds = 3000
	}
	for _, via := range []string{"allocator", "caches", "cache owned"} {
		t.Run(via, func(t *testing.T) {
			a := newAlloc(t, mmalloc.Options{})
			free := [2]func([]byte) error{a.Free, a.Free}
			alloc := a.Alloc
			var caches []*mmalloc.Cache
			if via != "allocator" {
				c0, c1 := a.NewCache(), a.NewCache()
				caches = []*mmalloc.Cache{c0, c1}
				free = [2]func([]byte) error{c0.Free, c1.Free}
				// Both caches remember the chunk, so both take the fast path.
				for _, c := range []*mmalloc.Cache{c0, c1} {
					b, err := c.Alloc(16)
					require.NoError(t, err)
					require.NoError(t, c.Free(b))
				}
				if via == "cache owned" {
					alloc = c0.Alloc
				}
			}
			for range rounds {
				b, err := alloc(16)
				require.NoError(t, err)
				var ready atomic.Int32
				var errs [2]error
				var wg sync.WaitGroup
				for g := range 2 {
					wg.Go(func() {
						ready.Add(1)
						for ready.Load() < 2 {
						}
						errs[g] = free[g](b)
					})
				}
				wg.Wait()
				ok := 0
				for _, err := range errs {
					if err == nil {
						ok++
					} else {
						require.ErrorIs(t, err, mmalloc.ErrDoubleFree)
					}
				}
				require.Equal(t, 1, ok, "exactly one of two racing Frees succeeds: %v", errs)
				if errors.Is(errs[0], mmalloc.ErrDoubleFree) && errors.Is(errs[1], mmalloc.ErrDoubleFree) {
					t.Fatal("both refused")
				}
			}
			for _, c := range caches {
				c.Flush()
			}
			require.NoError(t, a.Validate(), "the counts agree with the bitmaps")
			b, err := a.Alloc(16)
			require.NoError(t, err, "and the class still allocates")
			require.NoError(t, a.Free(b))
		})
	}
}
