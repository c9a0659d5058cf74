// The gc workload: what a live set in each allocator costs the Go GC.

package main

import (
	"fmt"
	"github.com/mmalloc/mmalloc"
	"runtime"
	"runtime/debug"
	"slices"
	"time"
)

// gcLiveSet is one live set the gc workload holds.
type gcLiveSet struct {
	size, count int
}

// gcLiveSets are the live sets of the gc workload: many small objects,
// and fewer page-sized ones.
var gcLiveSets = []gcLiveSet{{256, 1_000_000}, {4 << 10, 100_000}}

// String names the live set as cases show it, e.g. 256Bx1M.
func (l gcLiveSet) String() string {
	return fmt.Sprintf("%sx%s", sizeName(l.size), countName(l.count))
}

// countName renders 1000000 as 1M and 100000 as 100k.
func countName(n int) string {
	switch {
	case n%1_000_000 == 0:
		return fmt.Sprintf("%dM", n/1_000_000)
	case n%1000 == 0:
		return fmt.Sprintf("%dk", n/1000)
	default:
		return fmt.Sprint(n)
	}
}

// sliceHeaderBytes is what holding one []byte costs on the Go heap.
const sliceHeaderBytes = 24

// gcLimitBytes is the GOMEMLIMIT of the gc=off cases: the live set and the
// slice headers that hold it, plus a quarter, plus 64 MiB for the rest of
// the program. The same limit holds for every allocator.
func gcLimitBytes(l gcLiveSet) int64 {
	live := int64(l.count) * int64(l.size+sliceHeaderBytes)
	return live + live/4 + 64<<20
}

// gcTimeFactor stretches the runs of the gc and churn workloads: GC cycles
// are coarse (the runtime credits a cycle's CPU time when it ends), and a
// run must span several of them to measure their share.
const gcTimeFactor = 4

// gcRingLen is how many recent garbage objects stay live: the working set
// of the requests in flight.
const gcRingLen = 4096

// garbageNode is one unit of ordinary Go garbage: a pointerful object and
// a small buffer.
type garbageNode struct {
	id  int
	buf []byte
}

// garbageSink keeps the ring reachable so that the compiler cannot keep
// the garbage off the heap.
var garbageSink [][]*garbageNode

// garbageBody returns a body that makes n units of Go garbage.
func garbageBody() Body {
	ring := make([]*garbageNode, gcRingLen)
	garbageSink = append(garbageSink[:0], ring)
	i := 0
	return func(n int64) (int64, error) {
		for range n {
			ring[i%gcRingLen] = &garbageNode{id: i, buf: make([]byte, 64+i%449)}
			i++
		}
		return n, nil
	}
}

// gcRefKind is mmalloc with the live set indexed by Refs: the gc workload
// runs it after mmalloc (and only there: it is the same allocator, held
// another way).
var gcRefKind = Kind{
	Name: "mmalloc-ref", Doc: "mmalloc Allocator.AllocRef + FreeRef, the live set indexed by a []mmalloc.Ref (integers: never scanned)",
	Zeroed: true, Concurrent: true, FreesEach: true,
	New: func() (Allocator, error) { return newMmalloc(false) },
}

// gcKinds returns the kinds the gc workload runs: env's, with mmalloc-ref
// after mmalloc when mmalloc is among them.
func gcKinds(ks []Kind) []Kind {
	i := slices.IndexFunc(ks, func(k Kind) bool { return k.Name == mmallocKind })
	if i < 0 {
		return ks
	}
	return slices.Insert(slices.Clone(ks), i+1, gcRefKind)
}

// gcHoldRefs allocates the live set as Refs of m and returns the body's
// cleanup, which measures the forced GC time into forced and frees them.
func gcHoldRefs(m *mmallocAllocator, l gcLiveSet, forced *Figure) (func() error, error) {
	refs := make([]mmalloc.Ref, l.count) // no pointers: the GC never scans it
	for i := range refs {
		r, err := m.a.AllocRef(l.size)
		if err != nil {
			return nil, err
		}
		if err := touch(r.UnsafeBytes(l.size), l.size); err != nil {
			return nil, err
		}
		refs[i] = r
	}
	return func() error {
		*forced = forcedGC()
		for i, r := range refs {
			if err := m.a.FreeRef(r); err != nil {
				return err
			}
			refs[i] = 0
		}
		return nil
	}, nil
}

// forcedGCs is how many runtime.GC() calls forcedGC times. A small heap's
// forced GC takes a few ms, and waking the GC's workers while another
// process holds the CPU adds a scheduler time slice to one call now and
// then: the median of five outvotes two such calls.
const forcedGCs = 5

