package mmalloc_test

import (
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mmalloc/mmalloc"
	"github.com/mmalloc/mmalloc/slab"
	"github.com/mmalloc/mmalloc/stats"
)

// waitDecay polls a's Stats until nothing decays or the decay time d, a
// quarter more (the documented bound) and a second of grace for a loaded
// machine have passed since since, and returns the last Stats and how long
// after since the decay ended.
func waitDecay(t *testing.T, a *mmalloc.Allocator, d time.Duration, since time.Time) (stats.Snapshot, time.Duration) {
	t.Helper()
	due := d + d/4 + time.Second
	s := a.Stats()
	for s.Decaying > 0 && time.Since(since) < due {
		time.Sleep(d / 50)
		s = a.Stats()
	}
	return s, time.Since(since)
}

// TestDecayGivesBackUnusedMemory: freed memory beyond RetainBytes stays
// mapped at Free, counted as Decaying, and goes back to the OS once it has
// gone unused for DecayTime, with no call: not before DecayTime, and by
// 1.25 DecayTime (plus a second for a late timer on a loaded machine). The
// timer then stops. Large mappings and chunks' pages alike.
func TestDecayGivesBackUnusedMemory(t *testing.T) {
	const decay = 400 * time.Millisecond
	for _, tc := range []struct {
		name string
		size int
		n    int
	}{{"large mappings", 4 * mib, 16}, {"small objects", 64 << 10, 1024}} {
		t.Run(tc.name, func(t *testing.T) {
			a := newAlloc(t, mmalloc.Options{RetainBytes: 4 * mib, DecayTime: decay})
			bound := idleBound(a)
			bufs := make([][]byte, 0, tc.n)
			runtime.GC()
			rss0 := offHeapRSS(t)
			for range tc.n {
				b, err := a.Alloc(tc.size)
				require.NoError(t, err)
				touchPages(b)
				bufs = append(bufs, b)
			}
			assert.False(t, a.DecayArmed(), "nothing decays before a free")
			for _, b := range bufs {
				require.NoError(t, a.Free(b))
			}
			freed := time.Now()
			s := a.Stats()
			t.Logf("after the frees: retained %d MiB (%d MiB decaying), resident %d MiB", s.Retained>>20, s.Decaying>>20, s.Resident>>20)
			assert.Greater(t, s.Decaying, int64(32*mib), "freed memory beyond the budget stays mapped")
			assert.Equal(t, s.Retained-s.RetainLimit, s.Decaying)
			assert.Greater(t, s.Resident, int64(32*mib), "and resident")
			assert.True(t, a.DecayArmed())
			require.NoError(t, a.Validate())

			s, took := waitDecay(t, a, decay, freed)
			t.Logf("decayed %v after the last free: retained %d MiB, resident %d MiB", took.Round(time.Millisecond), s.Retained>>20, s.Resident>>20)
			assert.Zero(t, s.Decaying, "given back with no call")
			assert.GreaterOrEqual(t, took, decay*9/10, "not before DecayTime")
			assert.LessOrEqual(t, s.Retained, s.RetainLimit)
			assert.LessOrEqual(t, s.Resident, bound, "resident back within the budget and the caches' bound")
			if !raceEnabled { // the race detector's shadow memory counts in RSS
				rss := offHeapRSS(t) - rss0
				t.Logf("off-heap RSS growth %d MiB", rss>>20)
				assert.LessOrEqual(t, rss, bound, "the RSS follows")
			}
			// The timer stops once nothing passes the budget: an idle
			// Allocator within its budget runs nothing.
			deadline := time.Now().Add(decay + time.Second)
			for a.DecayArmed() && time.Now().Before(deadline) {
				time.Sleep(decay / 20)
			}
			assert.False(t, a.DecayArmed(), "the timer stopped")
			require.NoError(t, a.Validate())
		})
	}
}

