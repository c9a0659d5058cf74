// The sampled allocations of one allocator: buckets, live set, filter.
// See doc.go.

package heapprof

import (
	"math/bits"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
)

// maxStackDepth is the most frames a sample records, this module's own
// included (a handful: they are trimmed when the profile is written).
const maxStackDepth = 64

// Profile holds the sampled allocations of one allocator. The zero Profile
// has sampling off and records nothing; Init turns it on.
//
// A Profile is safe for concurrent use.
type Profile struct {
	// filter is nil while no sample is live; else every live sample's
	// slot bit is set in it. Loaded without the lock; stored under it.
	filter atomic.Pointer[filter]

	rate int64 // mean bytes between samples; < 0: off. Read-only after Init.

	mu      sync.Mutex
	buckets map[uint64]*bucket     // by stackKey; chained
	live    liveSet                // sampled allocations not yet freed
	kept    *filter                // the filter, also while unpublished
	extra   map[uint64]int32       // slots of kept with n > 1 live samples: n - 1
	peak    int                    // most live samples since live, extra and kept were built
	stack   [maxStackDepth]uintptr // Record's walk of frame pointers
	seeds   rand.PCG               // seeds of the Samplers
	shared  Sampler                // for callers without a Sampler of their own
	ready   bool                   // Init has run
}

// bucket counts the samples of one call stack and size. stk and size are
// read-only; the counts are under Profile.mu.
type bucket struct {
	stk      []uintptr
	physical bool // stk is return PCs of frame pointers (see Record)
	size     int64
	allocs   int64 // sampled allocations
	frees    int64 // of which freed
	next     *bucket
}

// Init turns sampling on at rate (mean bytes between samples): 0 means
// DefaultRate, a negative rate keeps it off, 1 samples every allocation.
// It must run before any other use of p.
func (p *Profile) Init(rate int) {
	if rate == 0 {
		rate = DefaultRate
	}
	p.rate = int64(rate)
	p.ready = true
	p.seeds.Seed(rand.Uint64(), rand.Uint64())
	p.shared.Init(p)
}

// Rate returns the mean bytes between samples (1: every allocation), or a
// negative number when sampling is off.
func (p *Profile) Rate() int64 {
	if !p.ready {
		return -1
	}
	return p.rate
}

// On reports whether p samples.
func (p *Profile) On() bool { return p.ready && p.rate >= 0 }

// SetSeed makes the intervals of the Samplers initialised from now on a
// function of seed alone, for tests that need them repeatable.
func (p *Profile) SetSeed(seed uint64) {
	p.mu.Lock()
	p.seeds.Seed(seed, seed^0x5851f42d4c957f2d)
	p.shared.rng.Seed(seed, seed)
	p.mu.Unlock()
}

// seed returns a seed for a new Sampler.
func (p *Profile) seed() (uint64, uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.seeds.Uint64(), p.seeds.Uint64()
}

