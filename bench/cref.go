// The C reference: libc malloc+free measured natively, as a yardstick.

package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// cRefName is the reference row's name in tables and -alloc.
const cRefName = "c-malloc"

// cRefSource is the C program: for each size on its command line it
// calibrates a loop of malloc, a write to every page, free, like pairLoop,
// then prints one line per timed run: "size iterations ns_per_op".
// -fno-builtin-malloc/-free keep the compiler from eliding the pair.
const cRefSource = `#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static volatile unsigned char sink;

static double now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static double loop(size_t size, long n) {
	double t = now_ns();
	for (long i = 0; i < n; i++) {
		unsigned char *p = malloc(size);
		if (p == NULL) {
			fprintf(stderr, "malloc(%zu) failed\n", size);
			exit(1);
		}
		for (size_t j = 0; j < size; j += 4096)
			p[j] = (unsigned char)j;
		p[size - 1] = 1;
		sink = p[0];
		free(p);
	}
	return now_ns() - t;
}

int main(int argc, char **argv) {
	if (argc < 4) {
		fprintf(stderr, "usage: cref runs target_ns size...\n");
		return 2;
	}
	int runs = atoi(argv[1]);
	double target = atof(argv[2]);
	for (int a = 3; a < argc; a++) {
		size_t size = (size_t)atol(argv[a]);
		long n = 1;
		double el;
		for (;;) {
			el = loop(size, n);
			if (el >= target / 5)
				break;
			double next = 1.2 * (target / 5) / (el / n + 1e-3);
			n = next > 100.0 * n ? 100 * n : (long)next > n ? (long)next : n + 1;
		}
		n = (long)(n * target / el) + 1;
		for (int r = 0; r < runs; r++)
			printf("%zu %ld %.4f\n", size, n, loop(size, n) / n);
	}
	return 0;
}
`

// runCReference compiles and runs the C reference with the system cc. It
// returns one result per size, or a note saying why it did not run.
func runCReference(env *Env, sizes []int) ([]*Result, string) {
	cc, err := exec.LookPath("cc")
	if err != nil {
		return nil, cRefName + ": skipped; no C compiler (cc) on PATH"
	}
	env.Progress.Set("pair", "", cRefName, "compiling")
	dir, err := os.MkdirTemp("", "mmalloc-bench-cref-")
	if err != nil {
		return nil, fmt.Sprintf("%s: skipped; %v", cRefName, err)
	}
	defer os.RemoveAll(dir)
	src, bin := filepath.Join(dir, "cref.c"), filepath.Join(dir, "cref")
	if err := os.WriteFile(src, []byte(cRefSource), 0o644); err != nil {
		return nil, fmt.Sprintf("%s: skipped; %v", cRefName, err)
	}
	out, err := exec.Command(cc, "-O2", "-fno-builtin-malloc", "-fno-builtin-free", "-o", bin, src).CombinedOutput()
	if err != nil {
		return nil, fmt.Sprintf("%s: skipped; cc failed: %v: %s", cRefName, err, bytes.TrimSpace(out))
	}
	args := []string{strconv.Itoa(env.Runs), strconv.FormatInt(env.Time.Nanoseconds(), 10)}
	for _, s := range sizes {
		args = append(args, strconv.Itoa(s))
	}
	env.Progress.Set("pair", "", cRefName, "running")
	// Generous bound: calibration plus runs, per size, with slack.
	limit := time.Duration(len(sizes)*(env.Runs+2))*env.Time*4 + 30*time.Second
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	if err != nil {
		return nil, fmt.Sprintf("%s: skipped; run failed: %v: %s", cRefName, err, bytes.TrimSpace(stderr.Bytes()))
	}
	results, err := parseCReference(stdout)
	if err != nil {
		return nil, fmt.Sprintf("%s: skipped; %v", cRefName, err)
	}
	return results, cRefName + ": libc malloc + a write per page + free, compiled with cc -O2 and run natively as a separate process (reference row, no cgo)"
}

// parseCReference turns the C program's "size iterations ns_per_op" lines
// into pair results.
func parseCReference(out []byte) ([]*Result, error) {
	var results []*Result
	bySize := map[int]*Result{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 {
			return nil, fmt.Errorf("bad reference line %q", sc.Text())
		}
		size, err1 := strconv.Atoi(f[0])
		iters, err2 := strconv.ParseInt(f[1], 10, 64)
		ns, err3 := strconv.ParseFloat(f[2], 64)
		if err1 != nil || err2 != nil || err3 != nil || iters <= 0 {
			return nil, fmt.Errorf("bad reference line %q", sc.Text())
		}
		r := bySize[size]
		if r == nil {
			r = &Result{Workload: "pair", Case: sizeCase(size), Alloc: cRefName, Reference: true}
			bySize[size] = r
			results = append(results, r)
		}
		r.Runs = append(r.Runs, Run{Iters: iters, Ops: iters, Elapsed: time.Duration(ns * float64(iters))})
	}
	if len(results) == 0 {
		return nil, fmt.Errorf("reference printed nothing")
	}
	return results, sc.Err()
}