// forcedGC times forcedGCs runtime.GC() calls with the live set held.
func forcedGC() Figure {
	f := Figure{Label: "forced GC", Unit: "forced-gc-ns", Format: fmtNs}
	// Return the body's garbage to the OS first: the background scavenger
	// would otherwise be doing it during the timed calls, which then wait
	// on it (runtime.GC ends by waiting for every sweeper), a cost of the
	// garbage just made, not of the live set.
	debug.FreeOSMemory()
	for range forcedGCs {
		t := time.Now()
		runtime.GC()
		f.Values = append(f.Values, float64(time.Since(t).Nanoseconds()))
	}
	return f
}

// gcSetting is one GC configuration of the gc workload.
type gcSetting struct {
	name    string // case part, e.g. "gogc=100"
	percent int    // debug.SetGCPercent argument; -1 = off
	limit   func(gcLiveSet) int64
	// budget: the limit is the whole process's budget, Go heap and mmalloc
	// together (mmalloc.SetProcessBudget), instead of the Go heap's alone.
	budget bool
}

func runGC(env *Env, rep *WorkloadReport) error {
	start := debug.SetGCPercent(100)
	startLimit := debug.SetMemoryLimit(-1)
	defer func() {
		debug.SetGCPercent(start)
		debug.SetMemoryLimit(startLimit)
		garbageSink = nil
	}()
	def := start
	if def < 0 {
		def = 100
	}
	settings := []gcSetting{
		{name: fmt.Sprintf("gogc=%d", def), percent: def, limit: func(gcLiveSet) int64 { return startLimit }},
		{name: "gogc=off", percent: -1, limit: gcLimitBytes},
		{name: "budget", percent: -1, limit: gcLimitBytes, budget: true},
	}
	for _, l := range gcLiveSets {
		rep.Notes = append(rep.Notes, fmt.Sprintf("live=%s, gogc=off: GOMEMLIMIT=%d MiB (live set + slice headers + 25%% + 64 MiB)",
			l, gcLimitBytes(l)>>20))
	}
	rep.Notes = append(rep.Notes, "budget: GOGC=off and mmalloc.SetProcessBudget(the same figure): the Go heap's limit "+
		"is kept at that figure minus what mmalloc has mapped, so Go heap + off-heap stay within one budget")
	rep.Notes = append(rep.Notes,
		"GC CPU = the GC's share of all CPUs (runtime/metrics /cpu/classes/gc/total:cpu-seconds over wall time × GOMAXPROCS)",
		fmt.Sprintf("forced GC = wall time of one runtime.GC() with the live set held (median of %d, after one debug.FreeOSMemory())", forcedGCs),
		"each allocator runs alone here: a live set on the Go heap would otherwise pace the GC for the others",
		"mmalloc-ref: mmalloc with the live set held as a []mmalloc.Ref (one integer each) instead of a [][]byte: "+
			"the GC never scans the index, where the others' slice headers are scanned every cycle")
	for _, l := range gcLiveSets {
		for _, s := range settings {
			c := fmt.Sprintf("live=%s/%s", l, s.name)
			for _, k := range gcKinds(env.Kinds) {
				var forced Figure
				runtime.GC()
				debug.SetGCPercent(s.percent)
				if s.budget {
					if err := mmalloc.SetProcessBudget(s.limit(l)); err != nil {
						return err
					}
				} else {
					debug.SetMemoryLimit(s.limit(l))
				}
				runInterleaved(env, rep, c, []Kind{k}, gcTimeFactor*env.Time, func(k Kind, a Allocator) (Body, func() error, error) {
					if k.Name == gcRefKind.Name {
						cleanup, err := gcHoldRefs(a.(*mmallocAllocator), l, &forced)
						return garbageBody(), cleanup, err
					}
					held := make([][]byte, l.count)
					for i := range held {
						b, err := a.Alloc(l.size)
						if err != nil {
							return nil, nil, err
						}
						if err := touch(b, l.size); err != nil {
							return nil, nil, err
						}
						held[i] = b
					}
					cleanup := func() error {
						forced = forcedGC()
						for i, b := range held {
							if err := a.Free(b); err != nil {
								return err
							}
							held[i] = nil
						}
						return nil
					}
					return garbageBody(), cleanup, nil
				})
				if s.budget {
					if err := mmalloc.SetProcessBudget(0); err != nil {
						return err
					}
				}
				debug.SetGCPercent(100)
				debug.SetMemoryLimit(startLimit)
				r := rep.Find(c, k.Name)
				if r == nil {
					continue
				}
				cpu := Figure{Label: "GC CPU", Unit: "gc-cpu-%", Format: fmtPercent}
				rate := Figure{Label: "GC/s", Unit: "gc-cycles/s", Format: fmtRate}
				for _, run := range r.Runs {
					cpu.Values = append(cpu.Values, 100*run.GCShare())
					rate.Values = append(rate.Values, float64(run.GCCycles)/run.Elapsed.Seconds())
				}
				r.Figures = append(r.Figures, cpu, rate, forced)
			}
		}
	}
	return nil
}
