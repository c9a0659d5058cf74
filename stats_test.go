package mmalloc_test

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mmalloc/mmalloc"
	"github.com/mmalloc/mmalloc/stats"
)

// TestStatsLiveNeverNegative: one goroutine allocates through the
// Allocator and frees through its Cache, another does the reverse (and
// every 16 objects they swap roles, so that the snapshots meet both
// whichever one the scheduler runs beside them), each holding at most one
// object at a time, while snapshots are taken (Stats,
// and the live:objects gauge of Metrics). In every snapshot, every row's
// Live, the large row's and the total are at least 0 and at most the
// bound Stats documents: what was live when the call returned (2 objects
// at most) plus the frees made during the call. The test counts those
// frees itself: every Free that began before the call returned, less
// every Free that had ended before it began.
func TestStatsLiveNeverNegative(t *testing.T) {
	snapshots := 500
	if testing.Short() || raceEnabled || mmalloc.Invariants {
		snapshots = 200
	}
	// A P for each goroutine, on any number of cores: where there are
	// fewer, the kernel runs them in turns, and a snapshot the kernel
	// preempts overlaps many calls.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	a := newAlloc(t, mmalloc.Options{})
	var stop atomic.Bool
	var freesBegun, freesEnded atomic.Int64
	var wg sync.WaitGroup
	for g := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := a.NewCache()
			defer func() { assert.NoError(t, c.Close()) }()
			for i := 0; !stop.Load(); i++ {
				alloc, free := a.Alloc, c.Free
				if (i/16+g)%2 == 1 {
					alloc, free = c.Alloc, a.Free
				}
				b, err := alloc([]int{64, 1000}[i%2])
				if !assert.NoError(t, err) {
					return
				}
				freesBegun.Add(1)
				err = free(b)
				freesEnded.Add(1)
				if !assert.NoError(t, err) {
					return
				}
			}
		}()
	}
	stopAll := func() { stop.Store(true); wg.Wait() }
	defer stopAll()    // also when a check below fails: no goroutine outlives the test
	const mostLive = 2 // each goroutine holds at most one object
	overlapped := 0
	for i := range snapshots {
		// Let the goroutines free something between two snapshots,
		// whatever the scheduler does.
		for last := freesEnded.Load(); freesEnded.Load() == last; {
			runtime.Gosched()
		}
		ended := freesEnded.Load()
		var rows []stats.Class
		var total int64
		if i%4 == 3 {
			byName, _ := metricsOf(a)
			total = int64(byName["/mmalloc/live:objects"].Value)
		} else {
			s := a.Stats()
			rows = append(s.Classes, s.Large)
			total = s.Live
		}
		bound := mostLive + freesBegun.Load() - ended
		if bound > mostLive {
			overlapped++
		}
		require.GreaterOrEqual(t, total, int64(0), "snapshot %d: Live", i)
		require.LessOrEqual(t, total, bound, "snapshot %d: Live", i)
		for r, row := range rows {
			require.GreaterOrEqual(t, row.Live, int64(0), "snapshot %d, row %d (size %d): Live", i, r, row.Size)
			require.LessOrEqual(t, row.Live, bound, "snapshot %d, row %d (size %d): Live", i, r, row.Size)
		}
	}
	stopAll()
	t.Logf("%d snapshots, %d of them overlapping a Free; %d frees", snapshots, overlapped, freesEnded.Load())
	s := a.Stats()
	assert.Zero(t, s.Live, "exact at a quiet point")
	assert.Equal(t, s.Allocs, s.Frees)
	assert.Equal(t, uint64(freesEnded.Load()), s.Frees)
	require.NoError(t, a.Validate())
}

// TestStatsAfterClose: Close unmaps everything but frees nothing, so
// Stats after Close counts what was live at Close as live: every row's
// figures are those of just before Close, and Live == Allocs − Frees
// holds in every row, the large one included, and in the totals.
func TestStatsAfterClose(t *testing.T) {
	for _, o := range []mmalloc.Options{{}, {Guard: true}, {Shared: true}} {
		t.Run(fmt.Sprintf("guard %v, shared %v", o.Guard, o.Shared), func(t *testing.T) {
			a, err := mmalloc.New(o)
			require.NoError(t, err)
			c := a.NewCache()
			for _, n := range []int{100, 3000, mib} {
				_ = mustAlloc(t, a, n) // live at Close
				require.NoError(t, a.Free(mustAlloc(t, a, n)))
			}
			b, err := c.Alloc(200) // live in a Cache left open
			require.NoError(t, err)
			require.NotEmpty(t, b)
			before := a.Stats()
			require.Equal(t, int64(4), before.Live)
			require.Equal(t, int64(1), before.Large.Live)
			require.NoError(t, a.Close())
			after := a.Stats()

			assert.Zero(t, after.Mapped, "everything is unmapped")
			assert.Equal(t, before.Allocs, after.Allocs)
			assert.Equal(t, before.Frees, after.Frees)
			assert.Equal(t, before.Live, after.Live, "what was live at Close stays counted live")
			assert.Equal(t, before.InUse, after.InUse)
			assert.Equal(t, before.Large, after.Large)
			require.Len(t, after.Classes, len(before.Classes))
			for i, row := range append(after.Classes, after.Large) {
				assert.Equal(t, int64(row.Allocs-row.Frees), row.Live, "row %d (size %d): Live == Allocs - Frees", i, row.Size)
				if i < len(before.Classes) {
					assert.Equal(t, before.Classes[i].Live, row.Live, "row %d", i)
					assert.Equal(t, before.Classes[i].InUse, row.InUse, "row %d", i)
				}
			}
			assert.Equal(t, int64(after.Allocs-after.Frees), after.Live, "the totals")
			require.ErrorIs(t, c.Close(), mmalloc.ErrClosed)
			assert.Equal(t, after, a.Stats(), "a Cache's Close after the Allocator's changes nothing")
		})
	}
}