// TakeShared is Sampler.Take on p's own Sampler, under p's lock, for a
// caller that has none it may use without one (a goroutine on a P that
// has no cache).
func (p *Profile) TakeShared(n int) bool {
	if !p.On() {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.shared.Take(n)
}

// MaybeLive reports whether addr may be the address of a live sample: a
// false answer is certain. It takes no lock: one load while no sample is
// live, two loads and a multiply otherwise.
func (p *Profile) MaybeLive(addr uintptr) bool {
	f := p.filter.Load()
	return f != nil && f.has(addr)
}

// Record samples the allocation of size bytes at addr, which the caller
// holds: it takes the caller's stack (this module's frames are trimmed at
// writing) and enters addr in the live set. A live sample already at addr
// (its Free was never seen, which only a racing double free can cause)
// counts as freed.
//
// Where frame pointers are walked (see unwind.go), the stack is written
// into p.stack under the lock: a buffer on Record's own stack would be
// zeroed first, and after an allocation whose memory filled the cache
// those were eight of a sample's twenty cache misses. runtime.Callers
// fills a buffer of its own before the lock is taken.
//
// Record is not inlined: the first frame pointer is its own.
//
//go:noinline
func (p *Profile) Record(addr uintptr, size int) {
	if framePointers.Load() {
		p.mu.Lock()
		n := fpCallers(framePointer(), 0, p.stack[:], maxStackBytes)
		p.recordLocked(addr, size, p.stack[:n], true)
		p.mu.Unlock()
		return
	}
	var pcs [maxStackDepth]uintptr
	n := runtime.Callers(2, pcs[:]) // runtime.Callers, Record
	p.mu.Lock()
	p.recordLocked(addr, size, pcs[:n], false)
	p.mu.Unlock()
}

// recordLocked is Record once the stack is taken: physical says whose
// PCs stk holds (see logical). p.mu is held.
func (p *Profile) recordLocked(addr uintptr, size int, stk []uintptr, physical bool) {
	b := p.bucketFor(stackKey(stk, physical, int64(size)), stk, physical, int64(size))
	b.allocs++
	p.addLive(addr, b)
}

// Drop removes the live sample at addr, if there is one, counting it as
// freed. Call it only when MaybeLive(addr) says so, and before the memory
// at addr can be handed out again.
func (p *Profile) Drop(addr uintptr) {
	p.mu.Lock()
	if b := p.removeLive(addr); b != nil {
		b.frees++
	}
	p.mu.Unlock()
}

// A Detached is a live sample taken out of the live set by Detach, to be
// put back by Reattach if the free it was taken out for does not happen.
type Detached struct{ b *bucket }

// Detach is Drop, returning what Reattach needs to undo it.
func (p *Profile) Detach(addr uintptr) Detached {
	if !p.MaybeLive(addr) {
		return Detached{}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	b := p.removeLive(addr)
	if b == nil {
		return Detached{}
	}
	b.frees++
	return Detached{b}
}

// Reattach puts back at addr a sample Detach took out: the allocation was
// not freed after all.
func (p *Profile) Reattach(addr uintptr, d Detached) {
	if d.b == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	d.b.frees--
	p.addLive(addr, d.b)
}

// DropAll counts every live sample as freed: the allocator forgot all its
// allocations at once.
func (p *Profile) DropAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.live.n == 0 {
		return
	}
	p.live.each(func(_ uintptr, b *bucket) { b.frees++ })
	p.filter.Store(nil)
	p.live.clear()
	if p.peak >= minShrinkPeak {
		p.shrink()
		return
	}
	clear(p.extra)
	for i := range p.kept.words {
		p.kept.words[i].Store(0)
	}
}

// Live returns how many sampled allocations are live and their bytes, as
// sampled (not scaled).
func (p *Profile) Live() (objects, bytes int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.live.each(func(_ uintptr, b *bucket) {
		objects++
		bytes += b.size
	})
	return objects, bytes
}

// LiveSet returns the address and size of every live sample.
func (p *Profile) LiveSet() map[uintptr]int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	set := make(map[uintptr]int64, p.live.n)
	p.live.each(func(addr uintptr, b *bucket) { set[addr] = b.size })
	return set
}

// Sampled returns how many allocations were sampled since Init.
func (p *Profile) Sampled() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	var n int64
	for _, b := range p.buckets {
		for ; b != nil; b = b.next {
			n += b.allocs
		}
	}
	return n
}

// stackKey hashes a stack, its kind and a size, for bucketFor. A multiply and a rotation per PC is hash enough for a map key:
// the map hashes the key again, and bucketFor compares the stacks.
func stackKey(stk []uintptr, physical bool, size int64) uint64 {
	h := uint64(size) * 0x9E3779B97F4A7C15
	if physical {
		h = ^h
	}
	for _, pc := range stk {
		h = bits.RotateLeft64((h^uint64(pc))*0xBF58476D1CE4E5B9, 31)
	}
	return h
}

// bucketFor returns the bucket of stk, of its kind, and size, whose
// stackKey is key, making it if need be. p.mu is held.
func (p *Profile) bucketFor(key uint64, stk []uintptr, physical bool, size int64) *bucket {
	for b := p.buckets[key]; b != nil; b = b.next {
		if b.size == size && b.physical == physical && equalStacks(b.stk, stk) {
			return b
		}
	}
	if p.buckets == nil {
		p.buckets = make(map[uint64]*bucket)
	}
	b := &bucket{stk: append([]uintptr(nil), stk...), physical: physical, size: size, next: p.buckets[key]}
	p.buckets[key] = b
	return b
}

