package mmalloc_test

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"runtime"
	"sync"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mmalloc/mmalloc"
	"github.com/mmalloc/mmalloc/internal/ptrfree"
)

// refSizes cover the size classes, the large threshold and large mappings.
var refSizes = []int{1, 8, 15, 16, 100, 256, 1000, 4096, 32*kib + 1, threshold, threshold + 1, mib, 3*mib + 5}

// TestRefRoundTrip allocates every kind of size through each way of
// making a Ref and checks that Bytes gives the allocation's memory at its
// usable size, that RefOf and Bytes agree with Alloc's slice, and that
// FreeRef frees it.
func TestRefRoundTrip(t *testing.T) {
	for _, mode := range []struct {
		name string
		opts mmalloc.Options
	}{{"default", mmalloc.Options{}}, {"guard", mmalloc.Options{Guard: true}}} {
		a := newAlloc(t, mode.opts)
		c := a.NewCache()
		ways := []struct {
			name  string
			alloc func(n int) (mmalloc.Ref, error)
			free  func(r mmalloc.Ref) error
			zero  bool
		}{
			{"Allocator.AllocRef", a.AllocRef, a.FreeRef, true},
			{"Allocator.AllocRefUninit", a.AllocRefUninit, a.FreeRef, false},
			{"Cache.AllocRef", c.AllocRef, c.FreeRef, true},
			{"Cache.AllocRefUninit", c.AllocRefUninit, c.FreeRef, false},
			{"Cache.AllocRef, Allocator.FreeRef", c.AllocRef, a.FreeRef, true},
			{"Allocator.AllocRef, Cache.FreeRef", a.AllocRef, c.FreeRef, true},
		}
		for _, w := range ways {
			for _, n := range refSizes {
				t.Run(fmt.Sprintf("%s/%s/n=%d", mode.name, w.name, n), func(t *testing.T) {
					for round := range 2 { // fresh memory, then reused dirty memory
						r, err := w.alloc(n)
						require.NoError(t, err)
						require.NotZero(t, r)
						b, err := a.Bytes(r)
						require.NoError(t, err)
						assert.Equal(t, a.UsableSize(n), len(b), "len is the usable size")
						assert.Equal(t, len(b), cap(b), "cap == len")
						assert.Equal(t, uintptr(r), addr(b), "Bytes starts at the Ref")
						assert.Equal(t, r, mmalloc.RefOf(b))
						if w.zero {
							assert.True(t, allZero(b), "round %d: not zeroed", round)
						}
						fill(b, uint64(n)+uint64(round))
						again, err := a.Bytes(r)
						require.NoError(t, err)
						assert.Equal(t, -1, check(again, uint64(n)+uint64(round)), "a second Bytes sees the same memory")
						assert.Equal(t, -1, check(r.UnsafeBytes(len(b)), uint64(n)+uint64(round)), "UnsafeBytes sees it too")
						require.NoError(t, w.free(r))
						_, err = a.Bytes(r)
						assert.ErrorIs(t, err, mmalloc.ErrDoubleFree, "Bytes of the freed Ref")
					}
					c.Flush()
					require.NoError(t, a.Validate())
				})
			}
		}
		c.Flush()
		assert.Zero(t, a.Stats().Live, mode.name)
	}
}

// TestRefOfAlloc checks RefOf's promise: Bytes(RefOf(b)) is b[:cap(b)]
// for slices from Alloc, AllocUninit, Realloc and a Cache, and FreeRef
// frees what Alloc returned.
func TestRefOfAlloc(t *testing.T) {
	a := newAlloc(t, mmalloc.Options{})
	c := a.NewCache()
	for _, n := range refSizes {
		for _, way := range []struct {
			name  string
			alloc func(int) ([]byte, error)
		}{
			{"Alloc", a.Alloc},
			{"AllocUninit", a.AllocUninit},
			{"Cache.Alloc", c.Alloc},
			{"Realloc", func(n int) ([]byte, error) {
				b, err := a.Alloc(max(1, n/3))
				if err != nil {
					return nil, err
				}
				return a.Realloc(b, n)
			}},
		} {
			t.Run(fmt.Sprintf("%s/n=%d", way.name, n), func(t *testing.T) {
				b, err := way.alloc(n)
				require.NoError(t, err)
				fill(b, 7)
				r := mmalloc.RefOf(b)
				got, err := a.Bytes(r)
				require.NoError(t, err)
				assert.Equal(t, addr(b), addr(got))
				assert.Equal(t, cap(b), len(got))
				assert.Equal(t, cap(b), cap(got))
				assert.Equal(t, -1, check(got, 7))
				assert.Equal(t, r, mmalloc.RefOf(b[:0]), "the Ref does not depend on len")
				require.NoError(t, a.FreeRef(r))
				assert.ErrorIs(t, a.Free(b), mmalloc.ErrDoubleFree, "FreeRef freed b")
			})
		}
	}
	c.Flush()
	require.NoError(t, a.Validate())
	assert.Zero(t, a.Stats().Live)
}

