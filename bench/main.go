// Command line, progress, and the run itself.

package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
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

// Defaults, chosen to keep the default run short on a 2-core machine (its
// wall time ends results/default.txt).
const (
	defaultRuns = 5
	defaultTime = 60 * time.Millisecond
)

// Config is the parsed command line.
type Config struct {
	Workloads []Workload
	Kinds     []Kind
	CRef      bool // run the C reference row in pair and batch
	Runs      int
	Time      time.Duration
	Procs     int
	Live      []int // live-set sizes of the liveset workload
	Quiet     bool
	Format    string // "table" or "gobench"
	// ProfileRate is mmalloc's Options.ProfileRate for every mmalloc
	// allocator of the run: 0 its default, < 0 sampling off.
	ProfileRate int
	SVG         string // chart file, "" for none
	PNG         string // chart file, "" for none
	CPUProfile  string // CPU profile of the whole run, "" for none
}

// usageError is a command-line mistake: exit status 2.
type usageError struct{ msg string }

// Error returns the message for the user.
func (e *usageError) Error() string { return e.msg }

// splitList splits the comma list of flag name into trimmed names. An
// empty list, or an empty name in it ("pair,,batch"), is a usage error.
func splitList(name, s string) ([]string, error) {
	var out []string
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			return nil, &usageError{fmt.Sprintf("-%s %q: empty name in the list", name, s)}
		}
		out = append(out, f)
	}
	return out, nil
}

// expandAll replaces "all" in names by every name in all, keeping the
// order and dropping repeats, so that "all,extra" adds an opt-in name.
func expandAll(names, all []string) []string {
	var out []string
	for _, n := range names {
		add := []string{n}
		if n == "all" {
			add = all
		}
		for _, a := range add {
			if !slices.Contains(out, a) {
				out = append(out, a)
			}
		}
	}
	return out
}

// allocNames lists every valid -alloc name: the built-in allocators and
// the C reference.
func allocNames() []string { return append(kindNames(), cRefName) }

// defaultLive is the default of -live.
const defaultLive = "1k,100k,1M,10M"

