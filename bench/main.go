// Command line, progress, and the run itself.

package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"golang.org/x/term"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// Exit statuses.
const (
	exitOK    = 0
	exitError = 1 // a run failed (I/O, chart)
	exitUsage = 2 // bad flags or names
)

// Defaults, chosen so the default run finishes in under 3 minutes on a
// 2-core machine.
const (
	defaultRuns = 5
	defaultTime = 60 * time.Millisecond
)

// Config is the parsed command line.
type Config struct {
	Workloads []Workload
	Kinds     []Kind
	CRef      bool // run the C reference row in pair
	Runs      int
	Time      time.Duration
	Procs     int
	Quiet     bool
	Format    string // "table" or "gobench"
	SVG       string // chart file, "" for none
}

// usageError is a command-line mistake: exit status 2.
type usageError struct{ msg string }

// Error returns the message for the user.
func (e *usageError) Error() string { return e.msg }

// splitList splits a comma list, dropping blanks.
func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// allocNames lists every valid -alloc name: the built-in allocators and
// the C reference.
func allocNames() []string { return append(kindNames(), cRefName) }

// parseArgs parses the command line. Errors are *usageError, or
// flag.ErrHelp after -h.
func parseArgs(args []string, stderr io.Writer) (Config, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		workloadList = fs.String("workload", "all", "comma list of workloads: "+strings.Join(workloadNames(), ", "))
		allocList    = fs.String("alloc", "all", "comma list of allocators: "+strings.Join(allocNames(), ", "))
		runs         = fs.Int("runs", defaultRuns, "timed runs per allocator and case; tables show the median")
		dur          = fs.Duration("time", defaultTime, "target wall time of one timed run (gc and churn runs take 4×)")
		procs        = fs.Int("cpu", runtime.GOMAXPROCS(0), "GOMAXPROCS for the run (goroutines in parallel and churn)")
		quiet        = fs.Bool("q", false, "no progress on stderr")
		format       = fs.String("format", "table", "output format: table or gobench (for benchstat)")
		svg          = fs.String("svg", "", "also draw the results as an SVG chart into this file")
	)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: go -C bench run . [flags]\n\n"+
			"Benchmarks mmalloc against the Go heap, sync.Pool, modernc.org/memory and Go arenas.\n\nFlags:\n")
		fs.PrintDefaults()
		fmt.Fprintf(fs.Output(), "\n%s\n", arenaUsage())
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return Config{}, err
		}
		return Config{}, &usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return Config{}, &usageError{fmt.Sprintf("unexpected arguments: %s", strings.Join(fs.Args(), " "))}
	}
	cfg := Config{Runs: *runs, Time: *dur, Procs: *procs, Quiet: *quiet, Format: *format, SVG: *svg}
	switch {
	case cfg.Runs < 1:
		return Config{}, &usageError{fmt.Sprintf("-runs must be at least 1, not %d", cfg.Runs)}
	case cfg.Time <= 0:
		return Config{}, &usageError{fmt.Sprintf("-time must be positive, not %v", cfg.Time)}
	case cfg.Procs < 1:
		return Config{}, &usageError{fmt.Sprintf("-cpu must be at least 1, not %d", cfg.Procs)}
	case cfg.Format != "table" && cfg.Format != "gobench":
		return Config{}, &usageError{fmt.Sprintf("unknown -format %q; valid: table, gobench", cfg.Format)}
	}

	names := splitList(*workloadList)
	if slices.Contains(names, "all") {
		names = workloadNames()
	}
	var bad []string
	for _, n := range names {
		w, ok := lookupWorkload(n)
		if !ok {
			bad = append(bad, n)
			continue
		}
		if !slices.ContainsFunc(cfg.Workloads, func(x Workload) bool { return x.Name == n }) {
			cfg.Workloads = append(cfg.Workloads, w)
		}
	}
	if len(bad) > 0 || len(cfg.Workloads) == 0 {
		return Config{}, &usageError{fmt.Sprintf("unknown workload %q; valid workloads: %s",
			strings.Join(bad, ","), strings.Join(workloadNames(), ", "))}
	}

	names = splitList(*allocList)
	if slices.Contains(names, "all") {
		names = allocNames()
	}
	bad = nil
	for _, n := range names {
		if n == cRefName {
			cfg.CRef = true
			continue
		}
		k, ok := lookupKind(n)
		if !ok {
			bad = append(bad, n)
			continue
		}
		if !slices.ContainsFunc(cfg.Kinds, func(x Kind) bool { return x.Name == n }) {
			cfg.Kinds = append(cfg.Kinds, k)
		}
	}
	if len(bad) > 0 || (len(cfg.Kinds) == 0 && !cfg.CRef) {
		msg := fmt.Sprintf("unknown allocator %q; valid allocators: %s", strings.Join(bad, ","), strings.Join(allocNames(), ", "))
		if slices.Contains(bad, "go-arena") {
			msg += "\n" + arenaUsage()
		}
		return Config{}, &usageError{msg}
	}
	return cfg, nil
}

