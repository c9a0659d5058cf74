package mmalloc_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mmalloc/mmalloc"
	"github.com/mmalloc/mmalloc/internal/testutil"
)

// faultAddr runs f with faults turned into panics and returns the address
// of the fault f caused, or 0 if f returned normally.
func faultAddr(t *testing.T, f func()) (addr uintptr) {
	t.Helper()
	old := debug.SetPanicOnFault(true)
	defer debug.SetPanicOnFault(old)
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		e, ok := r.(interface{ Addr() uintptr })
		require.True(t, ok, "panic %v has no Addr", r)
		addr = e.Addr()
	}()
	f()
	return 0
}

var byteSink byte

// at returns a pointer i bytes from b's first byte, past its end if need be.
func at(b []byte, i int) *byte { return (*byte)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(b)), i)) }

// TestGuardLargeOverflowFaults writes one byte past the 16-byte rounded end
// of large objects: the write faults at once, on the guard page.
func TestGuardLargeOverflowFaults(t *testing.T) {
	a := newAlloc(t, mmalloc.Options{Guard: true})
	for _, n := range []int{threshold, threshold + 1, 200_000, 3*mib + 7} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			b, err := a.Alloc(n)
			require.NoError(t, err)
			require.Equal(t, n, cap(b), "cap == len in guard mode")
			require.Zero(t, addr(b)%mmalloc.GuardAlignBytes)
			fill(b[:n&^7], 1)
			end := (n + mmalloc.GuardAlignBytes - 1) &^ (mmalloc.GuardAlignBytes - 1)
			guardPage := addr(b) + uintptr(end)
			require.Zero(t, guardPage%uintptr(pageBytes), "the object ends at the guard page")

			got := faultAddr(t, func() { *at(b, end) = 1 })
			assert.Equal(t, guardPage, got, "overflow faults on the guard page's first byte")
			got = faultAddr(t, func() { byteSink = *at(b, end+100) })
			assert.Equal(t, guardPage+100, got, "a read past the end faults too")
			assert.Zero(t, faultAddr(t, func() { *at(b, n-1) = 2 }), "the last byte is writable")
			require.NoError(t, a.Free(b), "the canary is intact: nothing was written")
			require.NoError(t, a.Validate())
		})
	}
	assert.NoError(t, a.CheckGuards())
}

// TestGuardLargeUseAfterFreeFaults touches large objects after Free: the
// mapping is inaccessible, so the access faults at its address, even after
// other mappings were made (the freed range stays reserved).
func TestGuardLargeUseAfterFreeFaults(t *testing.T) {
	a := newAlloc(t, mmalloc.Options{Guard: true})
	b, err := a.Alloc(mib)
	require.NoError(t, err)
	fill(b, 3)
	require.NoError(t, a.Free(b))
	var again [][]byte
	for range 8 { // the kernel would like to hand the freed range out again
		c, err := a.Alloc(mib)
		require.NoError(t, err)
		again = append(again, c)
	}
	assert.Equal(t, addr(b), faultAddr(t, func() { byteSink = b[0] }), "read after free faults")
	assert.Equal(t, addr(b)+4096, faultAddr(t, func() { b[4096] = 1 }), "write after free faults")
	assert.ErrorIs(t, a.Free(b), mmalloc.ErrDoubleFree)
	for _, c := range again {
		require.NoError(t, a.Free(c))
	}
	require.NoError(t, a.Trim())
	require.NoError(t, a.Validate())
	assert.Zero(t, a.Stats().Mapped)
}