// TestOneUsableSize: after every kind of Realloc (in place within a class
// or within a large allocation's pages, by mremap, by moving, growing and
// shrinking, small and large), the allocation has one usable size,
// UsableSize of its new size: its cap, the length Bytes gives its Ref,
// what Stats counts in use, and what the heap profile (sampling every
// allocation) holds live. So in every mode.
func TestOneUsableSize(t *testing.T) {
	steps := []struct {
		name     string
		from, to int
	}{
		{"small shrinks to a smaller class", 1024, 600},
		{"small shrinks within its class", 1024, 1000},
		{"small grows within its class", 600, 640},
		{"small grows to another class", 600, 2000},
		{"small to large", 1000, 200 * kib},
		{"large shrinks within its pages", mib, mib - 100},
		{"large grows within its pages", mib - 100, mib},
		{"large grows", mib, 3 * mib},
		{"large shrinks", 3 * mib, mib + 1},
		{"large to small", 200 * kib, 1000},
	}
	for _, o := range []mmalloc.Options{{}, {Guard: true}, {Shared: true}} {
		o.ProfileRate = 1
		a := newAlloc(t, o)
		for _, st := range steps {
			name := fmt.Sprintf("guard %v, shared %v: %s, %d to %d", o.Guard, o.Shared, st.name, st.from, st.to)
			b := mustAlloc(t, a, st.from)
			fill(b, 1)
			nb, err := a.Realloc(b, st.to)
			require.NoError(t, err, name)
			want := a.UsableSize(st.to)
			assert.Equal(t, want, cap(nb), "%s: cap", name)
			got, err := a.Bytes(mmalloc.RefOf(nb))
			require.NoError(t, err, name)
			assert.Equal(t, want, len(got), "%s: Bytes", name)
			s := a.Stats()
			assert.Equal(t, int64(1), s.Live, name)
			assert.Equal(t, int64(want), s.InUse, "%s: Stats.InUse", name)
			assert.Equal(t, int64(want), mmalloc.ProfileLiveBytes(a), "%s: the profile's live bytes", name)
			require.NoError(t, a.Validate(), name)
			require.NoError(t, a.Free(nb), name)
		}
	}
}

// TestStatsTotalsAreRowSums: InUse, Live, Allocs and Frees of a Snapshot
// are the sums of its rows, the class rows and the large one, with small
// and large allocations live and freed, in guard mode too.
func TestStatsTotalsAreRowSums(t *testing.T) {
	for _, o := range []mmalloc.Options{{}, {Guard: true}} {
		t.Run(fmt.Sprintf("guard=%v", o.Guard), func(t *testing.T) {
			a := newAlloc(t, o)
			var live [][]byte
			for i, n := range []int{8, 100, 100, 5000, threshold + 1, 3 * mib} {
				b, err := a.Alloc(n)
				require.NoError(t, err)
				if i%2 == 0 {
					require.NoError(t, a.Free(b))
				} else {
					live = append(live, b)
				}
			}
			s := a.Stats()
			var sum stats.Class
			for _, c := range append(s.Classes, s.Large) {
				sum.InUse += c.InUse
				sum.Live += c.Live
				sum.Allocs += c.Allocs
				sum.Frees += c.Frees
			}
			require.Positive(t, s.Large.Live, "the large row has a live allocation")
			assert.Equal(t, sum.InUse, s.InUse, "InUse")
			assert.Equal(t, int64(len(live)), s.Live, "Live")
			assert.Equal(t, sum.Live, s.Live, "Live")
			assert.Equal(t, uint64(6), s.Allocs, "Allocs")
			assert.Equal(t, sum.Allocs, s.Allocs, "Allocs")
			assert.Equal(t, sum.Frees, s.Frees, "Frees")
			freeAll(t, a.Free, live)
		})
	}
}
