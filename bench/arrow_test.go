package main

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// smallArrow shrinks the arrow workload's columns for a test.
func smallArrow(t *testing.T) {
	ints, strs := arrowInts, arrowStrings
	arrowInts, arrowStrings = 50_000, 7_000
	t.Cleanup(func() { arrowInts, arrowStrings = ints, strs })
}

// TestArrowRounds: each case's round, on every allocator, writes and
// reads back what it built (the checksums agree), and arrowmem's rows
// end with every buffer freed (their close fails otherwise); under
// Arrow's CheckedAllocator nothing leaks either.
func TestArrowRounds(t *testing.T) {
	smallArrow(t)
	var sink bytes.Buffer
	for _, c := range arrowCases {
		for _, k := range arrowKinds {
			mem, closeMem, err := k.new()
			require.NoError(t, err)
			checked := memory.NewCheckedAllocator(mem)
			for range 2 {
				require.NoError(t, c.round(checked, &sink), "%s on %s", c.name, k.name)
			}
			checked.AssertSize(t, 0)
			assert.NoError(t, closeMem(), "%s on %s", c.name, k.name)
		}
	}
}

// TestArrowVerifyCatchesDamage: the checksums fail when a value read back
// differs from the one written.
func TestArrowVerifyCatchesDamage(t *testing.T) {
	smallArrow(t)
	mem := memory.NewGoAllocator()
	cols := arrowColumns(mem)
	defer func() {
		for _, c := range cols {
			c.rec.Release()
		}
	}()
	for _, c := range cols {
		require.NoError(t, c.verify(c.rec.Columns()))
	}
	ints := cols[0].rec.Column(0).Data().Buffers()[1].Bytes()
	ints[8]++ // the second value
	assert.ErrorContains(t, cols[0].verify(cols[0].rec.Columns()), "ints read back")
	// A shorter strings column.
	short := cols[1].rec.NewSlice(0, int64(arrowStrings-1))
	defer short.Release()
	assert.ErrorContains(t, cols[1].verify(short.Columns()), "strings read back")
}

// TestArrowWorkloadReport: the workload's report has a row per case and
// allocator, its ratio notes, and figures for every run.
func TestArrowWorkloadReport(t *testing.T) {
	smallArrow(t)
	env := &Env{Runs: 2, Progress: newProgress(io.Discard, true)}
	rep := &WorkloadReport{Name: "arrow"}
	require.NoError(t, runArrowWorkload(env, rep))
	require.Len(t, rep.Results, len(arrowCases)*len(arrowKinds))
	for _, r := range rep.Results {
		assert.Len(t, r.Runs, 2)
		require.Len(t, r.Figures, 3)
		for _, f := range r.Figures {
			assert.Len(t, f.Values, 2)
		}
	}
	notes := strings.Join(rep.Notes, "\n")
	assert.Contains(t, notes, "case=ipc arrowmem ÷ go")
	assert.Contains(t, notes, "case=parquet arrowmem-retain1g ÷ go")
}