// arenaUsage says whether Go arenas are built in and how to include them.
func arenaUsage() string {
	if arenaHint != "" {
		return arenaHint
	}
	return "go-arena: built in (GOEXPERIMENT=arenas)"
}

// cpuModel returns the processor's name from /proc/cpuinfo, or "unknown".
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// progress reports on stderr which workload, case and allocator is
// running, on one line that it rewrites. It is silent unless enabled.
// Not safe for concurrent use; only the main goroutine calls it.
type progress struct {
	w     io.Writer
	on    bool
	start time.Time
	stage string // which workload of how many, e.g. "2/6"
}

// newProgress enables progress when stderr is a terminal and not quiet.
func newProgress(stderr io.Writer, quiet bool) *progress {
	p := &progress{w: stderr, start: time.Now()}
	if f, ok := stderr.(*os.File); ok && !quiet {
		p.on = term.IsTerminal(int(f.Fd()))
	}
	return p
}

// Set shows what runs now.
func (p *progress) Set(workload, c, alloc, what string) {
	if !p.on {
		return
	}
	fmt.Fprintf(p.w, "\r\033[K[%4.0fs] workload %s %s %s %s %s", time.Since(p.start).Seconds(), p.stage, workload, c, alloc, what)
}

// Clear erases the progress line.
func (p *progress) Clear() {
	if p.on {
		fmt.Fprint(p.w, "\r\033[K")
	}
}

// run is the program: it returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	cfg, err := parseArgs(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return exitUsage
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(cfg.Procs))

	start := time.Now()
	cpu := cpuModel()
	env := &Env{Runs: cfg.Runs, Time: cfg.Time, Procs: cfg.Procs, Kinds: cfg.Kinds, CRef: cfg.CRef,
		Progress: newProgress(stderr, cfg.Quiet), Done: map[string]*WorkloadReport{}}
	if cfg.Format == "gobench" {
		writeGobenchHeader(stdout, cpu)
	} else {
		writeHeader(stdout, Header{Date: start, GoVersion: runtime.Version(), Procs: cfg.Procs, CPU: cpu,
			Runs: cfg.Runs, Time: cfg.Time, Kinds: cfg.Kinds, Notes: []string{
				arenaUsage(),
				"off-heap memory is invisible to GOGC's pacing: pair mmalloc with GOMEMLIMIT (and a higher GOGC, or GOGC=off); see the gc table",
			}})
	}
	var reps []*WorkloadReport
	for i, w := range cfg.Workloads {
		env.Progress.stage = fmt.Sprintf("%d/%d", i+1, len(cfg.Workloads))
		rep := &WorkloadReport{Name: w.Name, Models: w.Models, Measure: w.Measure}
		if err := w.Run(env, rep); err != nil {
			env.Progress.Clear()
			fmt.Fprintf(stderr, "bench: %s: %v\n", w.Name, err)
			return exitError
		}
		env.Done[w.Name] = rep
		reps = append(reps, rep)
		env.Progress.Clear()
		if cfg.Format == "gobench" {
			writeGobench(stdout, rep, cfg.Procs)
		} else {
			writeTable(stdout, rep)
		}
	}
	if cfg.SVG != "" {
		f, err := os.Create(cfg.SVG)
		if err == nil {
			err = writeChart(f, reps)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			fmt.Fprintf(stderr, "bench: -svg: %v\n", err)
			return exitError
		}
	}
	if cfg.Format != "gobench" {
		writeSummary(stdout, reps)
		fmt.Fprintf(stdout, "total wall time: %v\n", time.Since(start).Round(time.Second))
	}
	return exitOK
}
