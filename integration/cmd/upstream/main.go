// Command upstream runs the test suites of arrow-go and parquet-go with
// their memory switched to mmalloc's adapters, beside the same suites
// unchanged, and prints the counts of both.
//
// It takes each module from the module cache (go mod download, so from
// the Go module proxy and nothing else) and copies it into a temporary
// directory, where it adds files and nothing else changes upstream code:
//
//   - arrow-go: arrow/memory gets a file that, under the build tag
//     mmalloc, sets memory.DefaultAllocator to an arrowmem.Allocator, and
//     under the tag mmalloc_goalloc makes memory.GoAllocator (NewGoAllocator)
//     allocate from one (its own go_allocator.go is left out under that
//     tag); every package tested gets a TestMain that prints, after the
//     tests, what mmalloc still holds and where it was allocated. go.mod
//     gets a require and a replace of mmalloc.
//   - parquet-go: its package gets a test that runs its own buffer pool
//     tests (testBufferPool, testBufferPoolStress) on parquetmem.
//
// Each configuration (base: no tag; mmalloc; goalloc) runs the same
// packages; the run fails if a configuration's failing tests differ from
// base's, or if mmalloc refused a Free. Tests that need the arrow-testing
// or parquet-testing data files, which the module proxy does not serve,
// are skipped in every configuration and listed.
//
// With -guard, each package's tests run one top-level test per process,
// under mmalloc's guard mode (ARROWMEM_GUARD=1), and what guard mode finds
// is written to -results: faults (a use after free of a large buffer, or
// an overflow), corruptions found by the guards (a write after free of a
// small buffer), tests that fail only under guard mode (a read of freed
// memory), and bad frees, each with the test.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"time"
)

const (
	arrowModule   = "github.com/apache/arrow-go/v18"
	arrowVersion  = "v18.9.0"
	parquetModule = "github.com/parquet-go/parquet-go"
	parquetVer    = "v0.32.1"
	mmallocModule = "github.com/mmalloc/mmalloc"

	// reportTag starts the line each TestMain prints after the tests.
	reportTag = "MMALLOC-REPORT "
)

// dataTests are the tests of the packages run here that read the
// arrow-testing or parquet-testing data files (git submodules of
// arrow-go's repository, found through ARROW_TEST_DATA and
// PARQUET_TEST_DATA), which the module proxy does not serve: they fail
// without them, so every configuration skips them.
var dataTests = map[string][]string{
	"arrow/csv": {
		"TestParquetTestingCSVWriter: reads parquet-testing/data/alltypes_plain.parquet and delta_byte_array.parquet (PARQUET_TEST_DATA)",
		"TestCustomTypeConversion: reads parquet-testing/data/alltypes_plain.parquet (PARQUET_TEST_DATA)",
		"Example_reader: reads arrow-testing/data/csv/aggregate_test_100.csv",
	},
	"parquet/pqarrow": {
		"TestArrowReaderAdHocReadDecimals: reads parquet-testing/data/*_decimal.parquet (PARQUET_TEST_DATA; panics without it)",
		"TestArrowReaderAdHocReadFloat16s: reads parquet-testing/data/float16_*.parquet (PARQUET_TEST_DATA)",
		"TestArrowReaderCanceledContext: reads a parquet-testing file (PARQUET_TEST_DATA)",
		"TestReadRowGroupsCanceledDuringFinalColumn: reads a parquet-testing file (PARQUET_TEST_DATA)",
		"TestShreddedVariantExamples: reads parquet-testing/shredded_variant (PARQUET_TEST_DATA; skips itself without it)",
	},
}

// dataMarkers find test files that read external data, so that a new
// version's are noticed rather than failing.
var dataMarkers = regexp.MustCompile(`ARROW_TEST_DATA|PARQUET_TEST_DATA|arrow-testing|parquet-testing`)

