package mmalloc

import "github.com/mmalloc/mmalloc/internal/invariants"

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
