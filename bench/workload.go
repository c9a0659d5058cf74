// The workloads' registry and the runner that interleaves allocators.

package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
	"time"
)

// Env is what every workload runs with.
type Env struct {
	Runs     int           // timed runs per allocator and case
	Time     time.Duration // target wall time of one timed run
	Procs    int           // GOMAXPROCS for the whole program
	Kinds    []Kind        // allocators to run, in output order
	CRef     bool          // run the C malloc+free reference in pair
	Live     []int         // live-set sizes of the liveset workload
	Progress *progress     // never nil; silent when disabled
	// Done holds the reports of workloads already run, by name (parallel
	// reads pair's to compute its scaling).
	Done map[string]*WorkloadReport
}

// Workload is one benchmark scenario.
type Workload struct {
	Name    string
	Models  string // what it models, for the table header and the docs
	Measure string // what one op is
	// OptIn keeps the workload out of -workload all: it runs only when
	// named, because it takes minutes or gigabytes.
	OptIn bool
	Run   func(env *Env, rep *WorkloadReport) error
}

// workloads lists every workload in the order they run and print.
var workloads = []Workload{
	{
		Name:    "pair",
		Models:  "a request-scoped buffer: one Alloc, use, Free, again and again, on one goroutine",
		Measure: "one Alloc + one Free",
		Run:     runPair,
	},
	{
		Name:    "batch",
		Models:  "building a result set: 10,000 buffers allocated, then all freed",
		Measure: "one buffer's Alloc + Free",
		Run:     runBatch,
	},
	{
		Name:    "parallel",
		Models:  "pair on every CPU at once (GOMAXPROCS goroutines sharing one allocator)",
		Measure: "one Alloc + one Free, wall time over all goroutines (throughput)",
		Run:     runParallel,
	},
	{
		Name: "churn",
		Models: "a server's buffer mix (larson-style): ~100k live buffers of 16 B–8 KiB (log-uniform), " +
			"each op frees a random one and allocates a new one; 1 in 8 frees is done by another goroutine",
		Measure: "one Free + one Alloc, wall time over all goroutines",
		Run:     runChurn,
	},
	{
		Name: "gc",
		Models: "a long-lived cache held in the allocator while the rest of the program makes ordinary " +
			"Go garbage; what the live set costs the garbage collector",
		Measure: "one unit of Go garbage (two small objects)",
		Run:     runGC,
	},
	{
		Name:    "rss",
		Models:  "memory footprint: 1,000,000 × 100 B allocated, then all freed",
		Measure: "one Alloc + one Free",
		Run:     runRSS,
	},
	{
		Name:    "buffer",
		Models:  "building a payload of 1 KiB–64 MiB in 4 KiB writes: mmalloc's Buffer against bytes.Buffer",
		Measure: "one payload built from a fresh buffer, then released",
		Run:     runBuffer,
	},
	{
		Name: "prodcons",
		Models: "producers allocate buffers in batches of 256 and send each batch through a channel; " +
			"consumers on other goroutines free them",
		Measure: "one Alloc + one Free (on another goroutine), wall time over all goroutines",
		Run:     runProdCons,
	},
	{
		Name: "larson",
		Models: "larson-style: each worker frees and reallocates random slots of its slot array; " +
			"the arrays move to the next worker every round",
		Measure: "one Free + one Alloc, wall time over all goroutines",
		Run:     runLarson,
	},
	{
		Name: "liveset",
		Models: "live-set scaling: free a random live buffer and allocate a new one of 16–256 B in its place, " +
			"with 1k to 10M buffers live; one forced GC per run is counted",
		Measure: "one Free + one Alloc, and a share of the run's forced runtime.GC()",
		OptIn:   true,
		Run:     runLiveSet,
	},
	sharedWorkload, // shared.go
	arrowWorkload,  // arrow.go
}

// workloadNames returns the names of every workload, in order.
func workloadNames() []string {
	names := make([]string, len(workloads))
	for i, w := range workloads {
		names[i] = w.Name
	}
	return names
}

// lookupWorkload returns the workload called name.
func lookupWorkload(name string) (Workload, bool) {
	for _, w := range workloads {
		if w.Name == name {
			return w, true
		}
	}
	return Workload{}, false
}

// setupFunc prepares one allocator instance for one case: it returns the
// body to time and a cleanup that runs before the instance is closed.
type setupFunc func(k Kind, a Allocator) (body Body, cleanup func() error, err error)

// instance is one allocator instance prepared for one case.
type instance struct {
	kind    Kind
	a       Allocator
	body    Body
	cleanup func() error
	n       int64
	res     *Result
	failed  bool
}