// TestRefZero checks the zero Ref and the empty cases: no allocation,
// nothing to free, an empty slice.
func TestRefZero(t *testing.T) {
	a := newAlloc(t, mmalloc.Options{})
	c := a.NewCache()
	before := a.Stats()

	for name, alloc := range map[string]func(int) (mmalloc.Ref, error){
		"AllocRef": a.AllocRef, "AllocRefUninit": a.AllocRefUninit,
		"Cache.AllocRef": c.AllocRef, "Cache.AllocRefUninit": c.AllocRefUninit,
	} {
		r, err := alloc(0)
		assert.NoError(t, err, name)
		assert.Zero(t, r, name)
		r, err = alloc(-1)
		assert.ErrorIs(t, err, mmalloc.ErrInvalidSize, name)
		assert.Zero(t, r, name)
	}
	assert.NoError(t, a.FreeRef(0))
	assert.NoError(t, c.FreeRef(0))
	b, err := a.Bytes(0)
	require.NoError(t, err)
	assert.NotNil(t, b)
	assert.Zero(t, cap(b))

	assert.Zero(t, mmalloc.RefOf(nil))
	assert.Zero(t, mmalloc.RefOf([]byte{}))
	assert.Zero(t, mmalloc.RefOf(make([]byte, 0)))
	assert.Nil(t, mmalloc.Ref(0).UnsafeBytes(10))
	live, err := a.AllocRef(10)
	require.NoError(t, err)
	assert.Nil(t, live.UnsafeBytes(0))
	assert.Nil(t, live.UnsafeBytes(-1))
	require.NoError(t, a.FreeRef(live))

	c.Flush()
	after := a.Stats()
	assert.Equal(t, before.Live, after.Live)
	require.NoError(t, a.Validate())
}

// TestRefBadCalls passes Bytes and FreeRef (of the Allocator and of a
// Cache) every kind of bad Ref — foreign, interior, freed, forged — with
// live allocations of every kind around, and checks that each call
// returns its sentinel and changes nothing: not the stats, not a byte of
// any live allocation. Then the same after Close.
func TestRefBadCalls(t *testing.T) {
	for _, mode := range []struct {
		name string
		opts mmalloc.Options
	}{{"default", mmalloc.Options{}}, {"guard", mmalloc.Options{Guard: true}}} {
		t.Run(mode.name, func(t *testing.T) { testRefBadCalls(t, mode.opts) })
	}
}

