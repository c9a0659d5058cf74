package slabs

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mmalloc/mmalloc/internal/chunk"
	"github.com/mmalloc/mmalloc/internal/errs"
	"github.com/mmalloc/mmalloc/internal/osmem"
)

// TestClassWasteBound checks the generated table by brute force: every
// request from 128 B up wastes less than 12.5% of its object, every request
// gets the smallest class that holds it, and slabs waste at most 1/16.
func TestClassWasteBound(t *testing.T) {
	for n := 1; n <= MaxSmallBytes; n++ {
		c := ClassOf(n)
		require.NotZero(t, c, "n=%d", n)
		size := ClassBytes(c)
		require.GreaterOrEqual(t, size, n)
		if c > 1 {
			require.Less(t, ClassBytes(c-1), n, "n=%d is not in the smallest class that holds it", n)
		}
		if n >= 128 {
			require.Less(t, (size-n)*8, size, "n=%d in class %d wastes 12.5%% or more", n, size)
		}
	}
	assert.Zero(t, ClassOf(0))
	assert.Zero(t, ClassOf(-1))
	assert.Zero(t, ClassOf(MaxSmallBytes+1))
	for c := 1; c <= NumClasses; c++ {
		size, sb := ClassBytes(c), ClassSlabBytes(c)
		if size >= 16 {
			assert.Zero(t, size%16, "class %d keeps 16-byte alignment", c)
		}
		assert.Zero(t, sb%int(osmem.PageBytes), "slab of class %d is whole pages", c)
		assert.GreaterOrEqual(t, sb/size, 4)
		assert.LessOrEqual(t, (sb%size)*16, sb, "slab tail of class %d wastes more than 1/16", c)
		assert.LessOrEqual(t, sb, chunk.GranuleBytes, "a slab fits the smallest chunk")
	}
}

// TestIndex checks the multiply-rotate index against real division for
// every offset of every slab, and for offsets below the base and past the
// end: an offset is accepted exactly when it is an object's first byte.
func TestIndex(t *testing.T) {
	for c := 1; c <= NumClasses; c++ {
		size := uint64(classBytes[c])
		objects := uint64(classSlabBytes[c]) / size
		s := &Slab{base: 1 << 40, inv: classInv[c], rot: int8(-int(classShift[c])), objects: int32(objects)}
		check := func(off uint64) {
			i, ok := s.index(s.base + uintptr(off))
			want := off%size == 0 && off/size < objects
			if ok != want || ok && uint64(i) != off/size {
				t.Fatalf("class %d: offset %d gives (%d, %v), want (%d, %v)", c, off, i, ok, off/size, want)
			}
		}
		for off := uint64(0); off < 2*uint64(classSlabBytes[c]); off++ {
			check(off)
		}
		for k := uint64(1); k <= 1<<16; k++ { // below the base
			check(-k * 8)
			check(-k * size)
		}
		for _, off := range []uint64{1 << 32, 1<<32 + size, 1 << 47, 1<<63 - size + 1, 1 << 63, ^uint64(0)} {
			check(off)
		}
	}
}

func newCentrals(t *testing.T, retain int64) ([]Central, *chunk.Heap) {
	src := osmem.NewSource(0)
	src.SetRetainBytes(retain)
	h, err := chunk.NewHeap(src, chunk.HeapOptions{ChunkBytes: 4 << 20})
	require.NoError(t, err)
	t.Cleanup(h.Close)
	cs := make([]Central, ClassSlots)
	for c := 1; c <= NumClasses; c++ {
		cs[c].Init(c, h)
	}
	return cs, h
}

// take hands out one object of class cls through the cache l, as the
// front-ends do: from the slab l owns, else from a new one.
func take(t *testing.T, cs []Central, l *Local, cls int) (uintptr, bool) {
	t.Helper()
	if p, size, zero := l.Alloc(cls); size != 0 {
		return p, zero
	}
	if p, zero, ok := l.AllocNext(cls); ok {
		return p, zero
	}
	old, unused := l.Install(cls, nil)
	s, err := cs[cls].Exchange(old, unused)
	require.NoError(t, err)
	l.Install(cls, s)
	p, zero, ok := l.AllocNext(cls)
	require.True(t, ok, "a slab fresh from Acquire has a free object")
	return p, zero
}