// TestGuardSmallOverflow writes past the end of small objects, into their
// canary: Free returns ErrCorrupted naming the object, frees it, and the
// slot is never handed out again.
func TestGuardSmallOverflow(t *testing.T) {
	a := newAlloc(t, mmalloc.Options{Guard: true})
	for _, tc := range []struct {
		n, past int
	}{{1, 0}, {8, 0}, {100, 0}, {100, 11}, {1000, 5}, {threshold - 1, 0}} {
		t.Run(fmt.Sprintf("%d+%d", tc.n, tc.past), func(t *testing.T) {
			b, err := a.Alloc(tc.n)
			require.NoError(t, err)
			require.Equal(t, tc.n, cap(b))
			fill(b[:tc.n&^7], 9)
			*at(b, tc.n+tc.past) ^= 0xFF
			before := a.Stats()
			err = a.Free(b)
			require.ErrorIs(t, err, mmalloc.ErrCorrupted)
			assert.Contains(t, err.Error(), fmt.Sprintf("%d-byte object at %#x", tc.n, addr(b)))
			s := a.Stats()
			assert.Equal(t, before.Corrupted+1, s.Corrupted)
			assert.Equal(t, before.Live-1, s.Live, "the object is freed")
			assert.ErrorIs(t, a.Free(b), mmalloc.ErrDoubleFree)
			require.NoError(t, a.Validate())
			// Churn the class past the quarantine: the slot never comes back.
			for range 2 * mmalloc.GuardQuarantineBytes / max(tc.n, 4096) {
				c, err := a.Alloc(tc.n)
				require.NoError(t, err)
				require.NotEqual(t, addr(b), addr(c), "a corrupted slot was reused")
				require.NoError(t, a.Free(c))
			}
			require.NoError(t, a.Validate())
		})
	}
	err := a.CheckGuards()
	require.ErrorIs(t, err, mmalloc.ErrCorrupted)
	t.Log(err)
}

// TestGuardSmallUseAfterFree writes into small objects after Free: the
// poison of their quarantined slots is broken, which CheckGuards reports
// at once, and eviction from the quarantine (or Trim) reports later.
func TestGuardSmallUseAfterFree(t *testing.T) {
	for _, how := range []string{"CheckGuards", "eviction", "Trim"} {
		t.Run(how, func(t *testing.T) {
			a := newAlloc(t, mmalloc.Options{Guard: true})
			b, err := a.Alloc(256)
			require.NoError(t, err)
			p := addr(b)
			require.NoError(t, a.Free(b))
			b[17] = 42 // a write after free: the slot is still mapped
			switch how {
			case "eviction":
				for range 2 * mmalloc.GuardQuarantineBytes / 256 {
					c, err := a.Alloc(256)
					require.NoError(t, err)
					require.NotEqual(t, p, addr(c))
					require.NoError(t, a.Free(c))
				}
			case "Trim":
				require.NoError(t, a.Trim())
			}
			err = a.CheckGuards()
			require.ErrorIs(t, err, mmalloc.ErrCorrupted)
			assert.Contains(t, err.Error(), fmt.Sprintf("slot at %#x was written after Free (byte 17", p))
			assert.Equal(t, int64(1), a.Stats().Corrupted)
			require.NoError(t, a.Validate())
			for range 1000 {
				c, err := a.Alloc(256)
				require.NoError(t, err)
				require.NotEqual(t, p, addr(c), "a corrupted slot was reused")
				require.NoError(t, a.Free(c))
			}
			require.NoError(t, a.Validate())
		})
	}
}

// TestGuardSemantics runs a mixed workload in guard mode, through the
// Allocator and a Cache: everything allocated is zeroed, keeps its bytes,
// frees without a report, and Trim gives everything back.
func TestGuardSemantics(t *testing.T) {
	a := newAlloc(t, mmalloc.Options{Guard: true, ChunkBytes: mib})
	c := a.NewCache()
	r := rand.New(rand.NewPCG(5, 5))
	type obj struct {
		b    []byte
		seed uint64
	}
	var live []obj
	steps := 20000
	if testing.Short() {
		steps = 4000
	}
	for i := range steps {
		if len(live) > 0 && r.IntN(2) == 0 {
			k := r.IntN(len(live))
			o := live[k]
			require.Equal(t, -1, check(o.b[:len(o.b)&^7], o.seed))
			free := a.Free
			if i%2 == 0 {
				free = c.Free
			}
			require.NoError(t, free(o.b))
			live[k] = live[len(live)-1]
			live = live[:len(live)-1]
			continue
		}
		n := randSize(r)
		alloc := a.Alloc
		if i%3 == 0 {
			alloc = c.Alloc
		}
		b, err := alloc(n)
		require.NoError(t, err)
		require.Equal(t, n, len(b))
		require.Equal(t, n, cap(b))
		require.Equal(t, n, a.UsableSize(n))
		require.True(t, allZero(b))
		if n >= 16 {
			require.Zero(t, addr(b)%16)
		}
		fill(b[:n&^7], uint64(i))
		live = append(live, obj{b, uint64(i)})
	}
	require.NoError(t, a.Validate())
	s := a.Stats()
	assert.Equal(t, int64(len(live)), s.Live)
	assert.Positive(t, s.Quarantined)
	assert.LessOrEqual(t, s.Quarantined, int64(mmalloc.GuardQuarantineBytes))
	for _, o := range live {
		require.NoError(t, a.Free(o.b))
	}
	require.NoError(t, a.CheckGuards())
	c.Flush()
	require.NoError(t, a.Trim())
	require.NoError(t, a.Validate())
	s = a.Stats()
	assert.Zero(t, s.Mapped)
	assert.Zero(t, s.Quarantined)
	assert.Zero(t, s.Corrupted)
	assert.GreaterOrEqual(t, s.Munmaps, s.Mmaps)
}

