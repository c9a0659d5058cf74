// The guard run: each arrow package's tests under mmalloc's guard mode,
// one top-level test per process, and what guard mode finds.

package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"
)

// finding is one thing guard mode reported in one test.
type finding struct {
	pkg, test, kind string
	detail          []string
}

// guardResult is one top-level test's run.
type guardResult struct {
	test     string
	passed   bool
	findings []finding
}

var (
	faultRe = regexp.MustCompile(`unexpected fault address|signal SIGSEGV|fatal error: fault`)
	failRe  = regexp.MustCompile(`^\s*--- FAIL: (\S+)`)
)

// runGuard compiles each package's tests with the tag mmalloc and runs
// every top-level test in a process of its own under guard mode; it
// writes the findings to results (and prints them). It reports whether
// the harness itself failed (a build).
func runGuard(dir string, pkgs []string, results string) bool {
	start := time.Now()
	fmt.Println("== guard mode: every top-level test in a process of its own")
	var all []finding
	var summary []string
	failed := false
	// Under mmalloc_goalloc both DefaultAllocator and every GoAllocator
	// the tests make take their memory from the guarded allocator.
	cfg := configs["goalloc"]
	skip := map[string]bool{}
	for _, m := range []map[string][]string{dataTests, cfg.skips} {
		for _, ts := range m {
			for _, t := range ts {
				skip[t[:strings.Index(t, ":")]] = true
			}
		}
	}
	for _, p := range pkgs {
		pdir := filepath.Join(dir, p)
		bin := filepath.Join(dir, strings.ReplaceAll(p, "/", "_")+".test")
		if out, err := cmdIn(pdir, "go", "test", "-c", "-vet=off", "-tags", cfg.tags, "-o", bin, "."); err != nil {
			fmt.Printf("%s: build failed:\n%s\n", p, out)
			failed = true
			continue
		}
		list, err := exec.Command(bin, "-test.list", ".").Output()
		check(err)
		var tests []string
		for _, name := range strings.Fields(string(list)) {
			if strings.HasPrefix(name, "Test") || strings.HasPrefix(name, "Example") {
				if !skip[name] {
					tests = append(tests, name)
				}
			}
		}
		res := make([]guardResult, len(tests))
		var wg sync.WaitGroup
		sem := make(chan struct{}, 2) // two cores
		for i, name := range tests {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				res[i] = runOneGuarded(bin, pdir, p, name)
			}()
		}
		wg.Wait()
		passed := 0
		for _, r := range res {
			if r.passed {
				passed++
			}
			all = append(all, r.findings...)
		}
		line := fmt.Sprintf("%-14s %4d top-level tests, %4d passed, %4d with findings", p, len(tests), passed, countTests(res))
		fmt.Println(line)
		summary = append(summary, line)
	}
	text := formatFindings(all, summary, time.Since(start))
	fmt.Print(text)
	if results != "" {
		check(os.WriteFile(results, []byte(text), 0o644))
	}
	return failed
}

func countTests(res []guardResult) int {
	n := 0
	for _, r := range res {
		if len(r.findings) > 0 {
			n++
		}
	}
	return n
}