// free frees p through l's chunk memo, by the steps of a cache's fast
// path (Local, "Freeing an object through a cache"): the slab, nil if
// refused.
func free(l *Local, p uintptr) (s *Slab, settle bool) {
	if s = l.Owner(p); s == nil {
		return nil, false
	}
	i, ok := s.Index(p)
	if !ok {
		return nil, false
	}
	word, bit, ok := s.ClaimIndex(i)
	if !ok {
		return nil, false
	}
	return s, l.Freed(s, word, bit)
}

// giveBack releases a held object, as Free's slow path does.
func giveBack(p uintptr) error {
	ch := chunk.Lookup(p)
	if ch == nil {
		return errs.ErrForeignPointer
	}
	s, settle, err := FreeObject(ch, p)
	if err != nil {
		return err
	}
	if settle {
		s.Settle()
	}
	return nil
}

// drain gives back everything l holds.
func drain(cs []Central, l *Local) {
	l.Drain(func(s *Slab, unused int) { cs[s.Class()].Abandon(s, unused) },
		func(c int, allocs, frees uint64) { cs[c].Publish(allocs, frees) })
}

// validate checks every Central, with the reservations of the caches ls.
func validate(cs []Central, ls ...*Local) (held int64, err error) {
	r := map[*Slab]int{}
	for _, l := range ls {
		l.Owns(func(s *Slab, n int) { r[s] = n })
	}
	for c := 1; c <= NumClasses; c++ {
		h, err := cs[c].Validate(func(s *Slab) int { return r[s] })
		if err != nil {
			return 0, err
		}
		held += h
	}
	return held, nil
}

func TestCentralFillDrain(t *testing.T) {
	cs, h := newCentrals(t, 0)
	cls := ClassOf(48)
	c := &cs[cls]
	objects := ClassSlabBytes(cls) / 48
	seen := map[uintptr]bool{}
	var addrs []uintptr
	var l Local
	for len(addrs) < 3*objects { // three slabs' worth
		p, zero := take(t, cs, &l, cls)
		require.True(t, zero, "fresh slab objects read as zero")
		require.False(t, seen[p], "handed out twice")
		seen[p] = true
		addrs = append(addrs, p)
	}
	held, err := validate(cs, &l)
	require.NoError(t, err)
	assert.Equal(t, int64(3*objects), held)
	assert.Equal(t, int64(3), c.Stats().Slabs)
	allocs := l.Allocs(cls)
	assert.Equal(t, uint64(3*objects), allocs)
	drain(cs, &l)
	assert.Equal(t, uint64(3*objects), c.Stats().Allocs, "Drain publishes the counts")
	assert.Equal(t, 3, c.full.n, "full slabs given back sit on the full list")

	for _, p := range addrs {
		ch := chunk.Lookup(p)
		require.NotNil(t, ch)
		_, _, err := FreeObject(ch, p+8)
		require.ErrorIs(t, err, errs.ErrInvalidPointer, "interior")
		require.NoError(t, giveBack(p))
	}
	held, err = validate(cs)
	require.NoError(t, err)
	assert.Zero(t, held)
	assert.Zero(t, c.Stats().Slabs, "with no retention budget no empty slab is kept")
	inuse, empty := h.Counts()
	assert.Zero(t, inuse+empty, "the chunk went back to the OS at once")
	assert.Zero(t, h.Source().Mapped())
	assert.Nil(t, chunk.Lookup(addrs[0]), "the chunk is no longer registered")
}

func TestEmptySlabsChargeTheBudget(t *testing.T) {
	sb := ClassSlabBytes(ClassOf(4096))
	cs, h := newCentrals(t, int64(2*sb))
	cls := ClassOf(4096)
	c := &cs[cls]
	var ps []uintptr
	var l Local
	for range 5 * sb / 4096 { // five slabs
		p, _ := take(t, cs, &l, cls)
		ps = append(ps, p)
	}
	drain(cs, &l)
	for _, p := range ps {
		require.NoError(t, giveBack(p))
	}
	assert.Equal(t, int64(2), c.Stats().Slabs, "two empty slabs fit the budget")
	assert.Equal(t, int64(2*sb), h.Source().Retained())
	_, err := validate(cs)
	require.NoError(t, err)
	c.Trim()
	assert.Zero(t, c.Stats().Slabs)
	assert.Equal(t, h.Charged(), h.Source().Retained(), "the pages stay charged, as free dirty pages of the chunk")
	h.Trim()
	assert.Zero(t, h.Source().Retained())
}