// TestDecayKeepsMemoryInUse: a program that frees and rebuilds the same
// large buffers in rounds shorter than DecayTime maps them once: every
// later round reuses resident pages (no mmap), although together they
// pass RetainBytes many times over.
func TestDecayKeepsMemoryInUse(t *testing.T) {
	a := newAlloc(t, mmalloc.Options{RetainBytes: mib, DecayTime: 5 * time.Second})
	round := func() {
		var bufs [][]byte
		for i := range 8 {
			b, err := a.Alloc(4*mib + i*mib)
			require.NoError(t, err)
			touchPages(b)
			bufs = append(bufs, b)
		}
		for _, b := range bufs {
			require.NoError(t, a.Free(b))
		}
	}
	round()
	mmaps := a.Stats().Mmaps
	for range 20 {
		round()
		time.Sleep(10 * time.Millisecond)
	}
	s := a.Stats()
	assert.Equal(t, mmaps, s.Mmaps, "later rounds reuse the decaying mappings")
	assert.Greater(t, s.Decaying, int64(32*mib))
	require.NoError(t, a.Trim())
	assert.Zero(t, a.Stats().Retained, "Trim gives back decaying memory too")
	assert.Zero(t, a.Stats().Mapped)
}

// TestDecayIsBoundedInBytes: no more than DecayBytes are kept beyond
// RetainBytes; past that, Free gives the memory back at once.
func TestDecayIsBoundedInBytes(t *testing.T) {
	a := newAlloc(t, mmalloc.Options{RetainBytes: 4 * mib, DecayBytes: 16 * mib, DecayTime: time.Hour})
	var bufs [][]byte
	for range 16 {
		b, err := a.Alloc(4 * mib)
		require.NoError(t, err)
		touchPages(b)
		bufs = append(bufs, b)
	}
	for _, b := range bufs {
		require.NoError(t, a.Free(b))
		s := a.Stats()
		require.LessOrEqual(t, s.Retained, int64(20*mib), "budget plus decay allowance")
		require.LessOrEqual(t, s.Decaying, int64(16*mib))
	}
	s := a.Stats()
	assert.Equal(t, int64(20*mib), s.Retained)
	assert.Equal(t, int64(20*mib), s.Mapped, "the rest was unmapped at Free")
	require.NoError(t, a.Validate())
}

// TestDecayGivesWayToLimit: decaying memory counts in Limit, and goes back
// before an allocation would fail for it.
func TestDecayGivesWayToLimit(t *testing.T) {
	a := newAlloc(t, mmalloc.Options{Limit: 64 * mib, RetainBytes: mib, DecayTime: time.Hour})
	var bufs [][]byte
	for range 12 {
		b, err := a.Alloc(4 * mib)
		require.NoError(t, err)
		bufs = append(bufs, b)
	}
	for _, b := range bufs {
		require.NoError(t, a.Free(b))
	}
	s := a.Stats()
	require.Greater(t, s.Decaying, int64(40*mib))
	assert.Equal(t, s.Mapped-s.Released, int64(48*mib), "decaying memory is held")
	b, err := a.Alloc(40 * mib) // fits no kept mapping; fits the Limit once they go
	require.NoError(t, err, "decaying memory gave way")
	assert.LessOrEqual(t, a.Stats().PeakMapped, int64(64*mib))
	require.NoError(t, a.Free(b))
	require.NoError(t, a.Validate())
}

// TestDecayStopsAtClose: Close stops a decay in progress; its timer never
// touches the closed Allocator, and Stats stay whole.
func TestDecayStopsAtClose(t *testing.T) {
	const decay = 100 * time.Millisecond
	for range 20 {
		a, err := mmalloc.New(mmalloc.Options{RetainBytes: mib, DecayTime: decay})
		require.NoError(t, err)
		b, err := a.Alloc(32 * mib)
		require.NoError(t, err)
		touchPages(b)
		require.NoError(t, a.Free(b))
		require.True(t, a.DecayArmed())
		time.Sleep(decay / 10)
		require.NoError(t, a.Close())
		s := a.Stats()
		assert.Zero(t, s.Mapped)
		assert.Zero(t, s.Retained)
	}
	time.Sleep(2 * decay) // the timers would have fired by now
}

// idleBound is what a may hold with nothing live and nothing
// decaying: its retention budget and one slab per class per P's cache.
func idleBound(a *mmalloc.Allocator) int64 {
	return a.Stats().RetainLimit + int64(runtime.GOMAXPROCS(0))*int64(slab.OwnedBytesBound())
}