func testRefBadCalls(t *testing.T, opts mmalloc.Options) {
	a := newAlloc(t, opts)
	other := newAlloc(t, mmalloc.Options{})
	c := a.NewCache()

	sizes := []int{16, 100, 4096, threshold, threshold + 1, 3 * mib}
	live := make([]mmalloc.Ref, len(sizes))
	for i, n := range sizes {
		r, err := a.AllocRef(n)
		require.NoError(t, err)
		b, err := a.Bytes(r)
		require.NoError(t, err)
		fill(b, uint64(i))
		live[i] = r
	}
	small, large := live[1], live[5]
	freedSmall, err := a.AllocRef(100)
	require.NoError(t, err)
	require.NoError(t, a.FreeRef(freedSmall))
	freedLarge, err := a.AllocRef(2 * mib)
	require.NoError(t, err)
	require.NoError(t, a.FreeRef(freedLarge))
	otherSmall, err := other.AllocRef(100)
	require.NoError(t, err)
	otherLarge, err := other.AllocRef(threshold + 1)
	require.NoError(t, err)
	heapBuf := make([]byte, 100)
	// A Go heap object the collector has freed: its address may lie in a
	// span that is free now, which the collector must never find held as a
	// pointer.
	gone := mmalloc.RefOf(make([]byte, 200))
	runtime.GC()

	refs := []struct {
		name string
		r    mmalloc.Ref
		want error
	}{
		{"a Go heap slice", mmalloc.RefOf(heapBuf), mmalloc.ErrForeignPointer},
		{"a collected Go heap object", gone, mmalloc.ErrForeignPointer},
		{"a global array", mmalloc.RefOf(globalBuf[:]), mmalloc.ErrForeignPointer},
		{"a string literal", mmalloc.Ref(uintptr(unsafe.Pointer(unsafe.StringData(literal)))), mmalloc.ErrForeignPointer},
		{"another allocator's small object", otherSmall, mmalloc.ErrForeignPointer},
		{"another allocator's large mapping", otherLarge, mmalloc.ErrForeignPointer},
		{"one", 1, mmalloc.ErrForeignPointer},
		{"the first page", 4096, mmalloc.ErrForeignPointer},
		{"above the user address space", 1 << 47, mmalloc.ErrForeignPointer},
		{"above the registry's reach", 1 << 48, mmalloc.ErrForeignPointer},
		{"the top bit", 1 << 63, mmalloc.ErrForeignPointer},
		{"all ones", ^mmalloc.Ref(0), mmalloc.ErrForeignPointer},
		{"the interior of a small object", small + 1, mmalloc.ErrInvalidPointer},
		{"the interior of a small object at 16 B", small + 16, mmalloc.ErrInvalidPointer},
		{"the last byte of a 4 KiB object", live[2] + 4095, mmalloc.ErrInvalidPointer},
		{"the interior of a large mapping, page aligned", large + mmalloc.Ref(pageBytes), mmalloc.ErrInvalidPointer},
		{"the interior of a large mapping, odd offset", large + 12345, mmalloc.ErrInvalidPointer},
		{"a freed small object", freedSmall, mmalloc.ErrDoubleFree},
		{"a freed large mapping", freedLarge, mmalloc.ErrDoubleFree},
		{"the free pages of a chunk", small + 2*mib, mmalloc.ErrDoubleFree},
	}
	if opts.Guard {
		// Guard mode unmaps a freed large mapping's memory but keeps its
		// range reserved: the same answer, found another way.
		refs = append(refs, struct {
			name string
			r    mmalloc.Ref
			want error
		}{"inside a freed large mapping", freedLarge + mmalloc.Ref(pageBytes), mmalloc.ErrDoubleFree})
	}
	ops := []struct {
		name string
		do   func(mmalloc.Ref) error
	}{
		{"Bytes", func(r mmalloc.Ref) error {
			b, err := a.Bytes(r)
			if b != nil {
				return fmt.Errorf("Bytes returned %d bytes with error %v", len(b), err)
			}
			return err
		}},
		{"FreeRef", a.FreeRef},
		{"Cache.FreeRef", c.FreeRef},
	}
	require.GreaterOrEqual(t, len(refs)*len(ops), 60)

	before := a.Stats()
	for _, tc := range refs {
		for _, op := range ops {
			t.Run(op.name+" of "+tc.name, func(t *testing.T) {
				var err error
				require.NotPanics(t, func() { err = op.do(tc.r) })
				assert.ErrorIs(t, err, tc.want)
				assert.Equal(t, before, a.Stats(), "stats moved")
				for i, r := range live {
					b, err := a.Bytes(r)
					require.NoError(t, err, "live allocation %d lost", i)
					require.Equal(t, -1, check(b, uint64(i)), "live allocation %d changed", i)
				}
				require.NoError(t, a.Validate())
			})
		}
	}

	// After Close every call is ErrClosed, the zero Ref included.
	require.NoError(t, a.Close())
	closed := a.Stats()
	for _, tc := range []struct {
		name string
		do   func() error
	}{
		{"AllocRef", func() error { _, err := a.AllocRef(10); return err }},
		{"AllocRefUninit", func() error { _, err := a.AllocRefUninit(10); return err }},
		{"Cache.AllocRef", func() error { _, err := c.AllocRef(10); return err }},
		{"FreeRef", func() error { return a.FreeRef(small) }},
		{"FreeRef of a large mapping", func() error { return a.FreeRef(large) }},
		{"FreeRef(0)", func() error { return a.FreeRef(0) }},
		{"Cache.FreeRef", func() error { return c.FreeRef(small) }},
		{"Bytes", func() error { _, err := a.Bytes(small); return err }},
		{"Bytes(0)", func() error { _, err := a.Bytes(0); return err }},
	} {
		assert.ErrorIs(t, tc.do(), mmalloc.ErrClosed, tc.name+" after Close")
		assert.Equal(t, closed, a.Stats(), tc.name+" after Close")
	}
}

