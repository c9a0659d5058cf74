package main

import (
	"bytes"
	"errors"
	"flag"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseArgsDefaults(t *testing.T) {
	cfg, err := parseArgs(nil, &bytes.Buffer{})
	require.NoError(t, err)
	assert.Len(t, cfg.Workloads, len(workloads))
	assert.Len(t, cfg.Kinds, len(kinds))
	assert.True(t, cfg.CRef)
	assert.Equal(t, defaultRuns, cfg.Runs)
	assert.Equal(t, defaultTime, cfg.Time)
	assert.Equal(t, "table", cfg.Format)
	assert.Empty(t, cfg.SVG)
}

func TestParseArgsLists(t *testing.T) {
	cfg, err := parseArgs([]string{"-workload", "gc, pair,gc", "-alloc", "go-heap,mmalloc", "-runs", "3",
		"-time", "7ms", "-cpu", "1", "-q", "-format", "gobench", "-svg", "x.svg"}, &bytes.Buffer{})
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
		{"empty workload list", []string{"-workload", ","}, []string{"valid workloads"}},
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
	assert.Contains(t, errb.String(), "valid allocators: mmalloc, mmalloc-uninit, mmalloc-cache, go-heap, sync.Pool, modernc")
	assert.Equal(t, exitOK, run([]string{"-h"}, &out, &errb))
}
