package main

import (
	"bytes"
	"os"
	"path/filepath"
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
	var out, errb bytes.Buffer
	status := run([]string{"-runs", "1", "-time", "2ms", "-q", "-svg", svg}, &out, &errb)
	require.Equal(t, exitOK, status, "stderr: %s", errb.String())
	assert.Empty(t, errb.String(), "-q: nothing on stderr")
	s := out.String()
	for _, w := range workloads {
		assert.Contains(t, s, "== "+w.Name+": ")
	}
	for _, k := range kinds {
		assert.Contains(t, s, k.Name)
	}
	// No allocator failed on the way.
	for _, line := range strings.Split(s, "\n") {
		for _, bad := range []string{": New:", ": setup:", ": run:", ": calibrate:", ": cleanup:", ": Close:"} {
			assert.NotContains(t, line, bad)
		}
	}
	assert.Contains(t, s, "== summary: ")
	assert.Contains(t, s, "total wall time")
	b, err := os.ReadFile(svg)
	require.NoError(t, err)
	assert.Contains(t, string(b), "<svg")
}

// TestGobenchProgram checks that -format=gobench prints nothing but
// benchstat's input.
func TestGobenchProgram(t *testing.T) {
	var out, errb bytes.Buffer
	status := run([]string{"-runs", "2", "-time", "1ms", "-workload", "pair,batch", "-alloc", "mmalloc,go-heap",
		"-format", "gobench"}, &out, &errb)
	require.Equal(t, exitOK, status, "stderr: %s", errb.String())
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Greater(t, len(lines), 4)
	for _, l := range lines[4:] {
		assert.Regexp(t, gobenchLine, l)
	}
	assert.Len(t, lines[4:], 2*2*(len(pairSizes)+len(batchSizes)))
}