// runOneGuarded runs one top-level test under guard mode and reads what
// it reported: a fault, a failure, a panic, the guards' corruptions and
// bad frees from the TestMain's report.
func runOneGuarded(bin, dir, pkg, name string) guardResult {
	reports, err := os.MkdirTemp("", "mmalloc-guard-")
	check(err)
	defer os.RemoveAll(reports)
	cmd := exec.Command(bin, "-test.run", "^"+regexp.QuoteMeta(name)+"$", "-test.v", "-test.count=1", "-test.timeout=10m")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "ARROWMEM_GUARD=1", "GOTRACEBACK=all", "MMALLOC_REPORT_DIR="+reports)
	out, err := cmd.CombinedOutput()
	text := string(out)
	r := guardResult{test: name, passed: err == nil}
	add := func(kind string, detail []string) {
		r.findings = append(r.findings, finding{pkg: pkg, test: name, kind: kind, detail: detail})
	}
	lines := strings.Split(text, "\n")
	switch {
	case faultRe.MatchString(text):
		add("fault (use after free or overflow of a large buffer)", crashDetail(lines))
	case strings.Contains(text, "\npanic: ") || strings.HasPrefix(text, "panic: "):
		add("panic", crashDetail(lines))
	}
	for _, l := range lines {
		if failRe.MatchString(l) && len(r.findings) == 0 { // a fault or panic says more
			add("fails only under guard mode (a read of freed memory, or a canary hit)", failureDetail(lines))
			break
		}
	}
	if data, err := os.ReadFile(filepath.Join(reports, strings.ReplaceAll(pkg, "/", "_")+".json")); err == nil {
		{
			var rep report
			if json.Unmarshal(data, &rep) == nil {
				if len(rep.Guards) > 0 {
					add("corruption found by the guards (write after free, or past the end)", rep.Guards)
				}
				if rep.BadFrees > 0 {
					add("bad free", []string{rep.FirstBadFree})
				}
			}
		}
	}
	if err != nil && len(r.findings) == 0 {
		add("failed", lastLines(lines, 15))
	}
	return r
}

// crashDetail returns the fault's lines and the stack of the goroutine
// that faulted or panicked: the first goroutine block of the traceback.
func crashDetail(lines []string) []string {
	var out []string
	for i, l := range lines {
		if faultRe.MatchString(l) || strings.HasPrefix(l, "panic: ") || strings.HasPrefix(l, "[signal") {
			out = append(out, l)
		}
		if strings.HasPrefix(l, "goroutine ") && strings.Contains(l, "[running]") {
			end := min(len(lines), i+41)
			for _, s := range lines[i:end] {
				if s == "" {
					break
				}
				out = append(out, s)
			}
			break
		}
	}
	return out
}

// failureDetail returns what the failing test said: its failing
// subtests and testify's error lines with the message after each, up to
// 24 lines.
func failureDetail(lines []string) []string {
	var out []string
	seen := map[string]bool{}
	for i, l := range lines {
		t := strings.TrimSpace(l)
		keep := strings.HasPrefix(t, "--- FAIL") || strings.HasPrefix(t, "Error Trace:") || strings.HasPrefix(t, "Error:") ||
			strings.HasPrefix(t, "Messages:") || strings.HasPrefix(t, "panic:")
		if !keep || seen[t] {
			continue
		}
		seen[t] = true
		out = append(out, t)
		// testify continues a message on the lines after it, indented.
		for _, next := range lines[i+1 : min(len(lines), i+4)] {
			n := strings.TrimSpace(next)
			if n == "" || strings.Contains(n, ":\t") || strings.HasPrefix(n, "---") || strings.HasPrefix(n, "===") || strings.HasSuffix(n, ":") {
				break
			}
			if !seen[n] {
				seen[n] = true
				out = append(out, "    "+n)
			}
		}
		if len(out) >= 24 {
			break
		}
	}
	return out
}

func formatFindings(all []finding, summary []string, took time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "== guard mode: arrow-go %s under mmalloc's guard mode (ARROWMEM_GUARD=1; build tag mmalloc_goalloc: GoAllocator and so DefaultAllocator on arrowmem),\n", arrowVersion)
	fmt.Fprintf(&b, "   one top-level test per process (%s, builds included)\n   %s\n", took.Round(time.Second), machine())
	b.WriteString("   skipped: the tests that read external data (see README.md)\n")
	for _, s := range summary {
		b.WriteString(s + "\n")
	}
	sort.SliceStable(all, func(i, j int) bool {
		if all[i].pkg != all[j].pkg {
			return all[i].pkg < all[j].pkg
		}
		return all[i].test < all[j].test
	})
	fmt.Fprintf(&b, "findings: %d\n", len(all))
	for _, f := range all {
		fmt.Fprintf(&b, "\n-- %s %s: %s\n", f.pkg, f.test, f.kind)
		for _, d := range f.detail {
			fmt.Fprintf(&b, "   %s\n", d)
		}
	}
	return b.String()
}
