package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mmalloc/mmalloc"
)

func TestParseArgsDefaults(t *testing.T) {
	cfg, err := parseArgs(nil, &bytes.Buffer{})
	require.NoError(t, err)
	var ws []string
	for _, w := range cfg.Workloads {
		ws = append(ws, w.Name)
		assert.False(t, w.OptIn, w.Name)
	}
	assert.Equal(t, []string{"pair", "batch", "parallel", "churn", "gc", "rss", "buffer", "prodcons", "larson"}, ws,
		"every workload but the opt-in liveset")
	optIn := 0
	for _, k := range kinds {
		if k.OptIn {
			optIn++
		}
	}
	assert.Len(t, cfg.Kinds, len(kinds)-optIn, "every kind but the opt-in ones")
	assert.True(t, cfg.CRef)
	assert.Equal(t, defaultRuns, cfg.Runs)
	assert.Equal(t, defaultTime, cfg.Time)
	assert.Equal(t, "table", cfg.Format)
	assert.Empty(t, cfg.SVG)
	assert.Empty(t, cfg.PNG)
	assert.Equal(t, []int{1_000, 100_000, 1_000_000, 10_000_000}, cfg.Live)
	assert.Zero(t, cfg.ProfileRate, "mmalloc's default rate")
}

func TestParseArgsLists(t *testing.T) {
	cfg, err := parseArgs([]string{"-workload", "gc, pair,gc", "-alloc", "go-heap,mmalloc", "-runs", "3",
		"-time", "7ms", "-cpu", "1", "-q", "-format", "gobench", "-svg", "x.svg", "-png", "x.png", "-live", "2k, 5,2k"}, &bytes.Buffer{})
	require.NoError(t, err)
	var ws, ks []string
	for _, w := range cfg.Workloads {
		ws = append(ws, w.Name)
	}
	for _, k := range cfg.Kinds {
		ks = append(ks, k.Name)
	}
	assert.Equal(t, []string{"gc", "pair"}, ws, "order kept, duplicates dropped")
	assert.Equal(t, []string{"go-heap", "mmalloc"}, ks)
	assert.False(t, cfg.CRef)
	assert.Equal(t, 3, cfg.Runs)
	assert.Equal(t, 7*time.Millisecond, cfg.Time)
	assert.Equal(t, 1, cfg.Procs)
	assert.True(t, cfg.Quiet)
	assert.Equal(t, "gobench", cfg.Format)
	assert.Equal(t, "x.svg", cfg.SVG)
	assert.Equal(t, "x.png", cfg.PNG)
	assert.Equal(t, []int{2000, 5}, cfg.Live)

	cfg, err = parseArgs([]string{"-workload", "pair,all,liveset", "-alloc", "all,mmalloc-guard,mmalloc"}, &bytes.Buffer{})
	require.NoError(t, err)
	ws = nil
	for _, w := range cfg.Workloads {
		ws = append(ws, w.Name)
	}
	assert.Equal(t, append(defaultWorkloadNames(), "liveset"), ws, "all in place, opt-in names added, no repeats")
	require.NotEmpty(t, cfg.Kinds)
	assert.Equal(t, "mmalloc-guard", cfg.Kinds[len(cfg.Kinds)-1].Name)
	assert.True(t, cfg.CRef)
}

func TestParseArgsReferenceOnly(t *testing.T) {
	cfg, err := parseArgs([]string{"-alloc", cRefName, "-workload", "pair"}, &bytes.Buffer{})
	require.NoError(t, err)
	assert.True(t, cfg.CRef)
	assert.Empty(t, cfg.Kinds)
}

func TestParseArgsErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want []string // substrings of the message
	}{
		{"unknown workload", []string{"-workload", "pair,nope"}, append([]string{`"nope"`, "valid workloads"}, workloadNames()...)},
		{"unknown allocator", []string{"-alloc", "jemalloc"}, append([]string{`"jemalloc"`, "valid allocators"}, allocNames()...)},
		{"empty workload list", []string{"-workload", ","}, []string{"empty name"}},
		{"empty workload name", []string{"-workload", "pair,,batch"}, []string{"-workload", `"pair,,batch"`, "empty name"}},
		{"trailing comma", []string{"-workload", "pair,"}, []string{"empty name"}},
		{"blank workload", []string{"-workload", " "}, []string{"empty name"}},
		{"empty allocator name", []string{"-alloc", "mmalloc, ,go-heap"}, []string{"-alloc", "empty name"}},
		{"empty live size", []string{"-live", "1k,,2k"}, []string{"-live", "empty name"}},
		{"bad live size", []string{"-live", "1G"}, []string{"-live", `"1G"`}},
		{"zero live size", []string{"-live", "0"}, []string{"-live"}},
		{"same chart file", []string{"-svg", "a", "-png", "a"}, []string{"same file"}},
		{"profile over a chart", []string{"-png", "a", "-cpuprofile", "a"}, []string{"-cpuprofile", "same file"}},
		{"zero runs", []string{"-runs", "0"}, []string{"-runs"}},
		{"negative time", []string{"-time", "-1s"}, []string{"-time"}},
		{"zero cpu", []string{"-cpu", "0"}, []string{"-cpu"}},
		{"bad format", []string{"-format", "json"}, []string{"table, gobench"}},
		{"bad flag", []string{"-nope"}, []string{"nope"}},
		{"stray argument", []string{"pair"}, []string{"unexpected"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseArgs(tt.args, &bytes.Buffer{})
			var ue *usageError
			require.ErrorAs(t, err, &ue)
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestParseArgsHelp(t *testing.T) {
	var out bytes.Buffer
	_, err := parseArgs([]string{"-h"}, &out)
	assert.True(t, errors.Is(err, flag.ErrHelp))
	assert.Contains(t, out.String(), "-workload")
	assert.Contains(t, out.String(), "go-arena")
}

func TestRunExitStatus(t *testing.T) {
	var out, errb bytes.Buffer
	assert.Equal(t, exitUsage, run([]string{"-workload", "nope"}, &out, &errb))
	assert.Contains(t, errb.String(), "valid workloads: pair, batch, parallel, churn, gc, rss")
	assert.Empty(t, out.String())
	errb.Reset()
	assert.Equal(t, exitUsage, run([]string{"-alloc", "nope"}, &out, &errb))
	assert.Contains(t, errb.String(), "valid allocators: mmalloc, mmalloc-uninit, mmalloc-guard, mmalloc-cache, mmalloc-cache-zeroed, go-heap, sync.Pool, modernc, modernc-calloc")
	assert.Equal(t, exitOK, run([]string{"-h"}, &out, &errb))
}

// TestRunRefusesEmptyNames: an empty name in a list is a usage error, as
// an unknown one is, and nothing runs.
func TestRunRefusesEmptyNames(t *testing.T) {
	// Quick settings, so that a regression fails fast instead of running
	// the default workload.
	quick := []string{"-runs", "1", "-time", "1ms", "-q"}
	for _, args := range [][]string{
		{"-workload", "pair,,batch", "-alloc", "mmalloc"},
		{"-workload", "", "-alloc", "mmalloc"},
		{"-workload", "pair", "-alloc", "mmalloc,,go-heap"},
		{"-workload", "liveset", "-live", ",1k", "-alloc", "mmalloc"},
	} {
		args = append(args, quick...)
		var out, errb bytes.Buffer
		assert.Equal(t, exitUsage, run(args, &out, &errb), "%q", args)
		assert.Contains(t, errb.String(), "empty name", "%q", args)
		assert.Empty(t, out.String(), "%q: nothing measured", args)
	}
}

// TestRunChecksOutputsFirst: a chart file that cannot be written fails
// before anything is measured, with exit status 2, and leaves no file
// behind and no existing file changed.
func TestRunChecksOutputsFirst(t *testing.T) {
	dir := t.TempDir()
	existing := filepath.Join(dir, "old.svg")
	require.NoError(t, os.WriteFile(existing, []byte("old chart"), 0o644))
	fresh := filepath.Join(dir, "new.svg")
	notDir := filepath.Join(existing, "x.png") // a path under a regular file
	for _, tt := range []struct {
		name string
		args []string
		flag string
	}{
		{"png under a file", []string{"-svg", fresh, "-png", notDir}, "-png"},
		{"png is a directory", []string{"-png", dir}, "-png"},
		{"svg is a directory", []string{"-svg", dir, "-png", filepath.Join(dir, "new.png")}, "-svg"},
		{"svg exists, png cannot be", []string{"-svg", existing, "-png", notDir}, "-png"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			args := append([]string{"-workload", "pair", "-alloc", "mmalloc", "-runs", "1", "-time", "1ms", "-q"}, tt.args...)
			assert.Equal(t, exitUsage, run(args, &out, &errb))
			assert.Contains(t, errb.String(), "bench: "+tt.flag+": ")
			assert.Empty(t, out.String(), "nothing measured")
			assert.NoFileExists(t, fresh, "a file the failed run created is gone")
			assert.NoFileExists(t, filepath.Join(dir, "new.png"))
			b, err := os.ReadFile(existing)
			require.NoError(t, err)
			assert.Equal(t, "old chart", string(b), "an existing file is not truncated by a run that does not start")
		})
	}
}

// TestRunCPUProfile: -cpuprofile writes a CPU profile of the run (gzipped,
// as pprof writes them), and a file that cannot be written fails before
// anything is measured, with exit status 2.
func TestRunCPUProfile(t *testing.T) {
	dir := t.TempDir()
	args := []string{"-workload", "pair", "-alloc", "mmalloc", "-runs", "1", "-time", "1ms", "-q"}
	var out, errb bytes.Buffer
	assert.Equal(t, exitUsage, run(append(args, "-cpuprofile", dir), &out, &errb))
	assert.Contains(t, errb.String(), "bench: -cpuprofile: ")
	assert.Empty(t, out.String(), "nothing measured")

	out.Reset()
	errb.Reset()
	prof := filepath.Join(dir, "cpu.pprof")
	require.Equal(t, exitOK, run(append(args, "-cpuprofile", prof), &out, &errb), errb.String())
	assert.Contains(t, out.String(), "== pair")
	b, err := os.ReadFile(prof)
	require.NoError(t, err)
	require.Greater(t, len(b), 2)
	assert.Equal(t, []byte{0x1f, 0x8b}, b[:2], "a gzipped profile")
}

func TestParseCount(t *testing.T) {
	for in, want := range map[string]int{"1": 1, "1000": 1000, "1k": 1000, "100K": 100_000, "1M": 1_000_000, "10m": 10_000_000} {
		n, err := parseCount(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, n, in)
	}
	for _, in := range []string{"", "k", "0", "-1", "1G", "1.5k", "99999M"} {
		_, err := parseCount(in)
		assert.Error(t, err, in)
	}
}

func TestOptInKindsOnlyWhenNamed(t *testing.T) {
	var out bytes.Buffer
	cfg, err := parseArgs([]string{"-alloc", "all"}, &out)
	require.NoError(t, err)
	for _, k := range cfg.Kinds {
		assert.False(t, k.OptIn, k.Name)
	}
	cfg, err = parseArgs([]string{"-alloc", "mmalloc,mmalloc-guard"}, &out)
	require.NoError(t, err)
	require.Len(t, cfg.Kinds, 2)
	assert.Equal(t, "mmalloc-guard", cfg.Kinds[1].Name)
}

// servedRate returns the ProfileRate mmalloc's handler reports for a,
// published under name.
func servedRate(t *testing.T, a *mmalloc.Allocator, name string) string {
	t.Helper()
	require.NoError(t, a.PublishProfile(name))
	w := httptest.NewRecorder()
	mmalloc.ServeHeapProfile(w, httptest.NewRequest("GET", "/?debug=1&name="+name, nil))
	require.Equal(t, 200, w.Code)
	return w.Body.String()
}

// TestProfileRateFlag: -profile-rate reaches every mmalloc allocator the
// program makes, the zeroed and uninitialised ones and the Caches', and
// the header says when it is not the default.
func TestProfileRateFlag(t *testing.T) {
	defer func(was int) { profileRate = was }(profileRate)
	for _, rate := range []int{-1, 1, 4096} {
		cfg, err := parseArgs([]string{"-profile-rate", fmt.Sprint(rate)}, &bytes.Buffer{})
		require.NoError(t, err)
		require.Equal(t, rate, cfg.ProfileRate)
		profileRate = cfg.ProfileRate
		m, err := newMmalloc(true)
		require.NoError(t, err)
		c, err := newMmallocCache(false)
		require.NoError(t, err)
		for i, a := range []*mmalloc.Allocator{m.a, c.a} {
			assert.Contains(t, servedRate(t, a, fmt.Sprintf("bench-rate-%d-%d", rate, i)), fmt.Sprintf("(ProfileRate %d)", rate))
		}
		require.NoError(t, m.Close())
		require.NoError(t, c.Close())
	}
	assert.Contains(t, profileNote(-1), "off")
	assert.Contains(t, profileNote(4096), "4096")
	assert.Empty(t, profileNote(0), "the default needs no note")

	profileRate = 0
	m, err := newMmalloc(false)
	require.NoError(t, err)
	defer m.Close()
	assert.Contains(t, servedRate(t, m.a, "bench-rate-default"), fmt.Sprintf("(ProfileRate %d)", mmalloc.DefaultProfileRate))

	var out, errb bytes.Buffer
	require.Equal(t, exitOK, run([]string{"-q", "-workload", "pair", "-alloc", "mmalloc", "-runs", "1", "-time", "1ms",
		"-format", "gobench", "-profile-rate", "-1"}, &out, &errb), errb.String())
	assert.Contains(t, out.String(), "\nprofile-rate: -1\n")
	assert.Zero(t, profileRate, "the run leaves the setting as it found it")
}