// TestSlabHandsOutInOrderThenReuses: a cache hands its slab's objects out
// in address order, and comes back to a freed one (dirty: the caller
// clears it) once the rest are out.
func TestSlabHandsOutInOrderThenReuses(t *testing.T) {
	cs, _ := newCentrals(t, 0)
	cls := ClassOf(1000)
	objects := ClassSlabBytes(cls) / ClassBytes(cls)
	var l Local
	var ps []uintptr
	for range 10 {
		p, _ := take(t, cs, &l, cls)
		ps = append(ps, p)
	}
	for i := 1; i < len(ps); i++ {
		require.Equal(t, ps[i-1]+uintptr(ClassBytes(cls)), ps[i], "address order")
	}
	reuse := reuseFree(objects)
	require.Equal(t, 8, reuse, "an eighth of 64 objects")
	for _, p := range ps[:reuse-1] {
		require.NoError(t, giveBack(p))
	}
	for range objects - 10 {
		_, zero := take(t, cs, &l, cls)
		require.True(t, zero, "never handed out before")
	}
	p, zero := take(t, cs, &l, cls)
	assert.NotEqual(t, ps[0], p, "%d free objects are not worth a visit: a new slab", reuse-1)
	assert.True(t, zero)
	require.NoError(t, giveBack(ps[reuse-1]))
	for range objects - 1 { // the rest of the new slab
		take(t, cs, &l, cls)
	}
	for i := range reuse {
		p, zero := take(t, cs, &l, cls)
		assert.Equal(t, ps[i], p, "the freed slots come back in address order once %d are free", reuse)
		assert.False(t, zero, "a reused slot must be cleared by the caller")
	}
	require.ErrorIs(t, giveBack(ps[9]+1), errs.ErrInvalidPointer)
	require.NoError(t, giveBack(ps[9]))
	require.ErrorIs(t, giveBack(ps[9]), errs.ErrDoubleFree)
	held, err := validate(cs, &l)
	require.NoError(t, err)
	assert.Equal(t, int64(2*objects-1), held)
}

// TestLocalOwnsOneSlab: a cache owns at most one slab per class, caches
// free objects a word at a time, and gives the slab back on Drain.
func TestLocalOwnsOneSlab(t *testing.T) {
	cs, _ := newCentrals(t, 0)
	cls := ClassOf(16)
	var l Local
	_, size, _ := l.Alloc(cls)
	require.Zero(t, size, "an empty cache owns no slab")
	p, _ := take(t, cs, &l, cls)
	assert.Equal(t, 63, l.Cached(cls), "a word of objects cached, one handed out")
	n := 0
	l.Owns(func(s *Slab, r int) {
		n++
		assert.Equal(t, 63, r)
		assert.Equal(t, 64, s.count(), "the slab counts what the cache cached")
	})
	assert.Equal(t, 1, n)
	require.NoError(t, giveBack(p))
	frees := l.Frees(cls)
	assert.Zero(t, frees, "a free through the registry is the caller's to count")
	drain(cs, &l)
	assert.Zero(t, l.Cached(cls))
	assert.Equal(t, uint64(1), cs[cls].Stats().Allocs)
	assert.Zero(t, cs[cls].Stats().Slabs, "the empty slab went back to its chunk")
	l.Owns(func(*Slab, int) { t.Fatal("a drained cache owns nothing") })
}

// TestOwnedBytesBound pins the per-cache bound the docs quote.
func TestOwnedBytesBound(t *testing.T) {
	sum := 0
	for c := 1; c <= NumClasses; c++ {
		sum += ClassSlabBytes(c)
	}
	assert.Equal(t, sum, OwnedBytesBound())
	assert.Equal(t, 11993088, OwnedBytesBound(), "the docs say about 11.4 MiB per cache")
}

func TestCentralClosed(t *testing.T) {
	cs, _ := newCentrals(t, 0)
	c := &cs[1]
	c.Close()
	_, err := c.Acquire()
	require.ErrorIs(t, err, errs.ErrClosed)
	_, _, err = c.AllocOne()
	require.ErrorIs(t, err, errs.ErrClosed)
}

