// Output: the tables for people and the Go benchmark format for benchstat.

package main

import (
	"fmt"
	"io"
	"math"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"
)

// likeCol heads the ratio column: time ÷ the fastest like-for-like peer's.
const likeCol = "×like peer"

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

// fmtTimes renders a factor: a multiplication sign, then two decimals.
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

// Header describes the run for the top of the output and of the chart.
type Header struct {
	Date      time.Time
	GoVersion string
	Procs     int
	CPU       string
	Commit    string // the source's git commit, see commit
	Runs      int
	Time      time.Duration
	Kinds     []Kind
	CRef      bool     // the C reference row was asked for
	Notes     []string // e.g. how to include Go arenas
}

// Title is the chart's title line: date, commit, Go, machine.
func (h Header) Title() string {
	return fmt.Sprintf("mmalloc bench — %s — commit %s — %s %s/%s — cpu: %s, GOMAXPROCS=%d",
		h.Date.UTC().Format("2006-01-02 15:04 MST"), h.Commit, h.GoVersion, runtime.GOOS, runtime.GOARCH, h.CPU, h.Procs)
}

// contractsLine says which rows the ratios compare, from the kinds of
// the run.
func contractsLine(ks []Kind, cref bool) string {
	var parts []string
	for _, zeroed := range []bool{true, false} {
		var variants, peers []string
		for _, k := range ks {
			switch {
			case k.Zeroed != zeroed || k.Versus != "":
			case isVariant(k.Name):
				variants = append(variants, k.Name)
			default:
				peers = append(peers, k.Name)
			}
		}
		if !zeroed && cref {
			variants = append(variants, cRefName)
		}
		if len(variants) > 0 || len(peers) > 0 {
			parts = append(parts, fmt.Sprintf("%s: %s against %s", contractName(zeroed),
				orNone(strings.Join(variants, ", ")), orNone(strings.Join(peers, ", "))))
		}
	}
	return strings.Join(parts, "; ")
}