// TestRefIsPointerFree checks what Ref is for: the typed helpers (which
// refuse any type that can hold a Go pointer) accept it, so an index of
// Refs may even live off the heap itself; and reflect agrees that a map
// of Refs holds nothing the collector must scan.
func TestRefIsPointerFree(t *testing.T) {
	require.NoError(t, ptrfree.Check(reflect.TypeFor[mmalloc.Ref]()))
	require.NoError(t, ptrfree.Check(reflect.TypeFor[struct {
		Key uint64
		Val mmalloc.Ref
	}]()))
	assert.Equal(t, reflect.Uint64, reflect.TypeFor[mmalloc.Ref]().Kind())

	a := newAlloc(t, mmalloc.Options{})
	index, err := mmalloc.MakeSlice[mmalloc.Ref](a, 1000, 1000)
	require.NoError(t, err)
	for i := range index {
		index[i], err = a.AllocRef(8 + i)
		require.NoError(t, err)
	}
	for i, r := range index {
		b, err := a.Bytes(r)
		require.NoError(t, err)
		require.Equal(t, a.UsableSize(8+i), len(b))
		require.NoError(t, a.FreeRef(r))
	}
	require.NoError(t, mmalloc.FreeSlice(a, index))
	assert.Zero(t, a.Stats().Live)
}

// TestRefsSurviveInMaps keeps allocations of mixed sizes only as Refs in
// maps and slices — no slice header of them stays anywhere — while the
// program makes garbage and the collector runs, and checks every byte
// afterwards.
func TestRefsSurviveInMaps(t *testing.T) {
	a := newAlloc(t, mmalloc.Options{})
	n := 20000
	if testing.Short() || raceEnabled {
		n = 3000
	}
	type entry struct {
		ref  mmalloc.Ref
		size int
	}
	byKey := make(map[uint64]entry, n)
	order := make([]mmalloc.Ref, 0, n)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range n {
		size := 1 + rng.IntN(4*kib)
		if i%500 == 0 {
			size = threshold + 1 + rng.IntN(256*kib)
		}
		r, err := a.AllocRef(size)
		require.NoError(t, err)
		fill(r.UnsafeBytes(a.UsableSize(size)), uint64(i))
		byKey[uint64(i)*0x9E3779B97F4A7C15] = entry{r, size}
		order = append(order, r)
	}
	var sink [][]byte
	for range 3 {
		for j := range 5000 {
			sink = append(sink, make([]byte, 64+j%512))
		}
		sink = sink[:0]
		runtime.GC()
	}
	for i := range n {
		e, ok := byKey[uint64(i)*0x9E3779B97F4A7C15]
		require.True(t, ok)
		require.Equal(t, order[i], e.ref)
		b, err := a.Bytes(e.ref)
		require.NoError(t, err)
		require.Equal(t, a.UsableSize(e.size), len(b))
		require.Equal(t, -1, check(b, uint64(i)), "entry %d", i)
	}
	for k, e := range byKey {
		require.NoError(t, a.FreeRef(e.ref))
		delete(byKey, k)
	}
	require.NoError(t, a.Validate())
	assert.Zero(t, a.Stats().Live)
}

// TestRefsFreedElsewhere allocates Refs on some goroutines and hands them
// over a channel to others, which check them with Bytes and free them with
// FreeRef, half through the shared Allocator and half through Caches of
// their own. Under -race this checks that a Ref is all another goroutine
// needs to read and free an allocation.
func TestRefsFreedElsewhere(t *testing.T) {
	a := newAlloc(t, mmalloc.Options{})
	const producers, consumers = 4, 4
	perProducer := 20000
	if testing.Short() || raceEnabled {
		perProducer = 2000
	}
	type item struct {
		r    mmalloc.Ref
		seed uint64
		size int // bytes Bytes gave on the producer's side
	}
	ch := make(chan item, 256)
	var wg, done sync.WaitGroup
	errs := make(chan error, producers+consumers)
	for p := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var c *mmalloc.Cache
			if p%2 == 1 {
				c = a.NewCache()
				defer c.Flush()
			}
			rng := rand.New(rand.NewPCG(uint64(p), 9))
			for i := range perProducer {
				size := 1 + rng.IntN(2*kib)
				if i%97 == 0 {
					size = threshold + 1 + rng.IntN(mib)
				}
				var r mmalloc.Ref
				var err error
				if c != nil {
					r, err = c.AllocRefUninit(size)
				} else {
					r, err = a.AllocRef(size)
				}
				if err != nil {
					errs <- err
					return
				}
				seed := uint64(p)<<32 | uint64(i)
				b, err := a.Bytes(r)
				if err != nil {
					errs <- err
					return
				}
				if len(b) < a.UsableSize(size) {
					errs <- fmt.Errorf("Ref %#x of %d bytes: Bytes gave %d", r, size, len(b))
					return
				}
				fill(b, seed)
				ch <- item{r, seed, len(b)}
			}
		}()
	}
	for k := range consumers {
		done.Add(1)
		go func() {
			defer done.Done()
			var c *mmalloc.Cache
			if k%2 == 0 {
				c = a.NewCache()
				defer c.Flush()
			}
			for it := range ch {
				b, err := a.Bytes(it.r)
				if err == nil && (len(b) != it.size || check(b, it.seed) >= 0) {
					err = fmt.Errorf("Ref %#x: %d bytes, pattern broken at %d", it.r, len(b), check(b, it.seed))
				}
				if err == nil {
					if c != nil {
						err = c.FreeRef(it.r)
					} else {
						err = a.FreeRef(it.r)
					}
				}
				if err != nil {
					errs <- err
					for range ch { // drain so the producers finish
					}
					return
				}
			}
		}()
	}
	wg.Wait()
	close(ch)
	done.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.NoError(t, a.Validate())
	assert.Zero(t, a.Stats().Live)
}

