package mmalloc_test

// The per-P caches of locals.go: GOMAXPROCS changing under them, and
// dropped or idle Caches reclaimed.

import (
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mmalloc/mmalloc"
	"github.com/mmalloc/mmalloc/internal/slabs"
)

// TestTrimWhileGOMAXPROCSChanges: Trim drains every P's cache from the
// goroutine that calls it, so it returns in bounded time whatever
// GOMAXPROCS does: raised far above the Ps the caches were made for,
// lowered to 1, and changed by another goroutine while Trim runs, with
// workers allocating and freeing all along. Each Trim gets 10 s (it takes
// well under a millisecond here); the scheduler-dependent drain it
// replaced hung for up to 2 minutes after GOMAXPROCS was raised.
func TestTrimWhileGOMAXPROCSChanges(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	a := newAlloc(t, mmalloc.Options{})
	var stop atomic.Bool
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 1))
			var held [][]byte
			for !stop.Load() {
				b, err := a.Alloc(1 + r.IntN(4096))
				if !assert.NoError(t, err) {
					return
				}
				held = append(held, b)
				if len(held) > 64 {
					i := r.IntN(len(held))
					if !assert.NoError(t, a.Free(held[i])) {
						return
					}
					held[i] = held[len(held)-1]
					held = held[:len(held)-1]
				}
			}
			for _, b := range held {
				assert.NoError(t, a.Free(b))
			}
		}()
	}
	flip := make(chan struct{})
	go func() { // changes GOMAXPROCS while the Trims below run
		defer close(flip)
		for i := 0; !stop.Load(); i++ {
			runtime.GOMAXPROCS([]int{3, 64, 1, 17}[i%4])
			time.Sleep(time.Millisecond)
		}
	}()
	var slowest time.Duration
	for i, procs := range []int{64, 1, 12, 2, 17, 64, 1, 2, 12, 64} {
		runtime.GOMAXPROCS(procs)
		done := make(chan time.Duration, 1)
		go func() {
			start := time.Now()
			assert.NoError(t, a.Trim())
			done <- time.Since(start)
		}()
		select {
		case d := <-done:
			slowest = max(slowest, d)
		case <-time.After(10 * time.Second):
			t.Fatalf("Trim %d (GOMAXPROCS %d) did not return within 10 s", i, procs)
		}
	}
	stop.Store(true)
	wg.Wait()
	<-flip
	t.Logf("slowest Trim: %v", slowest)
	require.NoError(t, a.Trim())
	require.NoError(t, a.Validate())
	s := a.Stats()
	assert.Zero(t, s.Live)
	assert.Equal(t, s.Allocs, s.Frees)
	assert.Zero(t, s.Held, "everything freed and trimmed: nothing held")
}

