// Package heapprof samples allocations the way the Go runtime samples its
// heap, keeps the call stacks of the sampled ones, and writes them as a
// pprof heap profile. Package mmalloc's Allocator and package arena's
// Region each hold a Profile; users reach it through their methods.
//
// # Structures
//
//   - Sampler: one countdown of bytes to the next sample, owned by one
//     cache (a P's, a Cache's, a Region's) and touched only by its owner.
//     The intervals are drawn from an exponential distribution whose mean
//     is the profile rate, as runtime.MemProfileRate's are: every byte
//     allocated is equally likely to be sampled, whatever the sizes and
//     their order, so an allocation of n bytes is sampled with probability
//     1 - exp(-n/rate), independently of the others.
//   - Profile: the sampled allocations of one allocator. A bucket per
//     (call stack, size) counts sampled allocations and frees; the live
//     set maps the address of each sampled allocation not yet freed to its
//     bucket; a filter answers "may this address be sampled?" without a
//     lock.
//   - liveSet: an open-addressed table, at most half full, of address and
//     bucket (live.go): cheaper than a Go map, and it can shrink.
//   - filter: one bit per slot, a slot per address hash, set while some
//     live sample hashes there. A clear bit proves an address holds no live
//     sample; a set bit sends the caller to the live set under the lock
//     (a false positive costs that lock). It has at least 256 slots per
//     live sample, so fewer than 1 in 256 unsampled frees takes the lock;
//     while no sample is live it is not published at all, and the check
//     is one load. The rare slot that two or more live samples share has
//     its count beyond one in a small map (Profile.extra).
//   - Once the live samples have fallen to a quarter of their peak, the
//     live set, the collision counts and the filter are built anew at
//     their size, so that a Profile gives back the Go heap its peak took
//     (see shrink).
//
// # Paths
//
// Alloc of n bytes (the caller's cache owns s):
//  1. s.Take(n): subtract n from the countdown. Still >= 0: done, nothing
//     else is paid.
//  2. Crossed zero: draw the next interval, and the caller calls Record
//     once it holds the memory.
//  3. Record: take the call stack, count an allocation on its bucket,
//     enter the address in the live set and set its filter bit, under
//     the lock. Where Go keeps frame pointers (amd64, arm64) the stack is
//     taken by following them, as the runtime's execution tracer does: a
//     few loads per frame, which keeps the return PC of each physical
//     frame only (unwind.go). Elsewhere, or built with the tag
//     mmalloc_nofp, runtime.Callers takes it before the lock, with a PC
//     per logical frame (inlined calls expanded), at a higher cost
//     (BenchmarkRecord).
//
// Free of the allocation at addr, before the memory is given back (so that
// an address handed out again cannot lose its new sample to the old Free):
//  1. MaybeLive(addr): load the filter; nil or a clear bit: done.
//  2. Drop(addr): under the lock, if addr is in the live set, count a free
//     on its bucket, remove it, and clear its bit when no other live
//     sample shares the slot.
//
// Writing: under the lock, copy each bucket's counts; then, unlocked,
// turn a stack of physical frames into the PCs runtime.Callers would have
// given (symbolizer.logical: the same profile either way), expand each
// stack's PCs into frames (inlined calls included), drop the
// leading frames of this module's library packages (so that the leaf is
// the caller's function, whatever path inside mmalloc took the sample),
// merge buckets that become equal, scale the counts (see scale), and
// encode the pprof protocol buffer, gzipped.
//
// # Locking
//
// Profile.mu protects the buckets, the live set, the filter's collision
// counts, Record's stack buffer and the seed source. Record holds it for
// the walk of the frame pointers (a few loads a frame), a bucket lookup,
// one insertion in the live set and one bit; runtime.Callers, where it
// is the unwinder, runs before the lock is taken. The filter pointer and
// its bits are atomics, read without the lock and written under it. A
// Sampler has no lock: its owner serialises every use. Nothing here is
// called while a P is pinned except Sampler.Take.
package heapprof
