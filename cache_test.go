package mmalloc_test

// Cache, of cache.go.

import (
	"math/rand/v2"
	"runtime"
	"runtime/debug"
	"sync"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mmalloc/mmalloc"
	"github.com/mmalloc/mmalloc/internal/slabs"
)

// BenchmarkFastPath times the small paths with nothing around them.
func BenchmarkFastPath(b *testing.B) {
	a, _ := mmalloc.New(mmalloc.Options{})
	defer a.Close()
	c := a.NewCache()
	b.Run("cache-uninit-16", func(b *testing.B) {
		for b.Loop() {
			x, _ := c.AllocUninit(16)
			_ = c.Free(x)
		}
	})
	b.Run("shared-zero-16", func(b *testing.B) {
		for b.Loop() {
			x, _ := a.Alloc(16)
			_ = a.Free(x)
		}
	})
	b.Run("shared-uninit-256", func(b *testing.B) {
		for b.Loop() {
			x, _ := a.AllocUninit(256)
			_ = a.Free(x)
		}
	})
}

// TestCacheLifecycle: Close gives everything back and ends the Cache;
// its later calls and a zero Cache's return ErrClosed.
func TestCacheLifecycle(t *testing.T) {
	a := newAlloc(t, mmalloc.Options{})
	c := a.NewCache()
	var held [][]byte
	for i := range 1000 {
		b, err := c.Alloc(16 + i%2000)
		require.NoError(t, err)
		held = append(held, b)
	}
	require.NoError(t, c.Close())
	require.ErrorIs(t, c.Close(), mmalloc.ErrClosed, "a second Close")
	_, err := c.Alloc(8)
	require.ErrorIs(t, err, mmalloc.ErrClosed)
	require.ErrorIs(t, c.Free(held[0]), mmalloc.ErrClosed)
	s := a.Stats()
	assert.Equal(t, int64(1000), s.Live)
	assert.Zero(t, s.Classes[0].Cached, "a closed Cache reserves nothing")
	for _, b := range held {
		require.NoError(t, a.Free(b), "memory of a closed Cache stays valid until freed")
	}
	require.NoError(t, a.Trim())
	require.NoError(t, a.Validate())
	assert.Zero(t, a.Stats().Held)

	var zero mmalloc.Cache
	_, err = zero.Alloc(8)
	assert.ErrorIs(t, err, mmalloc.ErrUninitialized)
	assert.ErrorIs(t, zero.Free(held[0]), mmalloc.ErrUninitialized)
	assert.ErrorIs(t, zero.Close(), mmalloc.ErrUninitialized)
	zero.Flush() // does nothing, does not fault

	require.NoError(t, a.Close())
	_, err = a.NewCache().Alloc(8)
	assert.ErrorIs(t, err, mmalloc.ErrClosed, "a Cache made after Close")
}

func TestCacheRoundTrip(t *testing.T) {
	a := newAlloc(t, mmalloc.Options{})
	c := a.NewCache()
	var objs []liveObj
	r := rand.New(rand.NewPCG(11, 12))
	for i := range 20_000 {
		if len(objs) < 500 && r.IntN(3) > 0 || len(objs) == 0 {
			n := randSize(r)
			b, err := c.Alloc(n)
			require.NoError(t, err)
			require.Len(t, b, n)
			require.True(t, allZero(b), "Cache.Alloc(%d) not zeroed", n)
			fill(b, uint64(i))
			objs = append(objs, liveObj{b, uint64(i)})
			continue
		}
		k := r.IntN(len(objs))
		o := objs[k]
		require.Equal(t, -1, check(o.b, o.seed))
		require.NoError(t, c.Free(o.b))
		objs[k] = objs[len(objs)-1]
		objs = objs[:len(objs)-1]
	}
	verifyNoOverlap(t, objs)
	for _, o := range objs {
		require.Equal(t, -1, check(o.b, o.seed))
		require.NoError(t, a.Free(o.b), "a Cache's objects may be freed by the Allocator")
	}
	c.Flush()
	require.NoError(t, a.Validate())
	s := a.Stats()
	assert.Zero(t, s.Live)
	assert.Equal(t, s.Allocs, s.Frees)
	require.NoError(t, a.Trim())
	assert.Zero(t, a.Stats().Mapped)
}