// TestDroppedCacheIsReclaimed: a Cache dropped without Close or Flush
// leaves Stats exact (its counts are read while it lives), and the
// garbage collector's cleanup gives its slabs back, so that Trim
// returns everything.
func TestDroppedCacheIsReclaimed(t *testing.T) {
	a := newAlloc(t, mmalloc.Options{})
	held := func() [][]byte { // the Cache is unreachable once this returns
		c := a.NewCache()
		var held [][]byte
		for i := range 950 {
			b, err := c.Alloc(16 + i%3000)
			require.NoError(t, err)
			held = append(held, b)
		}
		return held
	}()
	for _, b := range held {
		require.NoError(t, a.Free(b))
	}
	s := a.Stats()
	assert.Zero(t, s.Live, "exact while the dropped Cache still lives")
	assert.Equal(t, s.Allocs, s.Frees)
	assert.Equal(t, uint64(950), s.Allocs)
	deadline := time.Now().Add(10 * time.Second)
	for {
		runtime.GC()
		require.NoError(t, a.Trim())
		if s := a.Stats(); s.Mapped == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	s = a.Stats()
	assert.Zero(t, s.Mapped, "the cleanup gave the dropped Cache's slabs back")
	assert.Zero(t, s.Live)
	assert.Equal(t, uint64(950), s.Allocs, "the dropped Cache's counts were published")
	assert.Equal(t, s.Allocs, s.Frees)
	require.NoError(t, a.Validate())
}

// TestDroppedCachesDoNotExhaustLimit: under a Limit, allocations each
// made through a fresh Cache that is dropped without Close (nothing live
// at any time) all succeed. A dropped Cache weighs little on the Go heap
// and owns up to slabs.OwnedBytesBound of slabs, so the collections that
// would run its cleanup come rarely; before a refusal for Limit the
// Allocator finds and drains the dropped Caches itself.
func TestDroppedCachesDoNotExhaustLimit(t *testing.T) {
	skipWithInvariants(t, "validate after every call makes 12,000 Caches too slow")
	const limit = 64 * mib
	n := 12_000
	if raceEnabled {
		n = 3_000
	}
	a := newAlloc(t, mmalloc.Options{Limit: limit})
	r := rand.New(rand.NewPCG(20, 4))
	failed, first := 0, -1
	for i := range n {
		size := 1 + r.IntN(mmalloc.DefaultLargeThreshold)
		b, err := a.NewCache().Alloc(size) // the Cache is dropped at once
		if err != nil {
			require.ErrorIs(t, err, mmalloc.ErrOutOfMemory)
			if failed++; first < 0 {
				first = i
			}
			continue
		}
		require.NoError(t, a.Free(b))
	}
	s := a.Stats()
	t.Logf("%d allocations through dropped Caches under a %d MiB Limit: %d failed (first at %d); held %d MiB, peak %d MiB",
		n, limit>>20, failed, first, s.Held>>20, s.PeakHeld>>20)
	assert.Zero(t, failed, "refused with nothing live")
	assert.Zero(t, s.Live)
	assert.LessOrEqual(t, s.PeakHeld, int64(limit))
}

// TestIdleCachesDoNotExhaustLimit: the slabs that the caches of idle Ps
// own, and those of a dropped Cache, are taken back before a large
// allocation is refused for Limit: one of all but a chunk's worth of the
// Limit succeeds once everything small is freed, and so does one past
// that when a live Cache owns slabs (at most slabs.OwnedBytesBound).
func TestIdleCachesDoNotExhaustLimit(t *testing.T) {
	const limit = 64 * mib
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(8))
	a := newAlloc(t, mmalloc.Options{Limit: limit, ChunkBytes: mib})
	var wg sync.WaitGroup
	for w := range 16 { // many Ps' caches own a slab of many classes
		wg.Add(1)
		go func() {
			defer wg.Done()
			for size := 16 + w; size <= mmalloc.DefaultLargeThreshold; size += size / 4 {
				b, err := a.Alloc(size)
				if assert.NoError(t, err) {
					assert.NoError(t, a.Free(b))
				}
			}
		}()
	}
	wg.Wait()
	func() { // a dropped Cache that owns slabs of every class
		c := a.NewCache()
		for size := 16; size <= mmalloc.DefaultLargeThreshold; size += size / 4 {
			b, err := c.Alloc(size)
			require.NoError(t, err)
			require.NoError(t, c.Free(b))
		}
	}()
	live := a.NewCache() // a live Cache owning slabs, which it keeps
	for size := 16; size <= 1<<10; size *= 2 {
		b, err := live.Alloc(size)
		require.NoError(t, err)
		require.NoError(t, live.Free(b))
	}
	s := a.Stats()
	require.Zero(t, s.Live)
	t.Logf("before: held %d MiB in %d chunks", s.Held>>20, s.Chunks)
	require.Greater(t, s.Held, int64(2*mib), "the caches own slabs")
	want := limit - int(slabs.OwnedBytesBound()) - mib
	b, err := a.Alloc(want)
	require.NoError(t, err, "a large allocation of %d MiB under a %d MiB Limit with nothing live", want>>20, limit>>20)
	assert.LessOrEqual(t, a.Stats().PeakHeld, int64(limit))
	require.NoError(t, a.Free(b))
	require.NoError(t, live.Close())
	require.NoError(t, a.Validate())
}

// TestGOMAXPROCSChanges raises GOMAXPROCS past the caches made at New
// (those Ps take the locked path) and lowers it below them (Trim must
// drain the caches of P ids that no longer exist, not wait for them).
func TestGOMAXPROCSChanges(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	a := newAlloc(t, mmalloc.Options{})
	work := func() {
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var held [][]byte
				for i := range 2000 {
					b, err := a.Alloc(1 + (i*31+w)%3000)
					if err != nil {
						t.Error(err)
						return
					}
					held = append(held, b)
					if len(held) > 50 {
						if err := a.Free(held[0]); err != nil {
							t.Error(err)
							return
						}
						held = held[1:]
					}
				}
				for _, b := range held {
					if err := a.Free(b); err != nil {
						t.Error(err)
					}
				}
			}()
		}
		wg.Wait()
	}
	for _, procs := range []int{8, 1, 3} {
		runtime.GOMAXPROCS(procs)
		work()
		require.NoError(t, a.Validate(), "GOMAXPROCS=%d", procs)
		s := a.Stats()
		require.Zero(t, s.Live)
		require.Equal(t, s.Allocs, s.Frees)
		require.NoError(t, a.Trim())
		require.Zero(t, a.Stats().Mapped, "GOMAXPROCS=%d", procs)
	}
}
