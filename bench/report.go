// Output: the tables for people and the Go benchmark format for benchstat.

package main

import (
	"cmp"
	"fmt"
	"io"
	"math"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// baselineAlloc is the allocator every ratio column divides by.
const baselineAlloc = "mmalloc"

// fmtNs renders nanoseconds with a unit and three significant digits.
func fmtNs(ns float64) string {
	switch {
	case math.IsNaN(ns) || math.IsInf(ns, 0):
		return "—"
	case ns < 10:
		return fmt.Sprintf("%.2f ns", ns)
	case ns < 1000:
		return fmt.Sprintf("%.1f ns", ns)
	case ns < 1e6:
		return fmt.Sprintf("%.3g µs", ns/1e3)
	case ns < 1e9:
		return fmt.Sprintf("%.3g ms", ns/1e6)
	default:
		return fmt.Sprintf("%.3g s", ns/1e9)
	}
}

// fmtNsRange renders a min–max pair of nanosecond values.
func fmtNsRange(lo, hi float64) string {
	if math.IsInf(lo, 0) || math.IsInf(hi, 0) {
		return "—"
	}
	return fmtNs(lo) + " – " + fmtNs(hi)
}

// fmtPercent renders a percentage.
func fmtPercent(p float64) string {
	if math.IsNaN(p) {
		return "—"
	}
	if p < 10 {
		return fmt.Sprintf("%.2f%%", p)
	}
	return fmt.Sprintf("%.1f%%", p)
}

// fmtRate renders a per-second rate.
func fmtRate(r float64) string {
	if math.IsNaN(r) {
		return "—"
	}
	return fmt.Sprintf("%.3g", r)
}

// fmtRatio renders a plain ratio.
func fmtRatio(r float64) string {
	if math.IsNaN(r) || math.IsInf(r, 0) {
		return "—"
	}
	switch {
	case r >= 10:
		return fmt.Sprintf("%.0f", r)
	case r >= 0.1:
		return fmt.Sprintf("%.2f", r)
	default:
		return fmt.Sprintf("%.2g", r)
	}
}

// fmtTimes renders a factor, e.g. ×1.85.
func fmtTimes(r float64) string {
	if math.IsNaN(r) || math.IsInf(r, 0) {
		return "—"
	}
	return fmt.Sprintf("×%.2f", r)
}

// fmtAllocs renders Go-heap allocations per op.
func fmtAllocs(a float64) string {
	switch {
	case math.IsNaN(a):
		return "—"
	case a == 0:
		return "0"
	case a < 0.01:
		return fmt.Sprintf("%.1e", a)
	default:
		return fmt.Sprintf("%.2f", a)
	}
}

// Header describes the run for the top of the output.
type Header struct {
	Date      time.Time
	GoVersion string
	Procs     int
	CPU       string
	Runs      int
	Time      time.Duration
	Kinds     []Kind
	Notes     []string // e.g. how to include Go arenas
}

// writeHeader prints the run's settings and the allocators' legend.
func writeHeader(w io.Writer, h Header) {
	fmt.Fprintf(w, "mmalloc bench — %s\n", h.Date.UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(w, "%s %s/%s, GOMAXPROCS=%d, cpu: %s\n", h.GoVersion, runtime.GOOS, runtime.GOARCH, h.Procs, h.CPU)
	fmt.Fprintf(w, "each figure: median of %d runs of about %v each (min – max beside it); ×%s = time ÷ %s's time (below 1 is faster)\n\n",
		h.Runs, h.Time, baselineAlloc, baselineAlloc)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "allocator\tzeroed\tgoroutine-safe\twhat")
	for _, k := range h.Kinds {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", k.Name, yesNo(k.Zeroed), yesNo(k.Concurrent), k.Doc)
	}
	tw.Flush()
	for _, n := range h.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	fmt.Fprintln(w)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// figureLabels returns the figure columns of a workload, in order of
// first appearance.
func figureLabels(rep *WorkloadReport) []string {
	var labels []string
	seen := map[string]bool{}
	for _, r := range rep.Results {
		for _, f := range r.Figures {
			if !seen[f.Label] {
				seen[f.Label] = true
				labels = append(labels, f.Label)
			}
		}
	}
	return labels
}

// figure returns r's figure with the given label.
func (r *Result) figure(label string) (Figure, bool) {
	for _, f := range r.Figures {
		if f.Label == label {
			return f, true
		}
	}
	return Figure{}, false
}

// Ratio returns r's median time per op over the baseline allocator's in
// the same case, or NaN without a baseline.
func (w *WorkloadReport) Ratio(r *Result) float64 {
	b := w.Find(r.Case, baselineAlloc)
	if b == nil {
		return math.NaN()
	}
	return r.MedianNs() / b.MedianNs()
}

// writeTable prints one workload's table.
func writeTable(w io.Writer, rep *WorkloadReport) {
	fmt.Fprintf(w, "== %s: %s\n", rep.Name, rep.Models)
	fmt.Fprintf(w, "   op = %s\n", rep.Measure)
	if len(rep.Results) == 0 {
		fmt.Fprintln(w, "   (no results)")
	} else {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		labels := figureLabels(rep)
		cols := []string{"case", "allocator", "time/op", "min – max", "×" + baselineAlloc, "allocs/op", "faults/op"}
		cols = append(cols, labels...)
		fmt.Fprintln(tw, strings.Join(cols, "\t"))
		for _, c := range rep.Cases() {
			first := true
			for _, a := range rep.Allocs() {
				r := rep.Find(c, a)
				if r == nil {
					continue
				}
				caseCol := ""
				if first {
					caseCol, first = c, false
				}
				lo, hi := r.MinMaxNs()
				allocs, faults := fmtAllocs(r.MedianAllocs()), fmtAllocs(r.MedianFaults())
				if r.Reference {
					allocs, faults = "—", "—"
				}
				row := []string{caseCol, r.Alloc, fmtNs(r.MedianNs()), fmtNsRange(lo, hi), fmtRatio(rep.Ratio(r)), allocs, faults}
				for _, l := range labels {
					f, ok := r.figure(l)
					switch {
					case !ok:
						row = append(row, "")
					case f.Format != nil:
						row = append(row, f.Format(f.Median()))
					default:
						row = append(row, fmt.Sprintf("%.3g", f.Median()))
					}
				}
				fmt.Fprintln(tw, strings.Join(row, "\t"))
			}
		}
		tw.Flush()
	}
	for _, n := range rep.Notes {
		fmt.Fprintf(w, "   note: %s\n", n)
	}
	fmt.Fprintln(w)
}

// gobenchNames maps workload names to Benchmark function names.
var gobenchNames = map[string]string{
	"pair": "Pair", "batch": "Batch", "parallel": "Parallel",
	"churn": "Churn", "gc": "GC", "rss": "RSS",
}

// gobenchNum renders a value the way testing does: plain decimal, no
// exponent, about four significant digits.
func gobenchNum(v float64) string {
	switch a := math.Abs(v); {
	case a == 0:
		return "0"
	case a >= 1000:
		return fmt.Sprintf("%.0f", v)
	case a >= 1:
		return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.3f", v), "0"), ".")
	default:
		return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.6f", v), "0"), ".")
	}
}

// writeGobenchHeader prints the configuration lines benchstat reads.
func writeGobenchHeader(w io.Writer, cpu string) {
	fmt.Fprintf(w, "goos: %s\ngoarch: %s\npkg: github.com/mmalloc/mmalloc/bench\ncpu: %s\n", runtime.GOOS, runtime.GOARCH, cpu)
}

// writeGobench prints one line per run in Go benchmark format, e.g.
//
//	BenchmarkPair/mmalloc/size=64B-2  1000000  12.3 ns/op  0 allocs/op  0 page-faults/op
//
// so that benchstat can compare two runs of the program.
func writeGobench(w io.Writer, rep *WorkloadReport, procs int) {
	name := gobenchNames[rep.Name]
	if name == "" {
		name = rep.Name
	}
	suffix := ""
	if procs > 1 {
		suffix = fmt.Sprintf("-%d", procs)
	}
	for _, r := range rep.Results {
		for i, run := range r.Runs {
			var b strings.Builder
			fmt.Fprintf(&b, "Benchmark%s/%s/%s%s\t%d\t%s ns/op", name, r.Alloc, r.Case, suffix, run.Iters, gobenchNum(run.NsPerOp()))
			if !r.Reference {
				fmt.Fprintf(&b, "\t%s allocs/op\t%s page-faults/op", gobenchNum(run.AllocsPerOp()), gobenchNum(run.FaultsPerOp()))
			}
			for _, f := range r.Figures {
				if i < len(f.Values) && !math.IsNaN(f.Values[i]) && !math.IsInf(f.Values[i], 0) {
					fmt.Fprintf(&b, "\t%s %s", gobenchNum(f.Values[i]), f.Unit)
				}
			}
			fmt.Fprintln(w, b.String())
		}
	}
}

// isPeer reports whether r is one of mmalloc's peers: neither an mmalloc
// variant nor a reference row.
func isPeer(r *Result) bool {
	return !r.Reference && !strings.HasPrefix(r.Alloc, baselineAlloc)
}

// Gap is where mmalloc stands furthest behind its best peer in one
// workload.
type Gap struct {
	Workload, Case string
	Mmalloc        float64 // mmalloc's median time per op
	Peer           string  // the fastest peer in that case
	PeerNs         float64 // its median time per op
}

// Ratio is mmalloc's time over the best peer's: above 1, mmalloc is behind.
func (g Gap) Ratio() float64 { return g.Mmalloc / g.PeerNs }

// gaps finds, for each workload with mmalloc results, the case where
// mmalloc's time is the largest multiple of its fastest peer's, and
// returns them furthest behind first.
func gaps(reps []*WorkloadReport) []Gap {
	var out []Gap
	for _, rep := range reps {
		var worst *Gap
		for _, c := range rep.Cases() {
			m := rep.Find(c, baselineAlloc)
			if m == nil {
				continue
			}
			g := Gap{Workload: rep.Name, Case: c, Mmalloc: m.MedianNs(), PeerNs: math.Inf(1)}
			for _, r := range rep.Results {
				if r.Case == c && isPeer(r) && r.MedianNs() < g.PeerNs {
					g.Peer, g.PeerNs = r.Alloc, r.MedianNs()
				}
			}
			if g.Peer != "" && (worst == nil || g.Ratio() > worst.Ratio()) {
				worst = &g
			}
		}
		if worst != nil {
			out = append(out, *worst)
		}
	}
	slices.SortStableFunc(out, func(a, b Gap) int { return cmp.Compare(b.Ratio(), a.Ratio()) })
	return out
}

// writeSummary prints, per workload, the case where mmalloc is furthest
// behind its fastest peer: the list the performance work starts from.
func writeSummary(w io.Writer, reps []*WorkloadReport) {
	gs := gaps(reps)
	if len(gs) == 0 {
		return
	}
	fmt.Fprintln(w, "== summary: per workload, the case where mmalloc is furthest behind its fastest peer")
	fmt.Fprintln(w, "   (time/op; above 1 mmalloc is slower; the c-malloc reference and mmalloc's own variants are not peers)")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "workload\tcase\tmmalloc\tfastest peer\tpeer time/op\tmmalloc ÷ peer")
	for _, g := range gs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", g.Workload, g.Case, fmtNs(g.Mmalloc), g.Peer, fmtNs(g.PeerNs), fmtRatio(g.Ratio()))
	}
	tw.Flush()
	fmt.Fprintln(w)
}