func TestCacheErrors(t *testing.T) {
	a := newAlloc(t, mmalloc.Options{})
	c := a.NewCache()
	b, err := c.Alloc(100)
	require.NoError(t, err)
	require.ErrorIs(t, c.Free(b[1:]), mmalloc.ErrInvalidPointer)
	require.NoError(t, c.Free(b))
	require.ErrorIs(t, c.Free(b), mmalloc.ErrDoubleFree, "caught though the object sits in the Cache")
	require.ErrorIs(t, a.Free(b), mmalloc.ErrDoubleFree, "and through the Allocator")
	require.ErrorIs(t, c.Free(make([]byte, 10)), mmalloc.ErrForeignPointer)
	_, err = c.Alloc(-1)
	require.ErrorIs(t, err, mmalloc.ErrInvalidSize)
	big, err := c.Alloc(1 << 20)
	require.NoError(t, err)
	require.NoError(t, c.Free(big))
	b, err = c.AllocUninit(0)
	require.NoError(t, err)
	assert.Empty(t, b)
	require.NoError(t, a.Close())
	_, err = c.Alloc(10)
	require.ErrorIs(t, err, mmalloc.ErrClosed)
	require.ErrorIs(t, c.Free(b), mmalloc.ErrClosed)
	c.Flush() // harmless after Close
}

// TestCachesAcrossGoroutines has each goroutine allocate through its own
// Cache and hand a share to a neighbour, which frees through its Cache.
func TestCachesAcrossGoroutines(t *testing.T) {
	const workers = 8
	rounds := 20_000
	if testing.Short() {
		rounds = 2_000
	}
	a := newAlloc(t, mmalloc.Options{})
	chans := make([]chan liveObj, workers)
	for i := range chans {
		chans[i] = make(chan liveObj, 1024)
	}
	var wg sync.WaitGroup
	var bad sync.Map
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := a.NewCache()
			defer c.Flush()
			r := rand.New(rand.NewPCG(uint64(w), 5))
			for i := range rounds {
				b, err := c.Alloc(1 + r.IntN(4096))
				if err != nil {
					bad.Store(w, err.Error())
					return
				}
				fill(b, uint64(i))
				select {
				case chans[(w+1)%workers] <- liveObj{b, uint64(i)}:
				default:
					if err := c.Free(b); err != nil {
						bad.Store(w, err.Error())
					}
				}
				for drained := false; !drained; {
					select {
					case o := <-chans[w]:
						if check(o.b, o.seed) != -1 {
							bad.Store(w, "corrupted")
						}
						if err := c.Free(o.b); err != nil {
							bad.Store(w, err.Error())
						}
					default:
						drained = true
					}
				}
			}
		}()
	}
	wg.Wait()
	bad.Range(func(k, v any) bool { t.Errorf("worker %v: %v", k, v); return true })
	for _, ch := range chans {
		close(ch)
		for o := range ch {
			require.NoError(t, a.Free(o.b))
		}
	}
	require.NoError(t, a.Validate())
	assert.Zero(t, a.Stats().Live)
}

