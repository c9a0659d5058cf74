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

// cRefSource is the C program. Its first argument names the workload:
// "pair" (malloc, a write to every page, free, like pairLoop) or "batch"
// (batchCount of those mallocs, then every free, like runBatch). For each
// size on its command line it calibrates the loop, then prints one line
// per timed run: "size iterations ns_per_op", where an op is one buffer's
// malloc and free. -fno-builtin-malloc/-free keep the compiler from
// eliding the calls.
const cRefSource = `#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BATCH 10000

static volatile unsigned char sink;
static unsigned char *held[BATCH];

static double now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static unsigned char *get(size_t size) {
	unsigned char *p = malloc(size);
	if (p == NULL) {
		fprintf(stderr, "malloc(%zu) failed\n", size);
		exit(1);
	}
	for (size_t j = 0; j < size; j += 4096)
		p[j] = (unsigned char)j;
	p[size - 1] = 1;
	return p;
}

/* n iterations of the workload; returns the elapsed ns. */
static double loop(int batch, size_t size, long n) {
	double t = now_ns();
	for (long i = 0; i < n; i++) {
		if (!batch) {
			unsigned char *p = get(size);
			sink = p[0];
			free(p);
			continue;
		}
		for (int k = 0; k < BATCH; k++)
			held[k] = get(size);
		for (int k = 0; k < BATCH; k++)
			free(held[k]);
	}
	return now_ns() - t;
}

int main(int argc, char **argv) {
	if (argc < 5 || (strcmp(argv[1], "pair") != 0 && strcmp(argv[1], "batch") != 0)) {
		fprintf(stderr, "usage: cref pair|batch runs target_ns size...\n");
		return 2;
	}
	int batch = strcmp(argv[1], "batch") == 0;
	long ops = batch ? BATCH : 1;
	int runs = atoi(argv[2]);
	double target = atof(argv[3]);
	for (int a = 4; a < argc; a++) {
		size_t size = (size_t)atol(argv[a]);
		long n = 1;
		double el;
		for (;;) {
			el = loop(batch, size, n);
			if (el >= target / 5)
				break;
			double next = 1.2 * (target / 5) / (el / n + 1e-3);
			n = next > 100.0 * n ? 100 * n : (long)next > n ? (long)next : n + 1;
		}
		n = (long)(n * target / el) + 1;
		for (int r = 0; r < runs; r++)
			printf("%zu %ld %.4f\n", size, n * ops, loop(batch, size, n) / (double)(n * ops));
	}
	return 0;
}
`

// runCReference compiles and runs the C reference of workload ("pair" or
// "batch") with the system cc. It returns one result per size, or a note
// saying why it did not run.
func runCReference(env *Env, workload string, sizes []int) ([]*Result, string) {
	cc, err := exec.LookPath("cc")
	if err != nil {
		return nil, cRefName + ": skipped; no C compiler (cc) on PATH"
	}
	env.Progress.Set(workload, "", cRefName, "compiling")
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
	args := []string{workload, strconv.Itoa(env.Runs), strconv.FormatInt(env.Time.Nanoseconds(), 10)}
	for _, s := range sizes {
		args = append(args, strconv.Itoa(s))
	}
	env.Progress.Set(workload, "", cRefName, "running")
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
	results, err := parseCReference(workload, stdout)
	if err != nil {
		return nil, fmt.Sprintf("%s: skipped; %v", cRefName, err)
	}
	return results, cRefName + ": libc malloc + a write per page + free, compiled with cc -O2 and run natively as a separate process (reference row, no cgo)"
}

// parseCReference turns the C program's "size ops ns_per_op" lines into
// results of workload.
func parseCReference(workload string, out []byte) ([]*Result, error) {
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
			r = &Result{Workload: workload, Case: sizeCase(size), Alloc: cRefName, Reference: true}
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