// runSequential measures every kind on one case, one kind after the
// other, with a full GC between them. Workloads whose allocators keep
// every CPU busy or make the GC work hard use it: the GC's background work
// started by one allocator's run would otherwise land in the next
// allocator's run, slowing it and crediting it with the GC's CPU time.
func runSequential(env *Env, rep *WorkloadReport, caseName string, ks []Kind, d time.Duration, setup setupFunc) {
	for _, k := range ks {
		runInterleaved(env, rep, caseName, []Kind{k}, d, setup)
	}
}

// runInterleaved measures every kind on one case. Each kind gets a fresh
// instance; all are calibrated first, then the timed runs go round-robin
// over the kinds, so that a slow spell of a noisy machine hits every
// allocator rather than one. Single-goroutine workloads use it: there the
// GC's background work of one allocator runs mostly on an idle CPU.
// Errors of one allocator become notes; the others go on.
func runInterleaved(env *Env, rep *WorkloadReport, caseName string, ks []Kind, d time.Duration, setup setupFunc) {
	var insts []*instance
	for _, k := range ks {
		// Each allocator starts from a collected, scavenged Go heap: what
		// the rows before it left (garbage, pages the scavenger has yet to
		// return) is not its cost.
		debug.FreeOSMemory()
		a, err := k.New()
		if err != nil {
			rep.Notes = append(rep.Notes, fmt.Sprintf("%s %s: New: %v", k.Name, caseName, err))
			continue
		}
		body, cleanup, err := setup(k, a)
		if err != nil {
			rep.Notes = append(rep.Notes, fmt.Sprintf("%s %s: setup: %v", k.Name, caseName, err))
			a.Close()
			continue
		}
		insts = append(insts, &instance{kind: k, a: a, body: body, cleanup: cleanup,
			res: &Result{Workload: rep.Name, Case: caseName, Alloc: k.Name}})
	}
	fail := func(in *instance, what string, err error) {
		in.failed = true
		rep.Notes = append(rep.Notes, fmt.Sprintf("%s %s: %s: %v", in.kind.Name, caseName, what, err))
	}
	for _, in := range insts {
		env.Progress.Set(rep.Name, caseName, in.kind.Name, "calibrating")
		n, err := calibrate(in.body, d)
		if err != nil {
			fail(in, "calibrate", err)
			continue
		}
		in.n = n
	}
	for r := range env.Runs {
		for _, in := range insts {
			if in.failed {
				continue
			}
			env.Progress.Set(rep.Name, caseName, in.kind.Name, fmt.Sprintf("run %d/%d", r+1, env.Runs))
			sc, counts := in.a.(SyscallCounter)
			var calls uint64
			if counts {
				calls = sc.Syscalls()
			}
			run, err := timeRun(in.body, in.n)
			if err != nil {
				fail(in, "run", err)
				continue
			}
			in.res.Runs = append(in.res.Runs, run)
			if counts {
				if len(in.res.Figures) == 0 {
					in.res.Figures = []Figure{{Label: "mmap+munmap/op", Unit: "syscalls/op", Format: fmtAllocs}}
				}
				f := &in.res.Figures[0]
				f.Values = append(f.Values, float64(sc.Syscalls()-calls)/float64(run.Ops))
			}
		}
	}
	for _, in := range insts {
		if in.cleanup != nil {
			if err := in.cleanup(); err != nil && !in.failed {
				fail(in, "cleanup", err)
			}
		}
		if err := in.a.Close(); err != nil && !in.failed {
			fail(in, "Close", err)
		}
		if !in.failed {
			rep.Results = append(rep.Results, in.res)
		}
	}
	// Collect this case's garbage now rather than during the next one.
	runtime.GC()
}

// noteLocked records which of ks a workload drives through one shared
// mutex (see shared), and says so in a note.
func noteLocked(rep *WorkloadReport, ks []Kind, why string) {
	var locked []string
	for _, k := range ks {
		if !k.Concurrent {
			locked = append(locked, k.Name)
			if rep.Locked == nil {
				rep.Locked = map[string]bool{}
			}
			rep.Locked[k.Name] = true
		}
	}
	if len(locked) > 0 {
		rep.Notes = append(rep.Notes, strings.Join(locked, ", ")+": not goroutine-safe; "+why)
	}
}

// lockedWhy is noteLocked's reason in workloads whose goroutines share
// one allocator.
const lockedWhy = "driven through one shared sync.Mutex here"

// sizeName renders a byte count the way case names and tables show it.
func sizeName(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", n>>10)
	default:
		return fmt.Sprintf("%dB", n)
	}
}