type config struct {
	name string
	tags string
	// skips are tests of one allocator's own properties, which the
	// configuration replaces: skipped there, and listed.
	skips map[string][]string
}

var configs = map[string]config{
	"base":    {"base", "", nil},
	"mmalloc": {"mmalloc", "mmalloc", nil},
	"goalloc": {"goalloc", "mmalloc_goalloc", nil},
}

func main() {
	pkgs := flag.String("arrow", "arrow/array,arrow/ipc,arrow/memory,arrow/scalar,arrow/csv", "arrow-go packages to test, comma-separated")
	cfgs := flag.String("configs", "base,mmalloc,goalloc", "configurations to run")
	goallocPkgs := flag.String("goalloc-packages", "", "packages for the goalloc configuration (default: all of -arrow)")
	parquet := flag.Bool("parquet", true, "run parquet-go's buffer pool tests on parquetmem")
	guard := flag.Bool("guard", false, "run the arrow packages under guard mode, one top-level test per process")
	results := flag.String("results", "", "with -guard: the file to write the findings to")
	keep := flag.Bool("keep", false, "keep the temporary directory")
	flag.Parse()

	// One directory per mmalloc checkout, the same from run to run, so
	// that a second run hits the build cache (compiled packages are keyed
	// by their directory too). Two checkouts never share it (three clones
	// running make test at once on one machine rewrote each other's copy
	// of arrow-go, and its builds failed), and two runs of one checkout
	// take turns on the lock file beside it.
	root := mmallocRoot()
	h := fnv.New32a()
	h.Write([]byte(root))
	work := filepath.Join(os.TempDir(), fmt.Sprintf("mmalloc-upstream-%08x", h.Sum32()))
	lock, err := os.OpenFile(work+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	check(err)
	defer lock.Close()
	check(syscall.Flock(int(lock.Fd()), syscall.LOCK_EX))
	check(os.RemoveAll(work))
	check(os.MkdirAll(work, 0o755))
	if !*keep {
		defer os.RemoveAll(work)
	} else {
		fmt.Println("work directory:", work)
	}
	start := time.Now()
	fmt.Println(machine())
	failed := false

	arrowPkgs := strings.Split(*pkgs, ",")
	if *pkgs != "" {
		arrow := filepath.Join(work, "arrow")
		prepareArrow(arrow, root, arrowPkgs)
		if *guard {
			failed = runGuard(arrow, arrowPkgs, *results) || failed
		} else {
			failed = runArrow(arrow, arrowPkgs, strings.Split(*cfgs, ","), *goallocPkgs) || failed
		}
	}
	if *parquet && !*guard {
		failed = runParquet(filepath.Join(work, "parquet"), root) || failed
	}
	fmt.Printf("upstream: done in %s\n", time.Since(start).Round(time.Second))
	if failed {
		fmt.Println("upstream: FAILED")
		os.Exit(1)
	}
}

// machine names the date, the CPU and the Go toolchain of this run.
func machine() string {
	cpu := "unknown"
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(data), "\n") {
			if name, ok := strings.CutPrefix(l, "model name"); ok {
				cpu = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(name), ":"))
				break
			}
		}
	}
	gover, _ := exec.Command("go", "env", "GOVERSION").Output()
	return fmt.Sprintf("date: %s, cpu: %s, %d CPUs, %s", time.Now().UTC().Format("2006-01-02 15:04 MST"), cpu, runtime.NumCPU(), strings.TrimSpace(string(gover)))
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "upstream:", err)
		os.Exit(2)
	}
}

// mmallocRoot returns the directory of the mmalloc module this module
// replaces with ../.
func mmallocRoot() string {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", mmallocModule).Output()
	check(err)
	return strings.TrimSpace(string(out))
}

// download returns the module cache directory of mod@version, fetching
// it from the module proxy if it is not there.
func download(mod, version string) string {
	out, err := exec.Command("go", "mod", "download", "-json", mod+"@"+version).Output()
	check(err)
	var info struct{ Dir, Error string }
	check(json.Unmarshal(out, &info))
	if info.Error != "" {
		check(errors.New(info.Error))
	}
	return info.Dir
}

