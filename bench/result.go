// Results: what a workload hands to the table, gobench and chart writers.

package main

import (
	"math"
	"time"
)

// Figure is a workload's own measure of one result, one value per run
// (GC CPU share, RSS ratio, ...).
type Figure struct {
	Label  string    // table column header, e.g. "GC CPU"
	Unit   string    // gobench unit, e.g. "gc-cpu-%"; one word
	Values []float64 // one value per run
	// Format renders a value for the table; nil means %.3g.
	Format func(float64) string
}

// Median is the median of the figure's values.
func (f Figure) Median() float64 { return median(f.Values) }

// Result holds the runs of one allocator on one case of one workload.
type Result struct {
	Workload string // workload name, e.g. "pair"
	Case     string // case as key=value pairs joined by "/", e.g. "size=64"
	Alloc    string // allocator (or reference) name
	Runs     []Run
	Figures  []Figure
	// Reference marks a row measured outside the Go program (the C
	// reference): no Go-heap allocation count, not charted as a peer.
	Reference bool
}

// NsPerOp returns the per-run wall times per operation.
func (r *Result) NsPerOp() []float64 {
	xs := make([]float64, len(r.Runs))
	for i, run := range r.Runs {
		xs[i] = run.NsPerOp()
	}
	return xs
}

// MedianNs is the median wall time per operation.
func (r *Result) MedianNs() float64 { return median(r.NsPerOp()) }

// MinMaxNs returns the fastest and slowest run's time per operation.
func (r *Result) MinMaxNs() (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, x := range r.NsPerOp() {
		lo, hi = min(lo, x), max(hi, x)
	}
	return lo, hi
}

// MedianAllocs is the median Go-heap allocations per operation.
func (r *Result) MedianAllocs() float64 {
	xs := make([]float64, len(r.Runs))
	for i, run := range r.Runs {
		xs[i] = run.AllocsPerOp()
	}
	return median(xs)
}

// MedianFaults is the median page faults per operation.
func (r *Result) MedianFaults() float64 {
	xs := make([]float64, len(r.Runs))
	for i, run := range r.Runs {
		xs[i] = run.FaultsPerOp()
	}
	return median(xs)
}

// WorkloadReport is everything one workload produced.
type WorkloadReport struct {
	Name    string
	Models  string    // what the workload models, one sentence
	Measure string    // what one op is, for the table's header
	Results []*Result // in case order, then allocator order
	Notes   []string  // skipped allocators, wrapped allocators, settings
	// Locked holds the allocators this workload drove through one shared
	// mutex because they are not goroutine-safe.
	Locked map[string]bool
	// Elapsed is the workload's wall time, setup included; 0 if unknown.
	Elapsed time.Duration
}

// Cases returns the distinct cases in order of first appearance.
func (w *WorkloadReport) Cases() []string {
	var cs []string
	seen := map[string]bool{}
	for _, r := range w.Results {
		if !seen[r.Case] {
			seen[r.Case] = true
			cs = append(cs, r.Case)
		}
	}
	return cs
}

// Allocs returns the distinct allocator names in order of first appearance.
func (w *WorkloadReport) Allocs() []string {
	var as []string
	seen := map[string]bool{}
	for _, r := range w.Results {
		if !seen[r.Alloc] {
			seen[r.Alloc] = true
			as = append(as, r.Alloc)
		}
	}
	return as
}

// Find returns the result for one case and allocator, or nil.
func (w *WorkloadReport) Find(c, alloc string) *Result {
	for _, r := range w.Results {
		if r.Case == c && r.Alloc == alloc {
			return r
		}
	}
	return nil
}
