// The sampled allocations of one allocator: buckets, live set, filter.
// See doc.go.

package heapprof

import (
	"hash/maphash"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"
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
	buckets map[uint64]*bucket  // by hash of stack and size; chained
	live    map[uintptr]*bucket // sampled allocations not yet freed
	slots   map[uint64]int32    // live samples per slot of kept
	kept    *filter             // the filter, also while unpublished
	peak    int                 // most live samples since live, slots and kept were built
	seeds   rand.PCG            // seeds of the Samplers
	shared  Sampler             // for callers without a Sampler of their own
	ready   bool                // Init has run
}

// bucket counts the samples of one call stack and size. stk and size are
// read-only; the counts are under Profile.mu.
type bucket struct {
	stk    []uintptr
	size   int64
	allocs int64 // sampled allocations
	frees  int64 // of which freed
	next   *bucket
}

// stackSeed hashes stacks; one for the process, so that no two buckets of
// a Profile disagree.
var stackSeed = maphash.MakeSeed()

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
// holds: it takes the caller's stack, skipping skip frames above Record's
// caller (this module's frames are trimmed at writing anyway), and enters
// addr in the live set. A live sample already at addr (its Free was never
// seen, which only a racing double free can cause) counts as freed.
func (p *Profile) Record(addr uintptr, size int, skip int) {
	var pcs [maxStackDepth]uintptr
	n := runtime.Callers(skip+2, pcs[:])
	p.mu.Lock()
	defer p.mu.Unlock()
	b := p.bucketFor(pcs[:n], int64(size))
	b.allocs++
	if old, ok := p.live[addr]; ok {
		old.frees++
	} else {
		p.addSlot(addr)
	}
	p.live[addr] = b
}

// Drop removes the live sample at addr, if there is one, counting it as
// freed. Call it only when MaybeLive(addr) says so, and before the memory
// at addr can be handed out again.
func (p *Profile) Drop(addr uintptr) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if b, ok := p.live[addr]; ok {
		b.frees++
		p.removeLive(addr)
	}
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
	b, ok := p.live[addr]
	if !ok {
		return Detached{}
	}
	b.frees++
	p.removeLive(addr)
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
	if old, ok := p.live[addr]; ok {
		old.frees++
	} else {
		p.addSlot(addr)
	}
	p.live[addr] = d.b
}

// DropAll counts every live sample as freed: the allocator forgot all its
// allocations at once.
func (p *Profile) DropAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.live) == 0 {
		return
	}
	for _, b := range p.live {
		b.frees++
	}
	p.filter.Store(nil)
	clear(p.live)
	if p.peak >= minShrinkPeak {
		p.shrink()
		return
	}
	clear(p.slots)
	for i := range p.kept.words {
		p.kept.words[i].Store(0)
	}
}

// Live returns how many sampled allocations are live and their bytes, as
// sampled (not scaled).
func (p *Profile) Live() (objects, bytes int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, b := range p.live {
		objects++
		bytes += b.size
	}
	return objects, bytes
}

// LiveSet returns the address and size of every live sample.
func (p *Profile) LiveSet() map[uintptr]int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	set := make(map[uintptr]int64, len(p.live))
	for addr, b := range p.live {
		set[addr] = b.size
	}
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

// bucketFor returns the bucket of stk and size, making it if need be.
// p.mu is held.
func (p *Profile) bucketFor(stk []uintptr, size int64) *bucket {
	var h maphash.Hash
	h.SetSeed(stackSeed)
	if len(stk) > 0 {
		h.Write(unsafe.Slice((*byte)(unsafe.Pointer(&stk[0])), len(stk)*int(unsafe.Sizeof(stk[0]))))
	}
	key := h.Sum64() ^ uint64(size)*0x9E3779B97F4A7C15
	for b := p.buckets[key]; b != nil; b = b.next {
		if b.size == size && equalStacks(b.stk, stk) {
			return b
		}
	}
	if p.buckets == nil {
		p.buckets = make(map[uint64]*bucket)
		p.live = make(map[uintptr]*bucket)
	}
	b := &bucket{stk: append([]uintptr(nil), stk...), size: size, next: p.buckets[key]}
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

// addSlot sets addr's filter bit, publishing the filter if it was not,
// and grows the filter to keep 256 slots per live sample. p.mu is held;
// addr is about to enter the live set.
func (p *Profile) addSlot(addr uintptr) {
	if p.kept == nil {
		p.kept = newFilter(minFilterBits)
		p.slots = make(map[uint64]int32)
	}
	if (len(p.live)+1)*slotsPerSample > p.kept.bits() {
		p.regrow(p.kept.bits() * 4)
	}
	p.peak = max(p.peak, len(p.live)+1)
	f := p.kept
	i := f.slot(addr)
	if p.slots[i]++; p.slots[i] == 1 {
		f.set(i)
	}
	if p.filter.Load() == nil {
		p.filter.Store(f)
	}
}

// removeLive takes addr out of the live set and clears its filter bit if
// no other live sample shares its slot; the last one unpublishes the
// filter. p.mu is held.
func (p *Profile) removeLive(addr uintptr) {
	delete(p.live, addr)
	f := p.kept
	i := f.slot(addr)
	if p.slots[i]--; p.slots[i] == 0 {
		delete(p.slots, i)
		f.clear(i)
	}
	if len(p.live) == 0 {
		p.filter.Store(nil)
	}
	if p.peak >= minShrinkPeak && len(p.live) <= p.peak/shrinkFactor {
		p.shrink()
	}
}

const (
	// shrinkFactor: the live set, the slot counts and the filter are
	// built anew once the live samples have fallen to this fraction of
	// their peak since the last build. Go maps never shrink, and without
	// this a Profile would keep about 100 bytes of Go heap for every
	// sample of its peak. Building costs time in proportion to the
	// samples left, at most a third of those freed since the peak: a
	// constant per Drop.
	shrinkFactor = 4

	// minShrinkPeak: below this peak nothing is rebuilt. What a Profile
	// can keep for it, maps of 1024 entries and a filter of 256K bits, is
	// well under a hundred KiB.
	minShrinkPeak = 1024
)

// shrink builds the live set, the slot counts and the filter anew, sized
// for the live samples. p.mu is held. The filter is built, and published
// if one was, as regrow does; with nothing live, none is kept at all.
func (p *Profile) shrink() {
	live := make(map[uintptr]*bucket, len(p.live))
	for addr, b := range p.live {
		live[addr] = b
	}
	p.live = live
	p.peak = len(live)
	if len(live) == 0 {
		p.kept, p.slots = nil, nil
		return
	}
	bits := minFilterBits
	for len(live)*slotsPerSample > bits {
		bits *= 4
	}
	p.regrow(bits)
}

// regrow replaces the filter by one of the given bits holding every live
// sample, and publishes it. p.mu is held. A Free still reading the old
// filter sees every bit it had set: at worst a false positive.
func (p *Profile) regrow(bits int) {
	f := newFilter(bits)
	slots := make(map[uint64]int32, len(p.live))
	for addr := range p.live {
		i := f.slot(addr)
		if slots[i]++; slots[i] == 1 {
			f.set(i)
		}
	}
	p.kept, p.slots = f, slots
	if p.filter.Load() != nil {
		p.filter.Store(f)
	}
}