// TestGuardBadCalls: guard mode classifies bad frees as the default mode
// does, and changes nothing.
func TestGuardBadCalls(t *testing.T) {
	a := newAlloc(t, mmalloc.Options{Guard: true})
	other := newAlloc(t, mmalloc.Options{Guard: true})
	f := newBuffers(t, a, other, []int{100, mib}, []int{100, mib}, []int{100})
	small, big := f.live[0], f.live[1]
	freedSmall, freedBig := f.freed[0], f.freed[1]
	otherBuf := f.foreign[0]
	for _, c := range []struct {
		name string
		b    []byte
		want error
	}{
		{"interior of small", small[1:], mmalloc.ErrInvalidPointer},
		{"interior of large", big[4096:], mmalloc.ErrInvalidPointer},
		{"interior of large, odd", big[77:], mmalloc.ErrInvalidPointer},
		{"small in quarantine", freedSmall, mmalloc.ErrDoubleFree},
		{"large retired", freedBig, mmalloc.ErrDoubleFree},
		{"Go heap", make([]byte, 10), mmalloc.ErrForeignPointer},
		{"another allocator", otherBuf, mmalloc.ErrForeignPointer},
	} {
		before := a.Stats()
		assert.ErrorIs(t, a.Free(c.b), c.want, c.name)
		assert.Equal(t, before, a.Stats(), c.name)
		f.requireIntact(t)
		require.NoError(t, a.Validate())
	}
	require.NoError(t, a.CheckGuards())
}

// TestGuardConcurrent has goroutines allocate and free in guard mode,
// through the Allocator and their own Caches, handing some buffers to a
// neighbour to free: no report, nothing lost, everything back after Trim.
func TestGuardConcurrent(t *testing.T) {
	const workers = 4
	rounds := 3000
	if testing.Short() {
		rounds = 500
	}
	a := newAlloc(t, mmalloc.Options{Guard: true})
	handoff := make([]chan []byte, workers)
	for i := range handoff {
		handoff[i] = make(chan []byte, rounds)
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := a.NewCache()
			defer c.Flush()
			r := rand.New(rand.NewPCG(uint64(w), 3))
			var mine [][]byte
			for i := range rounds {
				b, err := c.Alloc(randSize(r))
				assert.NoError(t, err)
				fill(b[:len(b)&^7], uint64(len(b)))
				if i%4 == 0 {
					handoff[(w+1)%workers] <- b
				} else {
					mine = append(mine, b)
				}
				if len(mine) > 50 {
					k := r.IntN(len(mine))
					assert.Equal(t, -1, check(mine[k][:len(mine[k])&^7], uint64(len(mine[k]))))
					assert.NoError(t, a.Free(mine[k]))
					mine[k] = mine[len(mine)-1]
					mine = mine[:len(mine)-1]
				}
			}
			for _, b := range mine {
				assert.NoError(t, c.Free(b))
			}
		}()
	}
	wg.Wait()
	for _, ch := range handoff {
		close(ch)
		for b := range ch {
			require.Equal(t, -1, check(b[:len(b)&^7], uint64(len(b))))
			require.NoError(t, a.Free(b))
		}
	}
	require.NoError(t, a.CheckGuards())
	require.NoError(t, a.Trim())
	require.NoError(t, a.Validate())
	s := a.Stats()
	assert.Zero(t, s.Mapped)
	assert.Zero(t, s.Live)
	assert.Zero(t, s.Corrupted)
}