// TestRefFastPathDoesNotAllocate proves that AllocRef+FreeRef (on the
// Allocator and on a Cache) and Bytes of a small allocation make no Go
// heap allocation once warm.
func TestRefFastPathDoesNotAllocate(t *testing.T) {
	skipWithInvariants(t, "every call runs validate, which allocates")
	a := newAlloc(t, mmalloc.Options{})
	c := a.NewCache()
	for _, n := range []int{16, 1000, 32 * kib} {
		for _, way := range []struct {
			name  string
			alloc func(int) (mmalloc.Ref, error)
			free  func(mmalloc.Ref) error
		}{
			{"Allocator", a.AllocRef, a.FreeRef},
			{"Allocator uninit", a.AllocRefUninit, a.FreeRef},
			{"Cache", c.AllocRef, c.FreeRef},
			{"Cache uninit", c.AllocRefUninit, c.FreeRef},
		} {
			allocs := testing.AllocsPerRun(1000, func() {
				r, err := way.alloc(n)
				if err != nil {
					panic(err)
				}
				b, err := a.Bytes(r)
				if err != nil || len(b) != a.UsableSize(n) {
					panic(fmt.Sprint("Bytes: ", err))
				}
				if err := way.free(r); err != nil {
					panic(err)
				}
			})
			assert.Zero(t, allocs, "%s, size %d", way.name, n)
		}
	}
}

// BenchmarkRef measures the Ref calls on one goroutine beside their
// []byte forms.
func BenchmarkRef(b *testing.B) {
	a, err := mmalloc.New(mmalloc.Options{})
	require.NoError(b, err)
	defer a.Close()
	c := a.NewCache()
	for _, n := range []int{64, 4096, 1 << 20} {
		b.Run(fmt.Sprintf("AllocRef+FreeRef/%s", sizeLabel(n)), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				r, _ := a.AllocRef(n)
				_ = a.FreeRef(r)
			}
		})
		b.Run(fmt.Sprintf("Alloc+Free/%s", sizeLabel(n)), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				p, _ := a.Alloc(n)
				_ = a.Free(p)
			}
		})
		b.Run(fmt.Sprintf("Cache.AllocRef+FreeRef/%s", sizeLabel(n)), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				r, _ := c.AllocRef(n)
				_ = c.FreeRef(r)
			}
		})
		r, err := a.AllocRef(n)
		require.NoError(b, err)
		b.Run(fmt.Sprintf("Bytes/%s", sizeLabel(n)), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, _ = a.Bytes(r)
			}
		})
		b.Run(fmt.Sprintf("UnsafeBytes/%s", sizeLabel(n)), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = r.UnsafeBytes(n)
			}
		})
		require.NoError(b, a.FreeRef(r))
	}
}

// sizeLabel names a size for a benchmark: 64B, 4KiB, 1MiB.
func sizeLabel(n int) string {
	switch {
	case n >= mib && n%mib == 0:
		return fmt.Sprintf("%dMiB", n/mib)
	case n >= kib && n%kib == 0:
		return fmt.Sprintf("%dKiB", n/kib)
	default:
		return fmt.Sprintf("%dB", n)
	}
}