// TestRemoteFreesRaceAbandon: objects of slabs that caches own are freed
// from other goroutines while the caches allocate, change slabs and
// drain; every slab ends where its count says, and all memory goes back.
func TestRemoteFreesRaceAbandon(t *testing.T) {
	cs, h := newCentrals(t, 0)
	cls := ClassOf(64)
	const workers, rounds = 4, 20000
	ch := make(chan uintptr, 1024)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(2)
		go func() { // allocates through its own cache, sends every object on
			defer wg.Done()
			var l Local
			for i := range rounds {
				p, _ := take(t, cs, &l, cls)
				ch <- p
				if i%997 == 0 {
					drain(cs, &l)
				}
			}
			drain(cs, &l)
		}()
		go func() { // frees what others allocated
			defer wg.Done()
			for range rounds {
				assert.NoError(t, giveBack(<-ch))
			}
		}()
	}
	wg.Wait()
	held, err := validate(cs)
	require.NoError(t, err)
	assert.Zero(t, held)
	assert.Zero(t, cs[cls].Stats().Slabs)
	assert.Zero(t, h.Source().Mapped())
}

// TestValidateCatches breaks each invariant of a Central on purpose.
func TestValidateCatches(t *testing.T) {
	setup := func(t *testing.T) ([]Central, *Central, *Slab) {
		cs, _ := newCentrals(t, 0)
		cls := ClassOf(48) // 1365 objects: the last owner word is partly valid
		var l Local
		for range 1500 { // one full slab, one owned
			take(t, cs, &l, cls)
		}
		drain(cs, &l)
		c := &cs[cls]
		_, err := validate(cs)
		require.NoError(t, err)
		return cs, c, c.full.head
	}
	for _, tc := range []struct {
		name   string
		break_ func(c *Central, s *Slab)
		want   string
	}{
		{"count", func(c *Central, s *Slab) { s.state().Add(1) }, "counts"},
		{"owner bit past the objects", func(c *Central, s *Slab) { s.owned[len(s.owned)-1] |= 1 << 63 }, "past its"},
		{"held above fresh", func(c *Central, s *Slab) { s.fresh = 3 }, "fresh mark"},
		{"on the wrong list", func(c *Central, s *Slab) { c.full.remove(s); c.partial.push(s, listPartial) }, "on list"},
		{"list count", func(c *Central, s *Slab) { c.full.n++ }, "counts"},
		{"slab count", func(c *Central, s *Slab) { c.slabs++ }, "its lists hold"},
		{"owned flag off the owned list", func(c *Central, s *Slab) { s.state().Or(stateOwned) }, "owned=true"},
		{"page owner", func(c *Central, s *Slab) { c.heap.FreePages(s.chunk, int(s.page), 1) }, "not recorded"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs, c, s := setup(t)
			require.NotNil(t, s)
			tc.break_(c, s)
			_, err := validate(cs)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

// TestLocalFreeOfOwnSlab: frees through the cache that owns the slab are
// taken off the slab's count in one go, when the cache next caches or
// gives the slab back; the counts stay exact throughout.
func TestLocalFreeOfOwnSlab(t *testing.T) {
	cs, _ := newCentrals(t, 0)
	cls := ClassOf(64)
	var l Local
	var ps []uintptr
	for range 70 { // word 0 handed out whole, word 1 cached
		p, _ := take(t, cs, &l, cls)
		ps = append(ps, p)
	}
	l.Remember(chunk.Lookup(ps[0]))
	require.Equal(t, 58, l.Cached(cls))
	// Objects of word 0: pending, taken off the count at the next cache.
	for _, p := range ps[:5] {
		s, settle := free(&l, p)
		require.NotNil(t, s)
		assert.False(t, settle, "an owned slab never settles")
	}
	s, _ := free(&l, ps[0])
	assert.Nil(t, s, "a second free is refused, for the slow path to explain")
	assert.EqualValues(t, 5, l.cls[cls].freed)
	assert.Equal(t, 58, l.Cached(cls), "frees of another word are not cached")
	// Objects of word 1, the one cached: each cached again at the
	// next free (recycle), then handed out lowest first.
	for _, p := range []uintptr{ps[67], ps[65]} {
		s, settle := free(&l, p)
		require.NotNil(t, s)
		assert.False(t, settle)
	}
	s, _ = free(&l, ps[65])
	assert.Nil(t, s, "a second free of a cached object is refused")
	assert.Equal(t, 60, l.Cached(cls))
	assert.EqualValues(t, 5, l.cls[cls].freed, "a free of the cached word is not pending")
	held, err := validate(cs, &l)
	require.NoError(t, err)
	assert.Equal(t, int64(70-7), held)
	p, zero := take(t, cs, &l, cls)
	assert.Equal(t, ps[67], p, "the object freed back first is handed out first")
	assert.False(t, zero, "an object used before does not read as zero")
	p, zero = take(t, cs, &l, cls)
	assert.Equal(t, ps[69]+64, p, "the one freed last waits for the next free")
	assert.True(t, zero)
	for range 64 { // past the cached word: the pending frees are taken off
		take(t, cs, &l, cls)
	}
	assert.Zero(t, l.cls[cls].freed)
	held, err = validate(cs, &l)
	require.NoError(t, err)
	assert.Equal(t, int64(70-5+64), held)
	drain(cs, &l)
	_, frees := cs[cls].Stats().Allocs, cs[cls].Stats().Frees
	assert.Equal(t, uint64(7), frees)
	held, err = validate(cs)
	require.NoError(t, err)
	assert.Equal(t, int64(70-5+64), held)
}

// freeCached is the first step of a free through a cache.
func freeCached(l *Local, c int, addr uintptr) bool {
	i, ok := l.CachedIndex(c, addr)
	return ok && l.FreeCached(c, i)
}

// TestFreeCached frees objects of the owner word a cache caches from
// by the quickest step: each is refused unless it is an object of that
// word, of the class guessed, held by a caller; a freed one is cached
// again at the next free (lowest first), and no longer reads as zero. The
// counts stay exact throughout (validate).
func TestFreeCached(t *testing.T) {
	cs, _ := newCentrals(t, 0)
	cls := ClassOf(48) // 1365 objects: the last owner word is partly valid
	size := uintptr(ClassBytes(cls))
	var l Local
	assert.False(t, freeCached(&l, cls, 0x1000), "an empty cache caches from no word")
	p0, zero := take(t, cs, &l, cls)
	require.True(t, zero, "a fresh slab's first object reads as zero")
	p1, _ := take(t, cs, &l, cls)
	p2, _ := take(t, cs, &l, cls)
	require.Equal(t, []uintptr{p0 + size, p0 + 2*size}, []uintptr{p1, p2})
	require.Equal(t, 61, l.Cached(cls))

	for _, tc := range []struct {
		name string
		cls  int
		addr uintptr
	}{
		{"inside an object", cls, p1 + 1},
		{"a cached object, not handed out", cls, p2 + size},
		{"below the word", cls, p0 - size},
		{"past the word", cls, p0 + 64*size},
		{"another class guessed", ClassOf(64), p1},
		{"no class", 0, p1},
	} {
		assert.False(t, freeCached(&l, tc.cls, tc.addr), tc.name)
		held, err := validate(cs, &l)
		require.NoError(t, err, tc.name)
		assert.Equal(t, int64(3), held, "%s: nothing changed", tc.name)
	}

	require.True(t, freeCached(&l, cls, p1))
	assert.False(t, freeCached(&l, cls, p1), "a second free is refused")
	assert.Equal(t, 62, l.Cached(cls), "kept by the cache")
	assert.EqualValues(t, 1, l.Frees(cls))
	held, err := validate(cs, &l)
	require.NoError(t, err)
	assert.Equal(t, int64(2), held)
	p3, zero := take(t, cs, &l, cls)
	assert.Equal(t, p2+size, p3, "the object freed last waits for the next free")
	assert.True(t, zero, "the next fresh object reads as zero")
	assert.False(t, freeCached(&l, cls, p1), "and a second free of it is still refused")
	require.True(t, freeCached(&l, cls, p3))
	p, zero := take(t, cs, &l, cls)
	assert.Equal(t, p1, p, "cached again at the next free, before the higher objects")
	assert.False(t, zero, "an object used before does not read as zero")
	p, _ = take(t, cs, &l, cls)
	assert.Equal(t, p3+size, p, "p3 waits")

	// The last, partial word: 1365 = 21*64 + 21 objects. Its objects are
	// found, and the address of the 22nd, which lies in the next slab's
	// pages or past the chunk, is not.
	for range 21*64 - 5 { // objects 5 to 63 of word 0 (3 waits), and words 1 to 20
		take(t, cs, &l, cls)
	}
	last, _ := take(t, cs, &l, cls)
	s := l.cold[cls].s
	require.Equal(t, 21, l.cold[cls].w, "caching from the last word")
	require.Equal(t, s.base+uintptr(21*64)*size, last)
	assert.False(t, freeCached(&l, cls, s.base+uintptr(s.objects)*size), "past the slab's last object")
	require.True(t, freeCached(&l, cls, last))
	held, err = validate(cs, &l)
	require.NoError(t, err)
	assert.Equal(t, int64(21*64-1), held, "all of words 0 to 20 but object 3")

	// After the cache gives the slab back, nothing of it is found.
	drain(cs, &l)
	assert.False(t, freeCached(&l, cls, p0))
	require.NoError(t, giveBack(p0))
}

// TestReservationReadsAsZero: a reservation notes which of its objects
// read as zero (never handed out, in a slab carved from clean pages) and
// moves the fresh mark past them, so that no owner bit is ever set at or
// above it; objects cached and given back unused lose the note, which
// only costs a clearing later.
func TestReservationReadsAsZero(t *testing.T) {
	cs, _ := newCentrals(t, 0)
	cls := ClassOf(64)
	var l Local
	var ps []uintptr
	for range 3 {
		p, zero := take(t, cs, &l, cls)
		require.True(t, zero)
		ps = append(ps, p)
	}
	s := l.cold[cls].s
	assert.EqualValues(t, 64, s.fresh, "the whole word cached is past the mark")
	assert.Equal(t, ^uint64(0)&^7, l.cls[cls].zero&l.cls[cls].mask, "the rest of the word reads as zero")
	drain(cs, &l) // the 61 cached objects go back unused
	_, err := validate(cs)
	require.NoError(t, err)
	var l2 Local
	for i := range 64 + 3 {
		p, zero := take(t, cs, &l2, cls)
		switch {
		case i < 61:
			assert.False(t, zero, "object %d was cached before: not known to be zero", i+3)
			assert.Equal(t, ps[0]+uintptr(i+3)*64, p)
		default:
			assert.True(t, zero, "object %d was never cached", i+3)
		}
	}
	_, err = validate(cs, &l2)
	require.NoError(t, err)
}

// TestReservationBelowFreshMark: objects handed out one at a time
// (Central.AllocOne, for guard mode) move the fresh mark inside an owner
// word; a cache that caches the word later knows which of its free
// objects were used before (below the mark) and which read as zero.
func TestReservationBelowFreshMark(t *testing.T) {
	cs, _ := newCentrals(t, 0)
	cls := ClassOf(64)
	var ps []uintptr
	for range 5 {
		p, zero, err := cs[cls].AllocOne()
		require.NoError(t, err)
		require.True(t, zero)
		ps = append(ps, p)
	}
	require.NoError(t, giveBack(ps[2]))
	var l Local
	p, zero := take(t, cs, &l, cls)
	require.Equal(t, ps[2], p, "the lowest free object first")
	assert.False(t, zero, "it was used: below the fresh mark")
	p, zero = take(t, cs, &l, cls)
	require.Equal(t, ps[4]+64, p)
	assert.True(t, zero, "never handed out: at the fresh mark")
	_, err := validate(cs, &l)
	require.NoError(t, err)
}

// TestPendingObjectLeavesWithItsWord: the object freed last, not yet
// cached again, is counted once whatever happens next: the cache moves
// to another word, or gives the slab back, or changes slabs.
func TestPendingObjectLeavesWithItsWord(t *testing.T) {
	cs, _ := newCentrals(t, 0)
	cls := ClassOf(1024) // 64 objects: one owner word
	var l Local
	var ps []uintptr
	for range 64 {
		p, _ := take(t, cs, &l, cls)
		ps = append(ps, p)
	}
	old := l.cold[cls].s
	require.True(t, freeCached(&l, cls, ps[10]))
	held, err := validate(cs, &l)
	require.NoError(t, err)
	assert.Equal(t, int64(63), held)
	assert.Equal(t, 1, l.Cached(cls), "the pending object")
	// The word has nothing cached, one object free: not worth
	// caching again (reuseFree is 8), so the cache changes slabs.
	p, _ := take(t, cs, &l, cls)
	require.NotEqual(t, old, l.cold[cls].s)
	assert.NotContains(t, ps, p)
	assert.Equal(t, 63, old.count(), "the slab given back counts its 63 held objects, once")
	held, err = validate(cs, &l)
	require.NoError(t, err)
	assert.Equal(t, int64(64), held)
	// Pending, then the slab given back.
	require.True(t, freeCached(&l, cls, p))
	drain(cs, &l)
	held, err = validate(cs)
	require.NoError(t, err)
	assert.Equal(t, int64(63), held)
}
