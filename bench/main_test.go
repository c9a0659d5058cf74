package main

import (
	"bytes"
	"image/png"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestWholeProgram runs every workload with every allocator once, briefly,
// so that the program cannot rot: every table must come out, with a row
// for each allocator that runs it.
func TestWholeProgram(t *testing.T) {
	if testing.Short() {
		t.Skip("whole program: a few seconds")
	}
	svg := filepath.Join(t.TempDir(), "out.svg")
	pngPath := filepath.Join(t.TempDir(), "out.png")
	var out, errb bytes.Buffer
	status := run([]string{"-runs", "1", "-time", "2ms", "-q", "-svg", svg, "-png", pngPath}, &out, &errb)
	require.Equal(t, exitOK, status, "stderr: %s", errb.String())
	assert.Empty(t, errb.String(), "-q: nothing on stderr")
	s := out.String()
	for _, w := range workloads {
		if w.OptIn {
			assert.NotContains(t, s, "== "+w.Name+": ", "opt-in workloads run only when named")
			continue
		}
		assert.Contains(t, s, "== "+w.Name+": ")
	}
	for _, k := range kinds {
		if k.OptIn {
			assert.NotContains(t, s, k.Name, "opt-in kinds run only when named")
			continue
		}
		assert.Contains(t, s, k.Name)
	}
	// No allocator failed on the way.
	for _, line := range strings.Split(s, "\n") {
		for _, bad := range []string{": New:", ": setup:", ": run:", ": calibrate:", ": cleanup:", ": Close:"} {
			assert.NotContains(t, line, bad)
		}
	}
	assert.Equal(t, 1, strings.Count(s, "== summary"), "one summary, once")
	assert.Contains(t, s, "total wall time")
	assert.Regexp(t, `(?m)^commit: \S+$`, s)
	b, err := os.ReadFile(svg)
	require.NoError(t, err)
	assert.Contains(t, string(b), "<svg")
	f, err := os.Open(pngPath)
	require.NoError(t, err)
	defer f.Close()
	_, err = png.Decode(f)
	assert.NoError(t, err, "the program writes the PNG itself")
}

// TestNewWorkloadsProgram runs prodcons, larson and liveset with every
// kind that frees one object, briefly: throughput on every row, the
// ratio to the Go heap on the zeroed ones, and liveset's sizes from -live.
func TestNewWorkloadsProgram(t *testing.T) {
	var out, errb bytes.Buffer
	status := run([]string{"-workload", "prodcons,larson,liveset", "-alloc", "all,mmalloc-cache-zeroed", "-live", "1k,3k",
		"-runs", "1", "-time", "1ms", "-q"}, &out, &errb)
	require.Equal(t, exitOK, status, "stderr: %s", errb.String())
	s := out.String()
	for _, c := range []string{"size=8B-128B", "size=1KiB-8KiB", "size=16B-128B", "size=16B-8KiB", "live=1k", "live=3k"} {
		assert.Regexp(t, `(?m)^`+regexp.QuoteMeta(c)+`\s+mmalloc\s`, s, c)
	}
	assert.NotContains(t, s, "live=1M", "-live decides the live sets")
	for _, line := range strings.Split(s, "\n") {
		for _, bad := range []string{": New:", ": setup:", ": run:", ": calibrate:", ": cleanup:", ": Close:"} {
			assert.NotContains(t, line, bad)
		}
	}
	// Zeroed rows carry the throughput ratio to the Go heap (the Go heap
	// itself ×1.00); rows that do not zero carry throughput alone.
	assert.Regexp(t, `(?m)^\s+go-heap\s.*\s×1\.00$`, s)
	assert.Regexp(t, `(?m)^\s+mmalloc-cache-zeroed\s.*[0-9.]+[kM]?\s+×[0-9.]+$`, s)
	assert.Regexp(t, `(?m)^\s+mmalloc-uninit\s.*\s[0-9.]+[kM]?\s*$`, s)
	assert.Contains(t, s, "modernc, modernc-calloc: not goroutine-safe")
	assert.Regexp(t, `(?m)^liveset\s+(leads most|closest)\s`, s)
}

// TestGobenchProgram checks that -format=gobench prints nothing but
// benchstat's input.
func TestGobenchProgram(t *testing.T) {
	var out, errb bytes.Buffer
	status := run([]string{"-runs", "2", "-time", "1ms", "-workload", "pair,batch", "-alloc", "mmalloc,go-heap",
		"-format", "gobench"}, &out, &errb)
	require.Equal(t, exitOK, status, "stderr: %s", errb.String())
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Greater(t, len(lines), 5)
	assert.Equal(t, "profile-rate: 0", lines[4], "a configuration line benchstat can compare by")
	for _, l := range lines[5:] {
		assert.Regexp(t, gobenchLine, l)
	}
	assert.Len(t, lines[5:], 2*2*(len(pairSizes)+len(batchSizes)))
}
