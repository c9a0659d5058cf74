package mmalloc

// Internals exported to the external tests of package mmalloc_test.

import (
	"github.com/mmalloc/mmalloc/internal/heapprof"
	"github.com/mmalloc/mmalloc/internal/invariants"
	"github.com/mmalloc/mmalloc/internal/osmem"
	"github.com/mmalloc/mmalloc/internal/ptrfree"
)

// Validate exposes validate to the external tests.
func (a *Allocator) Validate() error { return a.validate() }

// FailMapAfter makes the n-th mapping call from now (mmap of a chunk or a
// large object, a growing mremap, mprotect of a guard page) fail with
// ENOMEM (0 disarms it).
func (a *Allocator) FailMapAfter(n int64) { a.src.FailAfter(n) }

// MapRequests returns how many mapping calls were made since FailMapAfter
// armed injection: FailMapAfter(1<<62) counts the calls of a workload.
func (a *Allocator) MapRequests() int64 { return a.src.Requests() }

// Invariants is true in builds with the invariants tag, where every call
// runs validate (and so allocates on the Go heap).
const Invariants = invariants.Enabled

// MiscountForTest breaks an invariant on purpose: the smallest class
// counts an allocation that never happened.
func (a *Allocator) MiscountForTest() { a.centrals[1].Publish(1, 0) }

// DecayArmed reports whether the decay's timer is armed: it is only while
// retained memory passes the retention budget.
func (a *Allocator) DecayArmed() bool { return a.decay != nil && a.decay.armed() }

// GuardMappings returns the kernel mappings guard mode counts as held by
// large mappings in the whole process.
func GuardMappings() int64 { return guardMaps.Load() }

// GuardMappingLimit returns the bound on guard mode's kernel mappings in
// force: half of vm.max_map_count, unless SetGuardMappingLimit set another.
func GuardMappingLimit() int64 { return guardMapLimit() }

// SetGuardMappingLimit bounds guard mode's kernel mappings at n instead of
// half of vm.max_map_count; 0 restores that.
func SetGuardMappingLimit(n int64) { guardMapLimitForTest.Store(n) }

// Hooks for the tests of the edges: fault injection after the reservation,
// and invariants broken on purpose to show that validate reports them.

// FailKernelFrom makes the kernel refuse every mapping call from the n-th
// mapping request on, after the request's reservation (0 disarms it, as
// FailMapAfter(0) does): the undo after a real refusal runs.
func (a *Allocator) FailKernelFrom(n int64) { a.src.FailSyscallsFrom(n) }

// Break names an invariant that validate checks, and Breaks breaks it on
// purpose; the function it returns mends it. (Those of the slab and chunk
// layers have their own tests.)
type Break string

// The invariants Breaks can break, each caught by one check of validate.
const (
	BreakGuardQuarantineBytes Break = "guard quarantine bytes"
	BreakGuardHeld            Break = "guard held slots"
	BreakGuardLargeMapped     Break = "guard large mapped"
	BreakGuardLargeAllocs     Break = "guard large allocs"
	BreakGuardLargeInUse      Break = "guard large in use"
	BreakGuardSmallInUse      Break = "guard small in use"
	BreakLargeRegistry        Break = "large registry"
	BreakMapped               Break = "mapped"
	BreakRetainedOverBudget   Break = "retained over budget"
	BreakCharged              Break = "charged"
	BreakClassOut             Break = "class out"
)