// TestCheckGuardsWithoutGuardMode: nothing to check, nothing reported.
func TestCheckGuardsWithoutGuardMode(t *testing.T) {
	a := newAlloc(t, mmalloc.Options{})
	b, err := a.Alloc(100)
	require.NoError(t, err)
	assert.NoError(t, a.CheckGuards())
	require.NoError(t, a.Free(b))
	s := a.Stats()
	assert.Zero(t, s.Quarantined)
	assert.Zero(t, s.Corrupted)
}

// TestGuardRealloc: in guard mode every Realloc moves, so that the new
// size gets its own canary or guard page; the kept bytes survive, the
// rest reads as zero, and an overflow of the old object is reported.
func TestGuardRealloc(t *testing.T) {
	a := newAlloc(t, mmalloc.Options{Guard: true})
	sizes := []int{10, 100, 5000, threshold - 1, threshold, 300_000, 3 * mib, 64, 1}
	b, err := a.Alloc(sizes[0])
	require.NoError(t, err)
	for i := range b {
		b[i] = byte(i)
	}
	for _, n := range sizes[1:] {
		nb, err := a.Realloc(b, n)
		require.NoError(t, err, "%d to %d", len(b), n)
		require.Equal(t, n, len(nb))
		require.Equal(t, n, cap(nb))
		keep := min(len(b), n)
		for i := range nb {
			want := byte(0)
			if i < keep {
				want = byte(i)
			}
			require.Equal(t, want, nb[i], "byte %d after %d to %d", i, len(b), n)
		}
		for i := range nb {
			nb[i] = byte(i)
		}
		b = nb
		require.NoError(t, a.Validate())
	}
	// An overflow of the old object: Realloc reports it and frees it.
	*at(b, len(b)) ^= 1
	_, err = a.Realloc(b, 4000)
	require.ErrorIs(t, err, mmalloc.ErrCorrupted)
	assert.ErrorIs(t, a.Free(b), mmalloc.ErrDoubleFree)
	require.NoError(t, a.Validate())
	assert.Zero(t, a.Stats().Live)

	// A Buffer grows through Realloc in guard mode too.
	buf := mmalloc.NewBuffer(a)
	chunk := make([]byte, 10_000)
	for i := range 100 {
		chunk[0] = byte(i)
		_, err := buf.Write(chunk)
		require.NoError(t, err)
	}
	require.Equal(t, 1_000_000, buf.Len())
	require.NoError(t, buf.Free())
	require.NoError(t, a.Trim())
	require.NoError(t, a.Validate())
	assert.Zero(t, a.Stats().Live)
}

// TestCheckGuardsAfterClose: once a guard-mode Allocator is closed, the
// objects CheckGuards would read — live and quarantined small ones in
// unmapped chunks, live large ones in unmapped mappings — are gone, and
// CheckGuards returns ErrClosed instead of reading them. It runs in a
// child process: reading unmapped memory kills the process.
func TestCheckGuardsAfterClose(t *testing.T) {
	for _, kind := range []string{"live small", "freed small", "live large", "freed large"} {
		t.Run(kind, func(t *testing.T) {
			inChild(t, func(t *testing.T) {
				a, err := mmalloc.New(mmalloc.Options{Guard: true})
				require.NoError(t, err)
				n := 100
				if strings.HasSuffix(kind, "large") {
					n = 3 * mib
				}
				b, err := a.Alloc(n)
				require.NoError(t, err)
				if strings.HasPrefix(kind, "freed") {
					require.NoError(t, a.Free(b))
				}
				require.NoError(t, a.CheckGuards())
				require.NoError(t, a.Close())
				assert.ErrorIs(t, a.CheckGuards(), mmalloc.ErrClosed)
				assert.ErrorIs(t, a.CheckGuards(), mmalloc.ErrClosed, "and again")
			})
		})
	}
}