// parseCount parses a count such as 1000, 100k or 10M.
func parseCount(s string) (int, error) {
	mult := 1
	switch {
	case strings.HasSuffix(s, "k"), strings.HasSuffix(s, "K"):
		mult, s = 1_000, s[:len(s)-1]
	case strings.HasSuffix(s, "M"), strings.HasSuffix(s, "m"):
		mult, s = 1_000_000, s[:len(s)-1]
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > math.MaxInt32/mult {
		return 0, fmt.Errorf("bad count %q", s)
	}
	return n * mult, nil
}

// parseArgs parses the command line. Errors are *usageError, or
// flag.ErrHelp after -h.
func parseArgs(args []string, stderr io.Writer) (Config, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		workloadList = fs.String("workload", "all", "comma list of workloads: "+strings.Join(workloadNames(), ", ")+
			"; all = every one but "+strings.Join(optInWorkloads(), ", "))
		allocList = fs.String("alloc", "all", "comma list of allocators: "+strings.Join(allocNames(), ", ")+
			"; all = every one but "+strings.Join(optInKinds(), ", "))
		runs   = fs.Int("runs", defaultRuns, "timed runs per allocator and case; tables show the median")
		dur    = fs.Duration("time", defaultTime, "target wall time of one timed run (gc and churn runs take 4×)")
		procs  = fs.Int("cpu", runtime.GOMAXPROCS(0), "GOMAXPROCS for the run (goroutines in parallel, churn, prodcons, larson)")
		live   = fs.String("live", defaultLive, "comma list of live-set sizes for the liveset workload (k = 1,000, M = 1,000,000)")
		quiet  = fs.Bool("q", false, "no progress on stderr")
		format = fs.String("format", "table", "output format: table or gobench (for benchstat)")
		rate   = fs.Int("profile-rate", 0, "Options.ProfileRate of every mmalloc allocator: 0 is mmalloc's default "+
			"(DefaultProfileRate, 512 KiB), -1 turns sampling off, 1 samples every allocation")
		svg  = fs.String("svg", "", "also draw the results as an SVG chart into this file")
		png  = fs.String("png", "", "also draw the results as a PNG chart into this file")
		cpup = fs.String("cpuprofile", "", "write a CPU profile of the whole run into this file (go tool pprof reads it)")
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
	cfg := Config{Runs: *runs, Time: *dur, Procs: *procs, Quiet: *quiet, Format: *format, SVG: *svg, PNG: *png,
		ProfileRate: *rate, CPUProfile: *cpup}
	switch {
	case cfg.Runs < 1:
		return Config{}, &usageError{fmt.Sprintf("-runs must be at least 1, not %d", cfg.Runs)}
	case cfg.Time <= 0:
		return Config{}, &usageError{fmt.Sprintf("-time must be positive, not %v", cfg.Time)}
	case cfg.Procs < 1:
		return Config{}, &usageError{fmt.Sprintf("-cpu must be at least 1, not %d", cfg.Procs)}
	case cfg.Format != "table" && cfg.Format != "gobench":
		return Config{}, &usageError{fmt.Sprintf("unknown -format %q; valid: table, gobench", cfg.Format)}
	case cfg.SVG != "" && cfg.SVG == cfg.PNG:
		return Config{}, &usageError{fmt.Sprintf("-svg and -png name the same file %q", cfg.SVG)}
	case cfg.CPUProfile != "" && (cfg.CPUProfile == cfg.SVG || cfg.CPUProfile == cfg.PNG):
		return Config{}, &usageError{fmt.Sprintf("-cpuprofile and a chart name the same file %q", cfg.CPUProfile)}
	}

	lives, err := splitList("live", *live)
	if err != nil {
		return Config{}, err
	}
	for _, l := range lives {
		n, err := parseCount(l)
		if err != nil {
			return Config{}, &usageError{fmt.Sprintf("-live: %v; want counts such as 1000, 100k or 10M", err)}
		}
		if !slices.Contains(cfg.Live, n) {
			cfg.Live = append(cfg.Live, n)
		}
	}

	names, err := splitList("workload", *workloadList)
	if err != nil {
		return Config{}, err
	}
	var bad []string
	for _, n := range expandAll(names, defaultWorkloadNames()) {
		w, ok := lookupWorkload(n)
		if !ok {
			bad = append(bad, n)
			continue
		}
		cfg.Workloads = append(cfg.Workloads, w)
	}
	if len(bad) > 0 {
		return Config{}, &usageError{fmt.Sprintf("unknown workload %q; valid workloads: %s",
			strings.Join(bad, ","), strings.Join(workloadNames(), ", "))}
	}

	names, err = splitList("alloc", *allocList)
	if err != nil {
		return Config{}, err
	}
	bad = nil
	for _, n := range expandAll(names, defaultAllocNames()) {
		if n == cRefName {
			cfg.CRef = true
			continue
		}
		k, ok := lookupKind(n)
		if !ok {
			bad = append(bad, n)
			continue
		}
		cfg.Kinds = append(cfg.Kinds, k)
	}
	if len(bad) > 0 {
		msg := fmt.Sprintf("unknown allocator %q; valid allocators: %s", strings.Join(bad, ","), strings.Join(allocNames(), ", "))
		if slices.Contains(bad, "go-arena") {
			msg += "\n" + arenaUsage()
		}
		return Config{}, &usageError{msg}
	}
	return cfg, nil
}

// defaultWorkloadNames are the workloads "all" stands for: every one but
// the opt-in ones.
func defaultWorkloadNames() []string {
	var names []string
	for _, w := range workloads {
		if !w.OptIn {
			names = append(names, w.Name)
		}
	}
	return names
}

// optInWorkloads are the workloads that run only when named.
func optInWorkloads() []string {
	var names []string
	for _, w := range workloads {
		if w.OptIn {
			names = append(names, w.Name)
		}
	}
	return names
}

// defaultAllocNames are the allocators "all" stands for: every kind but
// the opt-in ones, and the C reference.
func defaultAllocNames() []string {
	var names []string
	for _, k := range kinds {
		if !k.OptIn {
			names = append(names, k.Name)
		}
	}
	return append(names, cRefName)
}

// optInKinds are the allocators that run only when named.
func optInKinds() []string {
	var names []string
	for _, k := range kinds {
		if k.OptIn {
			names = append(names, k.Name)
		}
	}
	return names
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

// output is a file the program writes once the run is over. It is opened
// before anything is measured, so that a path that cannot be written fails
// at once rather than minutes later.
type output struct {
	flag    string // "svg" or "png": the flag, and the chart's format
	path    string
	f       *os.File
	created bool // the file did not exist before: remove it if the run fails
}

// openOutputs opens every output file of cfg for writing, without
// truncating it yet. On error it closes what it opened.
func openOutputs(cfg Config) ([]*output, error) {
	var outs []*output
	for _, o := range []struct{ flag, path string }{{"svg", cfg.SVG}, {"png", cfg.PNG}} {
		if o.path == "" {
			continue
		}
		_, statErr := os.Stat(o.path)
		f, err := os.OpenFile(o.path, os.O_WRONLY|os.O_CREATE, 0o644)
		if err != nil {
			abandonOutputs(outs)
			return nil, fmt.Errorf("-%s: %w", o.flag, err)
		}
		outs = append(outs, &output{flag: o.flag, path: o.path, f: f, created: errors.Is(statErr, os.ErrNotExist)})
	}
	return outs, nil
}

// abandonOutputs closes the outputs of a failed run and removes the files
// it created.
func abandonOutputs(outs []*output) {
	for _, o := range outs {
		o.f.Close()
		if o.created {
			os.Remove(o.path)
		}
	}
}

// writeOutputs draws the chart into every output file.
func writeOutputs(outs []*output, h Header, reps []*WorkloadReport) error {
	for _, o := range outs {
		err := o.f.Truncate(0)
		if err == nil {
			err = writeChart(o.f, o.flag, h, reps)
		}
		if cerr := o.f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("-%s %s: %w", o.flag, o.path, err)
		}
	}
	return nil
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
	outs, err := openOutputs(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return exitUsage
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(cfg.Procs))
	defer func(was int) { profileRate = was }(profileRate)
	profileRate = cfg.ProfileRate
	if cfg.CPUProfile != "" {
		f, err := os.Create(cfg.CPUProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintf(stderr, "bench: -cpuprofile: %v\n", err)
			abandonOutputs(outs)
			return exitUsage
		}
		defer f.Close()
		defer pprof.StopCPUProfile()
	}

	start := time.Now()
	h := Header{Date: start, GoVersion: runtime.Version(), Procs: cfg.Procs, CPU: cpuModel(), Commit: commit(),
		Runs: cfg.Runs, Time: cfg.Time, Kinds: cfg.Kinds, CRef: cfg.CRef, Notes: []string{
			arenaUsage(),
			"off-heap memory is invisible to GOGC's pacing: give the process one budget with mmalloc.SetProcessBudget, and GOGC=off (the gc table's budget rows)",
		}}
	if note := profileNote(cfg.ProfileRate); note != "" {
		h.Notes = append(h.Notes, note)
	}
	env := &Env{Runs: cfg.Runs, Time: cfg.Time, Procs: cfg.Procs, Kinds: cfg.Kinds, CRef: cfg.CRef, Live: cfg.Live,
		Progress: newProgress(stderr, cfg.Quiet), Done: map[string]*WorkloadReport{}}
	if cfg.Format == "gobench" {
		writeGobenchHeader(stdout, h.CPU)
		// A configuration line, which benchstat can compare by:
		// benchstat -col profile-rate off.txt default.txt.
		fmt.Fprintf(stdout, "profile-rate: %d\n", cfg.ProfileRate)
	} else {
		writeHeader(stdout, h)
	}
	var reps []*WorkloadReport
	for i, w := range cfg.Workloads {
		env.Progress.stage = fmt.Sprintf("%d/%d", i+1, len(cfg.Workloads))
		rep := &WorkloadReport{Name: w.Name, Models: w.Models, Measure: w.Measure}
		wstart := time.Now()
		err := w.Run(env, rep)
		rep.Elapsed = time.Since(wstart)
		if err != nil {
			env.Progress.Clear()
			fmt.Fprintf(stderr, "bench: %s: %v\n", w.Name, err)
			abandonOutputs(outs)
			return exitError
		}
		addVersus(rep)
		env.Done[w.Name] = rep
		reps = append(reps, rep)
		env.Progress.Clear()
		if cfg.Format == "gobench" {
			writeGobench(stdout, rep, cfg.Procs)
		} else {
			writeTable(stdout, rep)
		}
	}
	if cfg.Format != "gobench" {
		writeSummary(stdout, reps)
		fmt.Fprintf(stdout, "total wall time: %v\n", time.Since(start).Round(time.Second))
	}
	if err := writeOutputs(outs, h, reps); err != nil {
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return exitError
	}
	return exitOK
}

// commit names the source the program was built from: the git commit of
// the working directory, with "+changes" when a Go or C source, go.mod or
// go.sum differs from it (results files being written do not count), or
// "unknown" outside a git checkout.
func commit() string {
	out, err := exec.Command("git", "rev-parse", "--short=12", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	c := strings.TrimSpace(string(out))
	err = exec.Command("git", "diff", "--quiet", "HEAD", "--", ":(top)*.go", ":(top)*.c", ":(top)*go.mod", ":(top)*go.sum").Run()
	if err != nil {
		c += "+changes"
	}
	return c
}