// Breaks breaks the invariant b names, and returns what mends it. The
// guard ones need guard mode with a quarantined small object and a live
// large one; BreakLargeRegistry and BreakRetainedOverBudget a kept large
// mapping.
func (a *Allocator) Breaks(b Break) (mend func()) {
	g := a.guard
	page := osmem.PageBytes
	switch b {
	case BreakGuardQuarantineBytes:
		g.qBytes += 16
		return func() { g.qBytes -= 16 }
	case BreakGuardHeld:
		c := g.quarantine[g.qHead].cls
		held := g.held[c]
		g.held[c] = 0
		return func() { g.held[c] = held }
	case BreakGuardLargeMapped:
		g.largeMapped += int64(page)
		return func() { g.largeMapped -= int64(page) }
	case BreakGuardLargeAllocs:
		g.largeAllocs++
		return func() { g.largeAllocs-- }
	case BreakGuardLargeInUse:
		g.largeInUse += 16
		return func() { g.largeInUse -= 16 }
	case BreakGuardSmallInUse:
		g.smallUse[1] += 16
		return func() { g.smallUse[1] -= 16 }
	case BreakLargeRegistry: // a kept mapping no longer charged to the budget
		_, kept := a.large.Kept()
		a.src.Unretain(uintptr(kept))
		return func() { a.src.TryRetain(uintptr(kept)) }
	case BreakMapped: // a mapping no layer holds
		p, err := a.src.Map(page)
		if err != nil {
			panic(err)
		}
		return func() { a.src.Unmap(p, page) }
	case BreakRetainedOverBudget:
		limit, decay := a.src.RetainBytes(), a.src.RetainCap()-a.src.RetainBytes()
		a.src.SetRetainBytes(0)
		a.src.SetDecay(0, nil)
		return func() {
			a.src.SetRetainBytes(limit)
			if a.decay != nil {
				a.src.SetDecay(decay, a.decay.arm)
			}
		}
	case BreakCharged: // budget charged for memory nobody keeps
		a.src.TryRetain(page)
		return func() { a.src.Unretain(page) }
	case BreakClassOut: // an allocation counted that never left a slab
		a.centrals[1].Publish(1, 0)
		return func() { a.centrals[1].Publish(0, 1) }
	}
	panic("unknown invariant " + string(b))
}

// Remaps returns the mremap calls the Allocator has made.
func (a *Allocator) Remaps() uint64 { return a.src.Remaps() }

// ReallocCopiedBytes returns the bytes Realloc has copied, process-wide.
func ReallocCopiedBytes() int64 { return reallocCopiedBytes.Load() }

// TypeWalks returns how many types the pointer check has judged uncached.
func TypeWalks() int64 { return ptrfree.Walks() }

// BudgetStep and GoLimit expose the budget's arithmetic.
func BudgetStep(bytes int64) int64 { return budgetStep(bytes) }

func GoLimit(bytes, step, held int64) int64 { return goLimit(bytes, step, held) }

// SeedProfile makes the sampling of a, and of the Caches made after it, a
// function of seed: every P's sampler draws again from the seeded source.
// No other call on a may be in progress.
func SeedProfile(a *Allocator, seed uint64) {
	a.prof.SetSeed(seed)
	ls := a.locals.Load()
	for i := range ls.l {
		ls.l[i].sample.Init(&a.prof)
	}
}

// ProfileCounts returns how many allocations a has sampled since New, and
// how many of them are live.
func ProfileCounts(a *Allocator) (sampled, live int64) {
	live, _ = a.prof.Live()
	return a.prof.Sampled(), live
}

// ProfileLiveBytes returns the bytes of a's live samples.
func ProfileLiveBytes(a *Allocator) int64 {
	_, bytes := a.prof.Live()
	return bytes
}

// ProfileLiveSet returns the address and size of every live sample of a.
func ProfileLiveSet(a *Allocator) map[uintptr]int64 { return a.prof.LiveSet() }

// SetFramePointers makes samples take their call stacks by frame pointers
// (on) or by runtime.Callers (off), and returns the setting it replaced.
func SetFramePointers(on bool) bool { return heapprof.SetFramePointers(on) }

// ReservationForTest returns the first address and the size of the
// Allocator's reservation (Options.Shared or Reserve), or zeros.
func (a *Allocator) ReservationForTest() (base, bytes uintptr) {
	if a.space == nil {
		return 0, 0
	}
	return a.space.Base(), a.space.Bytes()
}

// PlantSlabForTest breaks guard mode's assumption on purpose: a slab of
// the smallest class, taken from its Central, is installed in a cache, a
// P's (c nil) or c's, as no path of guard mode does. The function it
// returns takes the slab back out and gives it back to the Central.
func (a *Allocator) PlantSlabForTest(c *Cache) (undo func(), err error) {
	const cls = 1
	s, err := a.centrals[cls].Acquire()
	if err != nil {
		return nil, err
	}
	var st *cacheState
	if c != nil {
		st = c.st
	}
	l := a.hold(st)
	if l == nil { // the P has no cache
		a.release(st, l)
		a.centrals[cls].Abandon(s, 0)
		return nil, ErrClosed
	}
	l.Install(cls, s)
	a.release(st, l)
	return func() { // the same cache, wherever the goroutine runs now
		old, unused := l.Install(cls, nil)
		a.centrals[cls].Abandon(old, unused)
	}, nil
}