// TestCacheFreeFastPaths frees through a Cache by each of its fast
// paths — the object just handed out, reserved again and handed out next;
// an object of the chunk the Cache remembers; one from the registry —
// and with slices whose cap misleads the first guess (resliced, or
// pointing into an object): every refusal is the one Free documents, and
// the zeroing contract holds for an object handed out again.
func TestCacheFreeFastPaths(t *testing.T) {
	a := newAlloc(t, mmalloc.Options{})
	c := a.NewCache()

	// Freed and handed out again: the same memory, cleared for Alloc,
	// but only after one more Free of the class, so that a second Free
	// is refused even after one more allocation.
	b, err := c.AllocUninit(64)
	require.NoError(t, err)
	fill(b, 1)
	require.NoError(t, c.Free(b))
	require.ErrorIs(t, c.Free(b), mmalloc.ErrDoubleFree, "the freed object waits in the Cache, and is still refused")
	x, err := c.Alloc(64)
	require.NoError(t, err)
	require.NotEqual(t, &b[0], &x[0], "the object freed last waits for the next free")
	require.ErrorIs(t, c.Free(b), mmalloc.ErrDoubleFree, "and a second Free of it is refused")
	require.NoError(t, c.Free(x))
	z, err := c.Alloc(64)
	require.NoError(t, err)
	require.Equal(t, &b[0], &z[0], "then it is handed out first")
	assert.True(t, allZero(z[:cap(z)]), "and Alloc clears it")
	fill(z, 2)
	y, err := c.Alloc(64)
	require.NoError(t, err)
	require.NoError(t, c.Free(z))
	require.NoError(t, c.Free(y))
	u, err := c.AllocUninit(64)
	require.NoError(t, err)
	require.Equal(t, &b[0], &u[0])

	// Slices whose cap is not their class's.
	for _, tc := range []struct {
		name string
		cut  func(b []byte) []byte
	}{
		{"cap cut to 1", func(b []byte) []byte { return b[:0:1] }},
		{"cap cut to another class", func(b []byte) []byte { return b[:10:16] }},
		{"len 0", func(b []byte) []byte { return b[:0] }},
	} {
		b, err := c.AllocUninit(100)
		require.NoError(t, err, tc.name)
		require.NoError(t, c.Free(tc.cut(b)), tc.name)
		require.ErrorIs(t, c.Free(b), mmalloc.ErrDoubleFree, tc.name)
	}
	// A slice into the middle of an object of the class its cap names.
	v, err := c.AllocUninit(64)
	require.NoError(t, err)
	w, err := c.AllocUninit(64)
	require.NoError(t, err)
	inside := unsafe.Slice(&v[32], 64)
	require.ErrorIs(t, c.Free(inside), mmalloc.ErrInvalidPointer)
	require.ErrorIs(t, a.Free(inside), mmalloc.ErrInvalidPointer)

	// A Cache's objects freed elsewhere, and others' freed here.
	require.NoError(t, a.Free(v), "through the Allocator")
	o := a.NewCache()
	require.NoError(t, o.Free(w), "through another Cache")
	x, err = o.AllocUninit(64)
	require.NoError(t, err)
	require.NoError(t, c.Free(x), "an object of another Cache's slab")
	require.ErrorIs(t, o.Free(x), mmalloc.ErrDoubleFree)
	require.NoError(t, c.Free(u))

	// Objects of many chunks: the registry, then the chunk remembered.
	var held [][]byte
	for range 2 * (4 << 20) / 4096 {
		b, err := a.AllocUninit(4096)
		require.NoError(t, err)
		held = append(held, b)
	}
	for _, b := range held {
		require.NoError(t, c.Free(b))
	}
	require.ErrorIs(t, c.Free(held[0]), mmalloc.ErrDoubleFree)
	o.Flush()
	c.Flush()
	require.NoError(t, a.Validate())
	assert.Zero(t, a.Stats().Live)
}

// TestCacheAfterClose: a Cache holding reserved objects, one freed into
// its reserve, refuses every call once it or its Allocator is closed,
// changing nothing.
func TestCacheAfterClose(t *testing.T) {
	for _, closing := range []string{"Cache", "Allocator"} {
		t.Run(closing, func(t *testing.T) {
			a := newAlloc(t, mmalloc.Options{})
			c := a.NewCache()
			b, err := c.AllocUninit(32)
			require.NoError(t, err)
			h, err := c.AllocUninit(32)
			require.NoError(t, err)
			require.NoError(t, c.Free(b))
			if closing == "Cache" {
				require.NoError(t, c.Close())
			} else {
				require.NoError(t, a.Close())
			}
			_, err = c.AllocUninit(32)
			require.ErrorIs(t, err, mmalloc.ErrClosed)
			_, err = c.Alloc(32)
			require.ErrorIs(t, err, mmalloc.ErrClosed)
			require.ErrorIs(t, c.Free(h), mmalloc.ErrClosed)
			require.ErrorIs(t, c.Free(b), mmalloc.ErrClosed)
			if closing == "Cache" {
				require.NoError(t, a.Validate())
				assert.EqualValues(t, 1, a.Stats().Live, "h is still held")
				require.NoError(t, a.Free(h))
				require.ErrorIs(t, a.Free(b), mmalloc.ErrDoubleFree)
			}
		})
	}
}

func TestCacheFastPathDoesNotAllocate(t *testing.T) {
	skipWithInvariants(t, "every call runs validate, which allocates")
	a := newAlloc(t, mmalloc.Options{})
	c := a.NewCache()
	for _, n := range []int{16, 1000, 32 << 10} {
		allocs := testing.AllocsPerRun(1000, func() {
			b, err := c.AllocUninit(n)
			if err != nil {
				panic(err)
			}
			if err := c.Free(b); err != nil {
				panic(err)
			}
		})
		assert.Zero(t, allocs, "size %d", n)
	}
}

