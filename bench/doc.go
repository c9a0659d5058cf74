// Command bench measures mmalloc against the allocators a Go program would
// otherwise use, on the machine it runs on, and answers: how much faster
// and lighter is mmalloc than what I use now?
//
//	go -C bench run .                          # every default workload and allocator
//	go -C bench run . -workload pair,gc -alloc mmalloc,go-heap
//	go -C bench run . -format gobench > new.txt   # for benchstat
//	go -C bench run . -png out.png -svg out.svg   # also draw the chart
//	GOEXPERIMENT=arenas go -C bench run .      # include Go arenas
//	go -C bench run . -workload prodcons,larson,liveset -alloc all,mmalloc-cache-zeroed
//
// It is a module of its own (bench/go.mod, with a replace directive to the
// library), so that the peers it compares against never enter the
// library's go.mod.
//
// # Allocators
//
// Every allocator is driven through one small interface (Alloc n bytes,
// Free), so each pays the same dynamic call:
//
//   - mmalloc: Allocator.Alloc, zeroed like make, and Free.
//   - mmalloc-uninit: Allocator.AllocUninit, contents unspecified, and Free.
//   - mmalloc-cache: a Cache per goroutine, Cache.AllocUninit and
//     Cache.Free; mmalloc-cache-zeroed (only when named) with Cache.Alloc.
//   - mmalloc-guard (only when named): Alloc and Free in guard mode.
//   - go-heap: make([]byte, n); Free drops the reference and the garbage
//     collector reclaims it, inside the measured process, so its cost counts.
//   - sync.Pool: one pool per power-of-two size class, make on a miss; the
//     usual Go answer for buffer reuse. Buffers come back dirty.
//   - modernc: modernc.org/memory's Malloc (uninitialised) and Free. It is not
//     goroutine-safe: parallel, churn, prodcons, larson and liveset drive it
//     through one shared mutex, and their tables say so.
//   - modernc-calloc: the same with Calloc, which zeroes: the zeroed rows'
//     unchecked peer.
//   - go-arena: Go arenas, built only with GOEXPERIMENT=arenas (the program
//     prints how to include it). Arenas free everything at once: Free only
//     counts down, and the arena is replaced when nothing in it is live.
//     Not goroutine-safe (mutex as above); workloads that free single
//     objects while others stay live skip it.
//   - c-malloc (pair and batch): a reference row, not a Go allocator. A
//     small C program doing the same loops with the C library's malloc and
//     free is compiled with the system cc and run as a separate process; no
//     cgo touches the measured path. Without cc the row is skipped with a
//     note.
//
// A per-goroutine handle, where an allocator has one, fits in as one more
// adapter implementing Localizer.
//
// # Workloads
//
// Each op writes one byte in every 4 KiB page of the buffer it gets, so an
// allocator that hands out fresh pages pays their first-touch faults inside
// the measurement, as its user would.
//
//   - pair: Alloc, use, Free, one size at a time (16 B to 16 MiB): a
//     request-scoped buffer.
//   - batch: 10,000 Allocs then 10,000 Frees (64 B and 4 KiB): building and
//     dropping a result set.
//   - parallel: pair on GOMAXPROCS goroutines sharing one allocator; time is
//     wall time over all goroutines, and scaling compares it with pair.
//   - churn: a server's buffer mix after larson: ~100k live buffers of
//     16 B–8 KiB (log-uniform), each op frees a random one and allocates
//     anew, and one free in eight is done by another goroutine.
//   - gc: a live set (1,000,000 × 256 B, and 100,000 × 4 KiB) held in the
//     allocator while the program makes ordinary Go garbage. It reports the
//     GC's share of all CPUs (runtime/metrics /cpu/classes/gc/total:cpu-seconds
//     over wall time × GOMAXPROCS), GC cycles per second, and the wall time of
//     a forced runtime.GC(), under the default GOGC, again under GOGC=off
//     with GOMEMLIMIT set to the live set plus a margin, and again under
//     GOGC=off with mmalloc.SetProcessBudget of the same figure (budget):
//     one limit for Go heap and off-heap memory together.
//   - rss: 1,000,000 × 100 B: resident-set growth ÷ bytes requested, then how
//     much of it the OS got back after Free, and after Trim + GC.
//   - buffer: building a payload of 1 KiB to 64 MiB in 4 KiB writes from a
//     fresh buffer: mmalloc's Buffer (on the mmalloc row) against
//     bytes.Buffer (on the go-heap row).
//   - prodcons: producer/consumer pairs; producers allocate batches of 256
//     buffers (8–128 B, or 1–8 KiB) and send them through a channel, and
//     consumers on other goroutines free them.
//   - larson: workers replace random slots of their slot arrays (16–128 B,
//     or 16 B–8 KiB), and the arrays move to the next worker every round.
//   - liveset (only when named): random replacement of 16–256 B buffers
//     with -live buffers live (1k to 10M), one goroutine; each run turns
//     the live set over at least once and ends with a runtime.GC() that
//     counts, so that the Go heap's deferred cost is in the figure.
//
// prodcons, larson and liveset also report throughput, and on rows that
// zero their memory, throughput over the Go heap's in the same run.
//
// # Reading the tables
//
// Each row is one allocator on one case. time/op is the median of -runs
// timed runs of about -time each, with the fastest and slowest run beside
// it; the runs go round-robin over the allocators, so a noisy spell on a
// shared machine hits all of them. ×like peer compares like with like: it
// divides by the median of the fastest peer with the same contract in the
// same case (zeroed rows by go-heap or go-arena; rows that do not zero,
// and the C reference, by sync.Pool or modernc); below 1 the row is faster
// than every such peer. Read ratios rather than absolute times; they hold
// from machine to machine far better. allocs/op counts Go-heap allocations
// per op (by anyone in the process, as testing's allocs/op does). The last
// columns are the workload's own figures.
//
// The summary names, per workload, where an mmalloc variant leads its
// like-for-like peer by the most and where it trails by the most, and
// says when the two differ in goroutine-safety.
//
// # GOGC and GOMEMLIMIT with off-heap memory
//
// Memory from mmalloc is invisible to the garbage collector: it neither
// scans it nor counts it toward GOGC's heap goal. That is the point, but it
// means a program that moves its big buffers off the heap is left with a
// small Go heap, and under the default GOGC=100 the collector then runs far
// more often, for the same garbage: the gc table shows it. Off-heap users
// should give the process one budget with mmalloc.SetProcessBudget, which
// keeps the Go memory limit at the budget minus what mmalloc holds, and set
// GOGC=off, so that the collector paces against that share of the budget
// rather than a heap that no longer holds the data: the gc table's budget
// rows. A GOMEMLIMIT set by hand to the live set plus a margin, with
// GOGC=off (the gogc=off rows), leaves the Go heap the room the off-heap
// live set already takes: the heap grows into it between collections and
// pays page faults instead.
package main
