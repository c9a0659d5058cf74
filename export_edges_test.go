package mmalloc

import "github.com/mmalloc/mmalloc/internal/osmem"

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