// TestGuardLargeCanary: a large object whose size is not a multiple of
// GuardAlignBytes ends before its guard page; the bytes between are
// canary, and a write there (which does not fault) is reported by Free.
func TestGuardLargeCanary(t *testing.T) {
	a := newAlloc(t, mmalloc.Options{Guard: true})
	n := threshold + 5
	b, err := a.Alloc(n)
	require.NoError(t, err)
	*at(b, n+3) = 0x55 // inside the rounding to 16 bytes, before the guard page
	err = a.Free(b)
	require.ErrorIs(t, err, mmalloc.ErrCorrupted)
	assert.Contains(t, err.Error(), fmt.Sprintf("%d-byte object at %#x was written past its end (3 bytes after it)", n, addr(b)))
	assert.Equal(t, int64(1), a.Stats().Corrupted)
	assert.Zero(t, a.Stats().Live, "freed all the same")
	require.NoError(t, a.Validate())
}

// TestGuardMappingBound: guard mode's large mappings are bounded in kernel
// mappings for the whole process (here at room for 10 mappings): past the
// bound a large Alloc or Realloc fails with ErrOutOfMemory, whose message
// names the bound, and changes nothing; every guard Allocator shares the
// bound; freed mappings, retired but still mapped, count until they are
// unmapped, which an Allocator does to make room for its own new ones;
// small objects are not bounded; Trim and Close give the mappings back.
func TestGuardMappingBound(t *testing.T) {
	base := mmalloc.GuardMappings()
	mmalloc.SetGuardMappingLimit(base + 20)
	t.Cleanup(func() { mmalloc.SetGuardMappingLimit(0) })
	a := newAlloc(t, mmalloc.Options{Guard: true})
	b := newAlloc(t, mmalloc.Options{Guard: true})

	var live [][]byte
	var err error
	for len(live) < 100 {
		var p []byte
		if p, err = a.Alloc(threshold); err != nil {
			break
		}
		live = append(live, p)
	}
	require.ErrorIs(t, err, mmalloc.ErrOutOfMemory)
	assert.Contains(t, err.Error(), "guard mode")
	assert.Contains(t, err.Error(), "vm.max_map_count")
	assert.Contains(t, err.Error(), fmt.Sprint(base+20))
	assert.Len(t, live, 10, "two kernel mappings each")
	assert.Equal(t, base+20, mmalloc.GuardMappings())

	before, beforeB := a.Stats(), b.Stats()
	_, err = b.Alloc(threshold)
	assert.ErrorIs(t, err, mmalloc.ErrOutOfMemory, "the bound is the process's")
	_, err = a.Realloc(live[0], 2*threshold)
	assert.ErrorIs(t, err, mmalloc.ErrOutOfMemory, "a Realloc that needs a mapping")
	assert.Equal(t, before, a.Stats(), "a refusal changes nothing")
	assert.Equal(t, beforeB, b.Stats(), "a refusal changes nothing")
	small, err := b.Alloc(100)
	require.NoError(t, err, "small objects live in chunks, not bounded")
	require.NoError(t, b.Free(small))

	// A freed mapping is retired, still mapped: it counts until a's next
	// large Alloc unmaps it to make room, but b cannot take its place.
	require.NoError(t, a.Free(live[0]))
	assert.Equal(t, base+20, mmalloc.GuardMappings())
	_, err = b.Alloc(threshold)
	assert.ErrorIs(t, err, mmalloc.ErrOutOfMemory)
	live[0], err = a.Alloc(threshold)
	require.NoError(t, err, "a unmaps its retired mapping for its own")
	assert.Equal(t, base+20, mmalloc.GuardMappings())
	_, err = a.Realloc(live[1], threshold+1)
	require.ErrorIs(t, err, mmalloc.ErrOutOfMemory, "Realloc maps before it frees")

	require.NoError(t, a.Free(live[1]))
	require.NoError(t, a.Trim())
	assert.Equal(t, base+18, mmalloc.GuardMappings(), "Trim unmaps retired mappings")
	p, err := b.Alloc(threshold)
	require.NoError(t, err, "room for b now")
	require.NoError(t, b.Free(p))

	require.NoError(t, a.Validate())
	require.NoError(t, b.Validate())
	require.NoError(t, a.Close())
	require.NoError(t, b.Close())
	assert.Equal(t, base, mmalloc.GuardMappings(), "Close gives every mapping back")
}