// copyTree copies the regular files of src to dst, writable.
func copyTree(src, dst string) {
	check(filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	}))
}

// addMmalloc makes the module at dir require mmalloc from root.
func addMmalloc(dir, root string) {
	f, err := os.OpenFile(filepath.Join(dir, "go.mod"), os.O_APPEND|os.O_WRONLY, 0)
	check(err)
	_, err = fmt.Fprintf(f, "\nrequire %s v0.0.0\n\nreplace %s => %s\n", mmallocModule, mmallocModule, root)
	check(err)
	check(f.Close())
}

func write(path, text string) { check(os.WriteFile(path, []byte(text), 0o644)) }

// goEnv is the environment of the go commands run in a copy: go.sum
// entries for mmalloc's own requirements are added as needed.
func goEnv(extra ...string) []string {
	return append(append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off"), extra...)
}

func prepareArrow(dir, root string, pkgs []string) {
	copyTree(download(arrowModule, arrowVersion), dir)
	addMmalloc(dir, root)
	mem := filepath.Join(dir, "arrow", "memory")
	write(filepath.Join(mem, "zz_mmalloc.go"), memoryFile)
	write(filepath.Join(mem, "zz_mmalloc_default.go"), defaultFile)
	write(filepath.Join(mem, "zz_mmalloc_goalloc.go"), goallocFile)
	// GoAllocator is GoAllocator's file's, save under mmalloc_goalloc.
	goalloc := filepath.Join(mem, "go_allocator.go")
	src, err := os.ReadFile(goalloc)
	check(err)
	write(goalloc, "//go:build !mmalloc_goalloc\n\n"+string(src))
	for _, p := range pkgs {
		// stdout only: with an empty module cache, go list reports its
		// downloads on stderr.
		cmd := exec.Command("go", "list", "-f", "{{.Name}}", "./"+p)
		cmd.Dir, cmd.Env, cmd.Stderr = dir, goEnv(), os.Stderr
		out, err := cmd.Output()
		check(err)
		name := strings.TrimSpace(string(out))
		write(filepath.Join(dir, p, "zz_mmalloc_main_test.go"), fmt.Sprintf(mainFile, name, p))
		checkDataTests(filepath.Join(dir, p), p)
	}
}

// checkDataTests stops the run if a test file of pkg reads external data
// and pkg has no entry in dataTests: a new version's tests are listed
// before they are skipped.
func checkDataTests(dir, pkg string) {
	files, _ := filepath.Glob(filepath.Join(dir, "*_test.go"))
	for _, f := range files {
		data, err := os.ReadFile(f)
		check(err)
		if dataMarkers.Match(data) && len(dataTests[pkg]) == 0 {
			check(fmt.Errorf("%s reads external test data, and dataTests does not list its tests", f))
		}
	}
}

// skipPattern is the -skip of a run: the data tests and the
// configuration's own skips, by name.
func skipPattern(more map[string][]string) string {
	var names []string
	for _, m := range []map[string][]string{dataTests, more} {
		for _, ts := range m {
			for _, t := range ts {
				names = append(names, regexp.QuoteMeta(t[:strings.Index(t, ":")]))
			}
		}
	}
	sort.Strings(names)
	return "^(" + strings.Join(names, "|") + ")$"
}

func cmdIn(dir string, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = goEnv()
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// counts is one package's results in one configuration.
type counts struct {
	pass, fail, skip int
	failed           []string          // failing tests
	tests            map[string]string // each test's last action: pass, fail, skip
	pkgFailed        bool
	report           *report
	output           []string // package-level output, for a crash
	elapsed          float64
}

// report is what the TestMain of a package prints after its tests.
type report struct {
	Allocs, Live, InUse  int64
	AllocatedBytes       int64
	BadFrees             int64
	FirstBadFree         string
	Corrupted            int64
	Guards               []string
	Sites                string
	HeapFallbacks        int64
	AllocatorDescription string
}

type event struct {
	Action, Package, Test, Output string
	ImportPath                    string // build events name the package here
	Elapsed                       float64
}

// goTestJSON runs go test -json in dir and returns the counts by package.
func goTestJSON(dir string, env []string, args ...string) (map[string]*counts, time.Duration) {
	start := time.Now()
	cmd := exec.Command("go", append([]string{"test", "-json"}, args...)...)
	cmd.Dir = dir
	cmd.Env = goEnv(env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	check(err)
	check(cmd.Start())
	res := parseEvents(out)
	_ = cmd.Wait() // failures are in the events
	setup := len(res) == 0
	for _, c := range res {
		setup = setup || c.pkgFailed && c.pass+c.fail+c.skip == 0
	}
	if setup { // a build or setup failure: go test says why on stderr
		fmt.Fprintf(os.Stderr, "upstream: go test %v:\n%s\n", args, lastLines(strings.Split(stderr.String(), "\n"), 40))
	}
	return res, time.Since(start)
}

func parseEvents(r io.Reader) map[string]*counts {
	res := map[string]*counts{}
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var e event
		if json.Unmarshal(sc.Bytes(), &e) != nil {
			continue
		}
		if e.Package == "" && e.Action == "build-output" && e.ImportPath != "" {
			e.Package = strings.TrimSuffix(e.ImportPath, ".test") // a build error: kept as package output
			e.Action = "output"
		}
		if e.Package == "" {
			continue
		}
		c := res[e.Package]
		if c == nil {
			c = &counts{}
			res[e.Package] = c
		}
		if e.Test == "" {
			switch e.Action {
			case "fail":
				c.pkgFailed = true
				c.elapsed = e.Elapsed
			case "pass":
				c.elapsed = e.Elapsed
			case "output":
				if strings.HasPrefix(e.Output, reportTag) {
					var rep report
					if json.Unmarshal([]byte(strings.TrimPrefix(e.Output, reportTag)), &rep) == nil {
						c.report = &rep
					}
				} else if len(c.output) < 400 {
					c.output = append(c.output, e.Output)
				}
			}
			continue
		}
		if e.Action == "pass" || e.Action == "fail" || e.Action == "skip" {
			if c.tests == nil {
				c.tests = map[string]string{}
			}
			c.tests[e.Test] = e.Action
		}
		switch e.Action {
		case "pass":
			c.pass++
		case "fail":
			c.fail++
			c.failed = append(c.failed, e.Test)
		case "skip":
			c.skip++
		case "output":
			if strings.HasPrefix(e.Output, reportTag) { // printed after the last test's events
				var rep report
				if json.Unmarshal([]byte(strings.TrimPrefix(e.Output, reportTag)), &rep) == nil {
					c.report = &rep
				}
			}
		}
	}
	return res
}

// readReports attaches the reports the TestMain functions wrote to dir.
func readReports(dir string, res map[string]*counts) {
	for pkg, c := range res {
		data, err := os.ReadFile(filepath.Join(dir, strings.ReplaceAll(strings.TrimPrefix(pkg, arrowModule+"/"), "/", "_")+".json"))
		if err != nil {
			continue
		}
		var rep report
		if json.Unmarshal(data, &rep) == nil {
			c.report = &rep
			if rep.Live > 0 {
				rep.Sites = leakSites(filepath.Join(dir, strings.ReplaceAll(strings.TrimPrefix(pkg, arrowModule+"/"), "/", "_")+".pb.gz"))
			}
		}
	}
}

// runArrow runs each configuration and prints the table; it reports
// whether the run failed.
func runArrow(dir string, pkgs, cfgs []string, goallocPkgs string) bool {
	fmt.Printf("== arrow-go %s: %s\n", arrowVersion, strings.Join(pkgs, " "))
	fmt.Println("skipped in every configuration (they need data files the module proxy does not serve):")
	for _, p := range pkgs {
		for _, t := range dataTests[p] {
			fmt.Printf("   %s %s\n", p, t)
		}
	}
	results := map[string]map[string]*counts{}
	for _, name := range cfgs {
		cfg, ok := configs[name]
		if !ok {
			check(fmt.Errorf("unknown configuration %q", name))
		}
		run := pkgs
		if name == "goalloc" && goallocPkgs != "" {
			run = strings.Split(goallocPkgs, ",")
		}
		for p, ts := range cfg.skips {
			for _, t := range ts {
				fmt.Printf("   skipped in %s only: %s %s\n", name, p, t)
			}
		}
		reports, err := os.MkdirTemp("", "mmalloc-reports-")
		check(err)
		args := []string{"-count=1", "-vet=off", "-timeout=30m", "-skip", skipPattern(cfg.skips)}
		if cfg.tags != "" {
			args = append(args, "-tags", cfg.tags)
		}
		for _, p := range run {
			args = append(args, "./"+p)
		}
		res, took := goTestJSON(dir, []string{"MMALLOC_REPORT_DIR=" + reports}, args...)
		fmt.Printf("   %s: go test %s (%s, with its build)\n", name, strings.Join(args, " "), took.Round(time.Second))
		readReports(reports, res)
		os.RemoveAll(reports)
		results[name] = res
	}
	return printArrow(pkgs, cfgs, results)
}

func printArrow(pkgs, cfgs []string, results map[string]map[string]*counts) bool {
	failed := false
	fmt.Printf("%-14s %-8s %7s %7s %7s %7s  %s\n", "package", "config", "run", "passed", "failed", "skipped", "mmalloc at the end")
	var total [4]int
	perCfg := map[string]*[3]int{}
	base := results["base"]
	for _, p := range pkgs {
		full := arrowModule + "/" + p
		for _, name := range cfgs {
			c := results[name][full]
			if c == nil {
				if name != "goalloc" || len(results[name]) == 0 {
					fmt.Printf("%-14s %-8s no result\n", p, name)
					if name != "goalloc" {
						failed = true
					}
				}
				continue
			}
			total[0] += c.pass + c.fail + c.skip
			total[1] += c.pass
			total[2] += c.fail
			total[3] += c.skip
			if perCfg[name] == nil {
				perCfg[name] = new([3]int)
			}
			perCfg[name][0] += c.pass
			perCfg[name][1] += c.fail
			perCfg[name][2] += c.skip
			fmt.Printf("%-14s %-8s %7d %7d %7d %7d  %s\n", p, name, c.pass+c.fail+c.skip, c.pass, c.fail, c.skip, describe(name, c))
			if c.pkgFailed && c.fail == 0 {
				fmt.Printf("   the test binary failed outside any test:\n   %s\n", strings.Join(lastLines(c.output, 20), "   "))
				failed = true
			}
			if name != "base" {
				if b := base[full]; b != nil && !sameSet(b.failed, c.failed) {
					fmt.Printf("   failures differ from base: base %v, %s %v\n", b.failed, name, c.failed)
					failed = true
				}
				if c.report == nil {
					fmt.Printf("   no mmalloc report from %s\n", name)
					failed = true
				} else if c.report.BadFrees > 0 {
					fmt.Printf("   %d bad frees, the first: %s\n", c.report.BadFrees, c.report.FirstBadFree)
					failed = true
				}
			}
			if r := c.report; r != nil && r.Live > 0 && r.Sites != "" {
				fmt.Printf("   still live at the end, never released:\n%s", indent(r.Sites, "      "))
			}
		}
	}
	for _, name := range cfgs {
		if t := perCfg[name]; t != nil {
			fmt.Printf("   %s: %d passed, %d failed, %d skipped\n", name, t[0], t[1], t[2])
		}
	}
	fmt.Printf("arrow: %d passed, %d failed, %d skipped\n", total[1], total[2], total[3])
	return failed
}

func describe(cfg string, c *counts) string {
	if cfg == "base" {
		return "(GoAllocator)"
	}
	r := c.report
	if r == nil {
		return "no report"
	}
	return fmt.Sprintf("%d allocations, %d live (%d B), %d bad frees", r.Allocs, r.Live, r.InUse, r.BadFrees)
}

func indent(s, pre string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		b.WriteString(pre + l + "\n")
	}
	return b.String()
}

func lastLines(lines []string, n int) []string {
	if len(lines) > n {
		return lines[len(lines)-n:]
	}
	return lines
}

func sameSet(a, b []string) bool {
	x, y := append([]string(nil), a...), append([]string(nil), b...)
	sort.Strings(x)
	sort.Strings(y)
	return strings.Join(x, "\n") == strings.Join(y, "\n")
}

// runParquet runs parquet-go's buffer pool tests on its own pools and on
// parquetmem's: its buffer_pool_test.go, copied unchanged from the module
// cache into a module of its own that requires parquet-go, beside a test
// file that calls the same testBufferPool and testBufferPoolStress on
// parquetmem. (Copying the whole module would compile every other test
// of parquet-go too, minutes for nothing.)
func runParquet(dir, root string) bool {
	fmt.Printf("== parquet-go %s: its buffer pool tests (testBufferPool, testBufferPoolStress)\n", parquetVer)
	check(os.MkdirAll(dir, 0o755))
	src, err := os.ReadFile(filepath.Join(download(parquetModule, parquetVer), "buffer_pool_test.go"))
	check(err)
	write(filepath.Join(dir, "buffer_pool_test.go"), string(src))
	write(filepath.Join(dir, "go.mod"), fmt.Sprintf("module example.com/parquetpools\n\ngo 1.26.0\n\nrequire %s %s\n", parquetModule, parquetVer))
	addMmalloc(dir, root)
	write(filepath.Join(dir, "zz_mmalloc_pool_test.go"), parquetFile)
	const run = "^Test(Chunk|File|Mmalloc)?BufferPool(Stress|Live)?$"
	res, took := goTestJSON(dir, nil, "-count=1", "-vet=off", "-run", run, ".")
	fmt.Printf("   go test -run '%s' . (%s, with its build)\n", run, took.Round(time.Second))
	c := res["example.com/parquetpools"]
	if c == nil {
		fmt.Println("   no result")
		return true
	}
	// Split the counts: parquet-go's own pools, and parquetmem's.
	var rows [2][3]int
	for test, action := range c.tests {
		i := 0
		if strings.HasPrefix(test, "TestMmalloc") {
			i = 1
		}
		rows[i][map[string]int{"pass": 0, "fail": 1, "skip": 2}[action]]++
	}
	fmt.Printf("%-34s %7s %7s %7s\n", "pools", "passed", "failed", "skipped")
	for i, name := range []string{"parquet-go's (memory, chunk, file)", "parquetmem"} {
		fmt.Printf("%-34s %7d %7d %7d\n", name, rows[i][0], rows[i][1], rows[i][2])
	}
	failed := c.fail > 0 || c.pkgFailed
	if c.report == nil {
		fmt.Println("   no mmalloc report")
		failed = true
	} else {
		fmt.Printf("   parquetmem: %d allocations, %d live at the end (%d B)\n", c.report.Allocs, c.report.Live, c.report.InUse)
		failed = failed || c.report.Live != 0
	}
	if c.fail > 0 {
		fmt.Printf("   failed: %v\n", c.failed)
	}
	fmt.Printf("parquet: %d passed, %d failed, %d skipped\n", c.pass, c.fail, c.skip)
	return failed
}
