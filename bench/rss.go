// The rss workload: footprint of many small objects, and what a free-all returns.

package main

import (
	"bytes"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"time"
)

// Shape of the rss workload.
const (
	rssCount = 1_000_000
	rssSize  = 100
)

// rssBytes reads the resident set size of this process from /proc/self/statm.
func rssBytes() (int64, error) {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, err
	}
	f := bytes.Fields(b)
	if len(f) < 2 {
		return 0, fmt.Errorf("rss: short /proc/self/statm: %q", b)
	}
	pages, err := strconv.ParseInt(string(f[1]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("rss: /proc/self/statm: %w", err)
	}
	return pages * int64(os.Getpagesize()), nil
}

// settle collects garbage and returns free Go-heap pages to the OS, so an
// RSS reading shows live memory only. Two cycles: sync.Pool's contents
// survive one.
func settle() {
	runtime.GC()
	debug.FreeOSMemory()
}

// rssRun is one run of the rss workload and its three RSS deltas.
type rssRun struct {
	run                 Run
	grown, free, trimmd int64 // RSS growth after the allocations; RSS given back after Free; after Trim+GC
}

// rssOnce allocates rssCount objects into held, frees them, trims, and
// measures the RSS at each step.
func rssOnce(a Allocator, held [][]byte) (rssRun, error) {
	var out rssRun
	settle()
	base, err := rssBytes()
	if err != nil {
		return out, err
	}
	before := readCounters()
	t := time.Now()
	for i := range held {
		b, err := a.Alloc(rssSize)
		if err != nil {
			return out, err
		}
		if err := touch(b, rssSize); err != nil {
			return out, err
		}
		held[i] = b
	}
	elapsed := time.Since(t)
	allocated, err := rssBytes()
	if err != nil {
		return out, err
	}
	t = time.Now()
	for i, b := range held {
		if err := a.Free(b); err != nil {
			return out, err
		}
		held[i] = nil
	}
	elapsed += time.Since(t)
	after := readCounters()
	freed, err := rssBytes()
	if err != nil {
		return out, err
	}
	if err := trim(a); err != nil {
		return out, err
	}
	settle()
	trimmed, err := rssBytes()
	if err != nil {
		return out, err
	}
	out.run = Run{Iters: 1, Ops: int64(len(held)), Elapsed: elapsed, Allocs: after.heapAllocs - before.heapAllocs,
		Faults: after.faults - before.faults,
		GCCPU:  after.gcCPU - before.gcCPU, GCCycles: after.gcCycles - before.gcCycles, Procs: runtime.GOMAXPROCS(0)}
	out.grown = allocated - base
	out.free = allocated - freed
	out.trimmd = allocated - trimmed
	return out, nil
}

func runRSS(env *Env, rep *WorkloadReport) error {
	c := fmt.Sprintf("objs=%sx%s", sizeName(rssSize), countName(rssCount))
	rep.Notes = append(rep.Notes,
		"RSS/req = resident-set growth (/proc/self/statm) ÷ bytes requested; 1.00 is no overhead",
		"back = share of that growth the OS got back after Free, then after Trim (where the allocator has one) + runtime.GC + debug.FreeOSMemory; "+
			"below 0 means Free itself grew the RSS (sync.Pool's Put grows its per-P queues)",
		"each allocator runs alone; one run is all 1,000,000 objects, so the runs are not calibrated to -time")
	for i, k := range env.Kinds {
		env.Progress.Set(rep.Name, c, k.Name, fmt.Sprintf("%d/%d", i+1, len(env.Kinds)))
		a, err := k.New()
		if err != nil {
			rep.Notes = append(rep.Notes, fmt.Sprintf("%s: New: %v", k.Name, err))
			continue
		}
		// The holder is on the Go heap for every allocator; touch it
		// before the baseline so it does not count as growth.
		held := make([][]byte, rssCount)
		sentinel := []byte{0}
		for j := range held {
			held[j] = sentinel
		}
		res := &Result{Workload: rep.Name, Case: c, Alloc: k.Name}
		ratio := Figure{Label: "RSS/req", Unit: "rss-per-requested", Format: fmtRatio}
		back := Figure{Label: "back after Free", Unit: "rss-back-free-%", Format: fmtPercent}
		backTrim := Figure{Label: "after Trim+GC", Unit: "rss-back-trim-%", Format: fmtPercent}
		failed := false
		for r := range env.Runs {
			env.Progress.Set(rep.Name, c, k.Name, fmt.Sprintf("run %d/%d", r+1, env.Runs))
			out, err := rssOnce(a, held)
			if err != nil {
				rep.Notes = append(rep.Notes, fmt.Sprintf("%s: %v", k.Name, err))
				failed = true
				break
			}
			res.Runs = append(res.Runs, out.run)
			ratio.Values = append(ratio.Values, float64(out.grown)/float64(rssCount*rssSize))
			back.Values = append(back.Values, 100*float64(out.free)/float64(max(out.grown, 1)))
			backTrim.Values = append(backTrim.Values, 100*float64(out.trimmd)/float64(max(out.grown, 1)))
		}
		if err := a.Close(); err != nil && !failed {
			rep.Notes = append(rep.Notes, fmt.Sprintf("%s: Close: %v", k.Name, err))
			failed = true
		}
		if !failed {
			res.Figures = []Figure{ratio, back, backTrim}
			rep.Results = append(rep.Results, res)
		}
	}
	settle()
	return nil
}