// orNone renders an empty list as "none".
func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// writeHeader prints the run's settings and the allocators' legend.
func writeHeader(w io.Writer, h Header) {
	fmt.Fprintf(w, "mmalloc bench — %s\n", h.Date.UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(w, "%s %s/%s, GOMAXPROCS=%d, cpu: %s\n", h.GoVersion, runtime.GOOS, runtime.GOARCH, h.Procs, h.CPU)
	fmt.Fprintf(w, "commit: %s\n", h.Commit)
	fmt.Fprintf(w, "each figure: median of %d runs of about %v each (min – max beside it)\n", h.Runs, h.Time)
	fmt.Fprintf(w, "%s = time ÷ the fastest peer's time with the same contract, in the same case (below 1: faster than all of them)\n", likeCol)
	fmt.Fprintf(w, "contracts compared: %s\n\n", contractsLine(h.Kinds, h.CRef))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "allocator\tzeroed\tgoroutine-safe\twhat")
	for _, k := range h.Kinds {
		safe := yesNo(k.Concurrent)
		if k.Handle {
			safe = "per goroutine"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", k.Name, yesNo(k.Zeroed), safe, k.Doc)
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

// addVersus gives the rows of a mode (a kind with Versus set, such as
// guard mode) a figure: their time ÷ the time of the kind they are a mode
// of, in the same case, per run.
func addVersus(rep *WorkloadReport) {
	for _, r := range rep.Results {
		k, ok := lookupKind(r.Alloc)
		if !ok || k.Versus == "" {
			continue
		}
		base := rep.Find(r.Case, k.Versus)
		if base == nil {
			continue
		}
		f := Figure{Label: "×" + k.Versus, Unit: "x-" + k.Versus, Format: fmtTimes}
		for _, x := range r.NsPerOp() {
			f.Values = append(f.Values, x/base.MedianNs())
		}
		r.Figures = append(r.Figures, f)
	}
}

// throughputBase is the allocator throughput ratios divide by.
const throughputBase = "go-heap"

// addThroughput gives every row of a workload its throughput (operations
// per second, per run), and the rows that zero their memory, as make
// does, their throughput ÷ the Go heap's median in the same case.
// Rows that do not zero are compared like for like by the ×like peer
// column instead.
func addThroughput(rep *WorkloadReport) {
	for _, r := range rep.Results {
		tp := Figure{Label: "ops/s", Unit: "ops/s", Format: fmtOpsPerSec}
		for _, x := range r.NsPerOp() {
			tp.Values = append(tp.Values, 1e9/x)
		}
		r.Figures = append(r.Figures, tp)
		base := rep.Find(r.Case, throughputBase)
		if base == nil || !zeroedOf(r.Alloc) {
			continue
		}
		f := Figure{Label: "thrpt ÷ go-heap", Unit: "x-go-heap-throughput", Format: fmtTimes}
		for _, x := range r.NsPerOp() {
			f.Values = append(f.Values, base.MedianNs()/x)
		}
		r.Figures = append(r.Figures, f)
	}
}

// fmtOpsPerSec renders a throughput, e.g. 12.3M.
func fmtOpsPerSec(v float64) string {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return "—"
	case v >= 1e6:
		return fmt.Sprintf("%.3gM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.3gk", v/1e3)
	default:
		return fmt.Sprintf("%.3g", v)
	}
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
		cols := []string{"case", "allocator", "time/op", "min – max", likeCol, "allocs/op", "faults/op"}
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
				row := []string{caseCol, r.Alloc, fmtNs(r.MedianNs()), fmtNsRange(lo, hi), fmtRatio(rep.LikeRatio(r)), allocs, faults}
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
	if rep.Elapsed > 0 {
		fmt.Fprintf(w, "   wall time of this workload: %v\n", rep.Elapsed.Round(time.Second))
	}
	fmt.Fprintln(w)
}

// gobenchNames maps workload names to Benchmark function names.
var gobenchNames = map[string]string{
	"pair": "Pair", "batch": "Batch", "parallel": "Parallel",
	"churn": "Churn", "gc": "GC", "rss": "RSS", "buffer": "Buffer",
	"prodcons": "ProdCons", "larson": "Larson", "liveset": "LiveSet",
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

// writeSummary prints, per workload, the case where mmalloc leads its
// like-for-like peers by the most and the one where it trails by the most:
// what a reader choosing an allocator needs first, and the list the
// performance work starts from.
func writeSummary(w io.Writer, reps []*WorkloadReport) {
	type row struct {
		label string
		s     Standing
	}
	var rows []row
	for _, rep := range reps {
		best, worst, ok := extremes(rep)
		if !ok {
			continue
		}
		rows = append(rows, row{standingLabel(best.Ratio(), true), best})
		if worst != best {
			rows = append(rows, row{standingLabel(worst.Ratio(), false), worst})
		}
	}
	if len(rows) == 0 {
		return
	}
	fmt.Fprintln(w, "== summary: like for like, per workload: where mmalloc leads its peers by the most, and where it trails by the most")
	fmt.Fprintln(w, "   ratio = the mmalloc variant's time ÷ the fastest peer's time with the same contract (zeroed or not), in the same case; below 1 mmalloc is faster")
	fmt.Fprintln(w, "   goroutine safety: whether the two rows promise the same, and what each promises when they do not")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "workload\tstanding\tcase\tmmalloc variant\ttime/op\tlike peer\tpeer time/op\tratio\tgoroutine safety")
	for _, r := range rows {
		s := r.s
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Workload, r.label, s.Case, s.Variant, fmtNs(s.VariantNs),
			s.Peer, fmtNs(s.PeerNs), fmtRatio(s.Ratio()), s.Safety)
	}
	tw.Flush()
	fmt.Fprintln(w)
}

// standingLabel names a summary row: the best standing of a workload is
// where mmalloc "leads most", unless it leads nowhere; the worst is where
// it "trails most", unless it trails nowhere.
func standingLabel(ratio float64, best bool) string {
	switch {
	case best && ratio < 1:
		return "leads most"
	case best:
		return "closest"
	case ratio > 1:
		return "trails most"
	default:
		return "leads least"
	}
}