// TestRetentionIsBounded frees a large mix and checks that the RSS held by
// freed memory stays within the retention budget plus what the per-P
// caches may hold (the slabs of the objects resting in them: at most one
// slab per class per P, as Options.RetainBytes documents), and that Trim
// returns it all. What the Go runtime itself grew by (the test's own
// slices, slab metadata) is measured and left out. Decay is off, so that
// the budget holds at each Free (TestFreeGivesMemoryBack and the decay
// tests wait for the decay).
func TestRetentionIsBounded(t *testing.T) {
	skipWithInvariants(t, "every call runs validate, whose garbage counts in the RSS")
	const budget = 32 * mib
	var slabsPerP int64
	for c := 1; c <= slabs.NumClasses; c++ {
		slabsPerP += int64(slabs.ClassSlabBytes(c))
	}
	allowed := budget + int64(runtime.GOMAXPROCS(0))*slabsPerP + 4*mib
	objs := make([][]byte, 0, 200_000)
	runtime.GC()
	debug.FreeOSMemory()
	start := offHeapRSS(t)
	a := newAlloc(t, mmalloc.Options{RetainBytes: budget, DecayTime: -1})
	r := rand.New(rand.NewPCG(9, 9))
	for round := range 3 {
		sum := 0
		for sum < 192*mib {
			b, err := a.Alloc(randSize(r))
			require.NoError(t, err)
			bb := b[:cap(b)]
			for i := 0; i < len(bb); i += 1024 {
				bb[i] = 1
			}
			sum += cap(b)
			objs = append(objs, b)
		}
		for _, b := range objs {
			require.NoError(t, a.Free(b))
		}
		objs = objs[:0]
		s := a.Stats()
		require.LessOrEqual(t, s.Retained, int64(budget))
		held := offHeapRSS(t) - start
		t.Logf("round %d: after freeing 192 MiB, retained %d MiB, mapped %d MiB, resident %d MiB, off-heap RSS +%d MiB",
			round, s.Retained>>20, s.Mapped>>20, s.Resident>>20, held>>20)
		assert.LessOrEqual(t, s.Resident, allowed, "freed memory resident beyond the budget and the caches' bound")
		if !raceEnabled { // the race detector's shadow memory counts in RSS too
			assert.LessOrEqual(t, held, allowed, "freed memory held beyond the budget and the caches' bound")
		}
	}
	require.NoError(t, a.Trim())
	assert.Zero(t, a.Stats().Mapped)
	assert.Zero(t, a.Stats().Retained)
	runtime.GC()
	debug.FreeOSMemory()
	assert.Less(t, offHeapRSS(t)-start, int64(16*mib), "Trim returns it all")
	runtime.KeepAlive(objs)
}

// TestFreeMemoSurvivesUnmap frees into a chunk (which the Cache's and
// the P's cache then remember), unmaps that chunk, and frees into the
// chunk mapped next at the very same address, through the stale memos:
// the stale memory must not be trusted. The address space is steered so
// that the new chunk lands there (steerNextMapping), and every round
// checks that it did; the Allocator runs on one P, whose cache is the one
// that remembers.
func TestFreeMemoSurvivesUnmap(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	const chunk = mmalloc.DefaultChunkBytes
	a := newAlloc(t, mmalloc.Options{RetainBytes: mmalloc.NoRetain})
	c := a.NewCache()
	for round := range 5 {
		x, err := c.Alloc(64)
		require.NoError(t, err)
		y, err := a.Alloc(64)
		require.NoError(t, err)
		base := addr(x) &^ (chunk - 1)
		require.Equal(t, base, addr(y)&^(chunk-1), "one chunk")
		require.NoError(t, c.Free(x)) // each cache remembers the chunk
		require.NoError(t, a.Free(y))
		c.Flush()
		require.NoError(t, a.Trim())
		require.Zero(t, a.Stats().Mapped, "round %d: the chunk is gone", round)
		require.ErrorIs(t, c.Free(x), mmalloc.ErrForeignPointer, "its memory is no longer ours")

		landed, hint := false, base-chunk // the Heap tries just below its last chunk first
		for try := 0; try < 6 && !landed; try++ {
			undo := steerNextMapping(t, base, chunk, []uintptr{0, 2 << 20}[try%2], hint)
			if undo == nil {
				continue
			}
			x, err = c.Alloc(64)
			require.NoError(t, err)
			undo()
			if landed = addr(x)&^(chunk-1) == base; !landed {
				hint = addr(x)&^(chunk-1) - chunk
				require.NoError(t, c.Free(x))
				c.Flush()
				require.NoError(t, a.Trim())
			}
		}
		require.True(t, landed, "round %d: the new chunk did not land at %#x", round, base)
		y, err = a.Alloc(64)
		require.NoError(t, err)
		require.Equal(t, base, addr(y)&^(chunk-1))
		require.NoError(t, c.Free(x), "a Free into the new chunk through a stale memo")
		require.NoError(t, a.Free(y), "and through the P's")
		c.Flush()
		require.NoError(t, a.Validate())
	}
}
