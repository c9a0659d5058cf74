package mmalloc_test

import (
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mmalloc/mmalloc"
)

type liveObj struct {
	b    []byte
	seed uint64
}

// verifyNoOverlap checks that no two live objects share a byte, up to cap.
func verifyNoOverlap(t *testing.T, objs []liveObj) {
	t.Helper()
	spans := make([][2]uintptr, len(objs))
	for i, o := range objs {
		spans[i] = [2]uintptr{addr(o.b), addr(o.b) + uintptr(cap(o.b))}
	}
	slices.SortFunc(spans, func(x, y [2]uintptr) int {
		switch {
		case x[0] < y[0]:
			return -1
		case x[0] > y[0]:
			return 1
		}
		return 0
	})
	for i := 1; i < len(spans); i++ {
		require.LessOrEqual(t, spans[i-1][1], spans[i][0], "live objects overlap")
	}
}

// TestProperty runs a long random mix of Alloc, AllocUninit and Free over all
// classes and large sizes. Every live object holds its own pattern up to cap;
// every check verifies all of them, and that none overlap. It runs 1,000,000
// operations (the Makefile's fullsize target runs it so, without -race),
// 300,000 under the race detector and 50,000 with -short.
func TestProperty(t *testing.T) {
	ops := claimSize(t, 1_000_000, 300_000)
	if testing.Short() {
		ops = 50_000
	}
	r := rand.New(rand.NewPCG(1, 2))
	a := newAlloc(t, mmalloc.Options{})
	var objs []liveObj
	verify := func() {
		for _, o := range objs {
			require.Equal(t, -1, check(o.b, o.seed), "object of %d bytes corrupted", cap(o.b))
		}
		verifyNoOverlap(t, objs)
		require.NoError(t, a.Validate())
		s := a.Stats()
		require.Equal(t, int64(len(objs)), s.Live)
		var inUse int64
		for _, o := range objs {
			inUse += int64(cap(o.b))
		}
		require.Equal(t, inUse, s.InUse)
	}
	for i := range ops {
		// Keep the live set around 2,000 objects with a drift.
		if len(objs) < 2000 && r.IntN(2) == 0 || len(objs) == 0 {
			n := randSize(r)
			var b []byte
			var err error
			if r.IntN(4) == 0 {
				b, err = a.AllocUninit(n)
			} else {
				b, err = a.Alloc(n)
				require.True(t, allZero(b), "Alloc(%d) not zeroed", n)
			}
			require.NoError(t, err)
			require.Len(t, b, n)
			seed := r.Uint64()
			fill(b, seed)
			objs = append(objs, liveObj{b, seed})
		} else {
			k := r.IntN(len(objs))
			o := objs[k]
			require.Equal(t, -1, check(o.b, o.seed), "object corrupted before free")
			require.NoError(t, a.Free(o.b))
			objs[k] = objs[len(objs)-1]
			objs = objs[:len(objs)-1]
		}
		if i%(ops/20) == 0 {
			verify()
		}
	}
	verify()
	for _, o := range objs {
		require.NoError(t, a.Free(o.b))
	}
	require.NoError(t, a.Trim())
	s := a.Stats()
	assert.Zero(t, s.Mapped)
	assert.Zero(t, s.Live)
	assert.Equal(t, s.Allocs, s.Frees)
}

// TestConcurrentStress has 8 goroutines allocate, check and free, handing a
// share of their objects to a neighbour to free.
func TestConcurrentStress(t *testing.T) {
	const workers = 8
	rounds := 20_000
	if testing.Short() {
		rounds = 2_000
	}
	a := newAlloc(t, mmalloc.Options{})
	handoff := make([]chan liveObj, workers)
	for i := range handoff {
		handoff[i] = make(chan liveObj, 256)
	}
	var wg sync.WaitGroup
	errc := make(chan string, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 99))
			var mine []liveObj
			fail := func(msg string) { errc <- msg }
			drain := func() bool {
				for {
					select {
					case o := <-handoff[w]:
						if check(o.b, o.seed) != -1 {
							fail("handed-off object corrupted")
							return false
						}
						if err := a.Free(o.b); err != nil {
							fail("cross-goroutine free: " + err.Error())
							return false
						}
					default:
						return true
					}
				}
			}
			for range rounds {
				if len(mine) < 64 || r.IntN(2) == 0 {
					n := randSize(r)
					if r.IntN(10) == 0 {
						n = 1 + r.IntN(64)
					}
					b, err := a.Alloc(n)
					if err != nil {
						fail(err.Error())
						return
					}
					if !allZero(b) {
						fail("not zeroed")
						return
					}
					seed := r.Uint64()
					fill(b, seed)
					mine = append(mine, liveObj{b, seed})
				} else {
					k := r.IntN(len(mine))
					o := mine[k]
					mine[k] = mine[len(mine)-1]
					mine = mine[:len(mine)-1]
					if check(o.b, o.seed) != -1 {
						fail("object corrupted")
						return
					}
					if r.IntN(3) == 0 {
						select {
						case handoff[(w+1)%workers] <- o:
							continue
						default:
						}
					}
					if err := a.Free(o.b); err != nil {
						fail(err.Error())
						return
					}
				}
				if !drain() {
					return
				}
			}
			for _, o := range mine {
				if err := a.Free(o.b); err != nil {
					fail(err.Error())
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	for msg := range errc {
		t.Error(msg)
	}
	for _, ch := range handoff {
		close(ch)
		for o := range ch {
			require.Equal(t, -1, check(o.b, o.seed))
			require.NoError(t, a.Free(o.b))
		}
	}
	require.NoError(t, a.Validate())
	s := a.Stats()
	assert.Zero(t, s.Live)
	assert.Equal(t, s.Allocs, s.Frees)
	require.NoError(t, a.Trim())
	assert.Zero(t, a.Stats().Mapped)
}