// TestGuardLeavesMappingsToTheProcess, in a child process with the bound
// the kernel sets (vm.max_map_count, read from /proc): two guard
// Allocators allocate large objects until refused, with ErrOutOfMemory,
// at half of vm.max_map_count between them (16382 objects with the
// default 65530). The process then still has room to map: its kernel
// mappings grew by no more than guard mode counted, and the Go heap grows
// by 256 MiB and collects without dying of a fatal error. Close gives it
// all back.
func TestGuardLeavesMappingsToTheProcess(t *testing.T) {
	inChild(t, func(t *testing.T) {
		data, err := os.ReadFile("/proc/sys/vm/max_map_count")
		require.NoError(t, err)
		maxMaps, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
		require.NoError(t, err)
		if maxMaps > 1<<21 {
			t.Skipf("vm.max_map_count is %d: guard mode's half of it is more objects than a test should map", maxMaps)
		}
		limit := mmalloc.GuardMappingLimit()
		require.Equal(t, maxMaps/2, limit, "half of vm.max_map_count")
		require.Zero(t, mmalloc.GuardMappings(), "a fresh process")
		mapsBefore := int64(len(testutil.Maps(t)))

		a := newAlloc(t, mmalloc.Options{Guard: true})
		b := newAlloc(t, mmalloc.Options{Guard: true})
		var objects [][]byte
		for i := int64(0); i <= maxMaps; i++ {
			from := a
			if i%2 == 1 {
				from = b
			}
			p, err := from.Alloc(threshold)
			if err != nil {
				require.ErrorIs(t, err, mmalloc.ErrOutOfMemory)
				assert.Contains(t, err.Error(), "vm.max_map_count")
				break
			}
			objects = append(objects, p)
		}
		assert.Equal(t, limit/2, int64(len(objects)), "two kernel mappings per object")
		if maxMaps == 65530 {
			assert.Len(t, objects, 16382, "the figure of Options.Guard's doc")
		}
		mapsNow := int64(len(testutil.Maps(t)))
		t.Logf("vm.max_map_count %d: %d guarded objects, the process holds %d mappings (%d before)",
			maxMaps, len(objects), mapsNow, mapsBefore)
		assert.LessOrEqual(t, mapsNow-mapsBefore, mmalloc.GuardMappings()+256,
			"guard mode counts at least what it maps (the runtime may map a little meanwhile)")
		assert.GreaterOrEqual(t, maxMaps-mapsNow, maxMaps/2-mapsBefore-256, "room left for the rest of the process")

		// The Go heap grows by 256 MiB, in 64 KiB objects, and collects.
		heap := make([][]byte, 0, 4096)
		for range 4096 {
			p := make([]byte, 64*kib)
			p[0], p[len(p)-1] = 1, 2
			heap = append(heap, p)
		}
		runtime.GC()
		for _, p := range heap {
			require.Equal(t, byte(2), p[len(p)-1])
		}
		heap = nil
		runtime.GC()

		for i, p := range objects {
			from := a
			if i%2 == 1 {
				from = b
			}
			require.NoError(t, from.Free(p))
		}
		require.NoError(t, a.Validate())
		require.NoError(t, b.Validate())
		require.NoError(t, a.Close())
		require.NoError(t, b.Close())
		assert.Zero(t, mmalloc.GuardMappings())
	})
}

// TestValidateGuardModeCachesOwnNoSlab: guard mode serves every small
// object from the Centrals under its lock and counts on no cache, a P's
// or a Cache, ever owning a slab. Validate reports a slab planted in
// either kind of cache, and is content again once it is taken out.
func TestValidateGuardModeCachesOwnNoSlab(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cache bool
	}{
		{"a P's cache", false},
		{"a Cache", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newAlloc(t, mmalloc.Options{Guard: true})
			c := a.NewCache()
			defer func() { assert.NoError(t, c.Close()) }()
			// Guard mode's own paths leave every cache empty.
			b, err := c.Alloc(100)
			require.NoError(t, err)
			require.NoError(t, c.Free(b))
			b, err = a.Alloc(100)
			require.NoError(t, err)
			require.NoError(t, a.Free(b))
			require.NoError(t, a.Validate())

			var into *mmalloc.Cache
			if tc.cache {
				into = c
			}
			undo, err := a.PlantSlabForTest(into)
			require.NoError(t, err)
			err = a.Validate()
			undo()
			assert.ErrorContains(t, err, "guard mode, but a cache owns a slab of class 1")
			assert.NoError(t, a.Validate(), "the slab taken back out")
		})
	}
}