func equalStacks(a, b []uintptr) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// addLive enters addr in the live set with bucket b, counting as freed a
// live sample it replaces, and sets addr's filter bit, publishing the
// filter if it was not, and growing it to keep 256 slots per live
// sample. p.mu is held.
func (p *Profile) addLive(addr uintptr, b *bucket) {
	if old := p.live.put(addr, b); old != nil {
		old.frees++
		return // its bit is set already
	}
	if p.kept == nil {
		p.kept = newFilter(minFilterBits)
	}
	if p.live.n*slotsPerSample > p.kept.bits() {
		p.regrow(p.kept.bits() * 4)
	} else {
		p.setBit(p.kept, addr)
	}
	p.peak = max(p.peak, p.live.n)
	if p.filter.Load() == nil {
		p.filter.Store(p.kept)
	}
}

// setBit sets addr's bit in f, or counts one more live sample in its slot
// if the bit is set already. p.mu is held.
func (p *Profile) setBit(f *filter, addr uintptr) {
	i := f.slot(addr)
	if !f.set(i) {
		if p.extra == nil {
			p.extra = make(map[uint64]int32)
		}
		p.extra[i]++
	}
}

// removeLive takes addr out of the live set and returns its bucket, or
// nil if it holds no live sample. Its filter bit is cleared unless another
// live sample shares the slot; the last one unpublishes the filter. p.mu
// is held.
func (p *Profile) removeLive(addr uintptr) *bucket {
	b := p.live.remove(addr)
	if b == nil {
		return nil
	}
	i := p.kept.slot(addr)
	if n := p.sharers(i); n == 0 {
		p.kept.clear(i)
	} else if n == 1 {
		delete(p.extra, i)
	} else {
		p.extra[i] = n - 1
	}
	if p.live.n == 0 {
		p.filter.Store(nil)
	}
	if p.peak >= minShrinkPeak && p.live.n <= p.peak/shrinkFactor {
		p.shrink()
	}
	return b
}

// sharers returns how many live samples share slot i of the filter with
// one more. p.mu is held.
func (p *Profile) sharers(i uint64) int32 {
	if len(p.extra) == 0 { // the common case: no map lookup
		return 0
	}
	return p.extra[i]
}

const (
	// shrinkFactor: the live set, the collision counts and the filter
	// are built anew once the live samples have fallen to this fraction
	// of their peak since the last build, so that a Profile gives back
	// the Go heap its peak took. Building costs time in proportion to the
	// samples left, at most a third of those freed since the peak: a
	// constant per Drop.
	shrinkFactor = 4

	// minShrinkPeak: below this peak nothing is rebuilt. What a Profile
	// can keep for it, a live set of 4096 slots and a filter of 256K
	// bits, is about a hundred KiB.
	minShrinkPeak = 1024
)

// shrink builds the live set, the collision counts and the filter anew,
// sized for the live samples. p.mu is held. The filter is built, and
// published if one was, as regrow does; with nothing live, none is kept
// at all.
func (p *Profile) shrink() {
	p.live.fit()
	p.peak = p.live.n
	if p.live.n == 0 {
		p.kept, p.extra = nil, nil
		return
	}
	bits := minFilterBits
	for p.live.n*slotsPerSample > bits {
		bits *= 4
	}
	p.regrow(bits)
}

// regrow replaces the filter by one of the given bits holding every live
// sample, and publishes it. p.mu is held. A Free still reading the old
// filter sees every bit it had set: at worst a false positive.
func (p *Profile) regrow(bits int) {
	f := newFilter(bits)
	p.extra = nil
	p.live.each(func(addr uintptr, _ *bucket) { p.setBit(f, addr) })
	p.kept = f
	if p.filter.Load() != nil {
		p.filter.Store(f)
	}
}
