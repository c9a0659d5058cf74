package mmalloc_test

import (
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mmalloc/mmalloc"
	"github.com/mmalloc/mmalloc/arena"
)

// withBudget sets a process budget for the test and restores the memory
// limit afterwards.
func withBudget(t *testing.T, bytes int64) {
	t.Helper()
	before := debug.SetMemoryLimit(-1)
	require.NoError(t, mmalloc.SetProcessBudget(bytes))
	t.Cleanup(func() {
		require.NoError(t, mmalloc.SetProcessBudget(0))
		assert.Equal(t, before, debug.SetMemoryLimit(-1), "limit restored")
		assert.Zero(t, mmalloc.ProcessBudget())
	})
}

// TestProcessBudgetTracksHeld moves held memory up and down through an
// Allocator (chunks and large mappings) and a Region, and checks
// after each move that the Go limit is the budget minus what is held,
// give or take one step. The expected limit is computed from the
// documented formula with the documented figures (a step of budget/128, a
// floor of 16 MiB), not with the package's own arithmetic.
func TestProcessBudgetTracksHeld(t *testing.T) {
	const budget = 1 << 30
	withBudget(t, budget)
	assert.Equal(t, int64(budget), mmalloc.ProcessBudget())
	step := mmalloc.BudgetStep(budget)
	require.Equal(t, int64(8*mib), step)

	updates := 0
	last := debug.SetMemoryLimit(-1)
	check := func(what string) {
		t.Helper()
		limit := debug.SetMemoryLimit(-1)
		if limit != last {
			updates++
			last = limit
		}
		// The documented formula, computed here: budget - held - step,
		// never below the 16 MiB floor.
		want := max(int64(budget)-mmalloc.ProcessHeld()-8*mib, 16*mib)
		assert.InDelta(t, want, limit, float64(step), "%s: limit %d, held %d", what, limit, mmalloc.ProcessHeld())
	}
	check("start")

	a := newAlloc(t, mmalloc.Options{RetainBytes: mmalloc.NoRetain})
	var bufs [][]byte
	for i := range 12 {
		b, err := a.Alloc(16 * mib)
		require.NoError(t, err)
		bufs = append(bufs, b)
		check("large alloc")
		for range 1000 { // small objects: a few chunks
			s, err := a.Alloc(1000 + i)
			require.NoError(t, err)
			bufs = append(bufs, s)
		}
		check("small allocs")
	}
	assert.Greater(t, mmalloc.ProcessHeld(), int64(12*16*mib))
	assert.Less(t, last, int64(budget-12*16*mib))

	ar, err := arena.NewRegion(arena.RegionOptions{})
	require.NoError(t, err)
	_, err = ar.Alloc(100 * mib)
	require.NoError(t, err)
	check("arena")
	require.NoError(t, ar.Close())
	check("arena closed")

	r, err := a.Realloc(bufs[0], 200*mib) // mremap
	require.NoError(t, err)
	bufs[0] = r
	check("realloc")

	for _, b := range bufs {
		require.NoError(t, a.Free(b))
	}
	require.NoError(t, a.Trim())
	check("all freed")
	assert.InDelta(t, budget-step, last, float64(step)+float64(mmalloc.ProcessHeld()))
	assert.GreaterOrEqual(t, updates, 12, "the limit moved with the memory")
	t.Logf("%d limit updates", updates)

	// Past the budget the limit stays at its floor.
	b, err := a.Alloc(budget + 64*mib)
	require.NoError(t, err)
	assert.Equal(t, int64(mmalloc.MinGoLimitBytes), debug.SetMemoryLimit(-1))
	require.NoError(t, a.Free(b))
}

func TestProcessBudgetBadInput(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	assert.ErrorIs(t, mmalloc.SetProcessBudget(-1), mmalloc.ErrInvalidOption)
	assert.Equal(t, before, debug.SetMemoryLimit(-1))
	assert.Zero(t, mmalloc.ProcessBudget())
	require.NoError(t, mmalloc.SetProcessBudget(0), "removing no budget is fine")
	assert.Equal(t, before, debug.SetMemoryLimit(-1))
}

// TestProcessBudgetDrivesGC shows the point of the budget with GOGC=off:
// with most of the budget held off-heap, Go garbage far smaller than the
// budget makes the collector run. (The limit is a soft goal for the
// runtime: how closely the heap keeps to it depends on the GC keeping up.)
func TestProcessBudgetDrivesGC(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	// Budget: what the runtime holds now, plus 64 MiB for the Go heap to
	// grow into, plus what mmalloc will map.
	const offHeap = 256 * mib
	budget := int64(ms.Sys) + mmalloc.ProcessHeld() + 64*mib + offHeap
	withBudget(t, budget)

	a := newAlloc(t, mmalloc.Options{})
	big, err := a.Alloc(offHeap)
	require.NoError(t, err)
	defer a.Free(big)
	limit := debug.SetMemoryLimit(-1)
	assert.Less(t, limit, budget-offHeap+mmalloc.BudgetStep(budget))

	runtime.ReadMemStats(&ms)
	gcs := ms.NumGC
	var sink [][]byte
	for range 4096 { // 256 MiB of garbage, 64 KiB at a time
		sink = append(sink, make([]byte, 64*kib))
		if len(sink) == 64 {
			sink = sink[:0]
		}
	}
	runtime.ReadMemStats(&ms)
	t.Logf("budget %d MiB, Go limit %d MiB, %d GC cycles for 256 MiB of garbage, heap %d MiB",
		budget>>20, limit>>20, ms.NumGC-gcs, ms.HeapAlloc>>20)
	assert.Greater(t, ms.NumGC, gcs, "the collector ran near the budget")
}
