package mmalloc_test

import (
	"fmt"
	"iter"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mmalloc/mmalloc"
)

// metricsOf collects a's metrics by name, and their names in order.
func metricsOf(a *mmalloc.Allocator) (map[string]mmalloc.Metric, []string) {
	byName := map[string]mmalloc.Metric{}
	var names []string
	for m := range a.Metrics() {
		byName[m.Name] = m
		names = append(names, m.Name)
	}
	return byName, names
}

// TestMetricsMatchStats checks every metric against the Stats field it
// publishes, on an Allocator holding small and large allocations, some
// freed, with a Limit and in guard mode too.
func TestMetricsMatchStats(t *testing.T) {
	for _, opts := range []mmalloc.Options{{}, {Limit: 1 << 30, RetainBytes: 8 * mib}, {Guard: true}} {
		t.Run(fmt.Sprintf("%+v", opts), func(t *testing.T) {
			a := newAlloc(t, opts)
			var held [][]byte
			for i, n := range []int{16, 100, 100, 4096, 32 * kib, threshold + 1, 2 * mib} {
				b, err := a.Alloc(n)
				require.NoError(t, err)
				fill(b, uint64(i))
				held = append(held, b)
			}
			require.NoError(t, a.Free(held[1]))
			require.NoError(t, a.Free(held[6]))

			got, _ := metricsOf(a)
			s := a.Stats()
			var cached int64
			for _, c := range s.Classes {
				cached += c.Cached
			}
			want := map[string]int64{
				"/mmalloc/mapped:bytes":             s.Mapped,
				"/mmalloc/released:bytes":           s.Released,
				"/mmalloc/held:bytes":               s.Held,
				"/mmalloc/held/peak:bytes":          s.PeakHeld,
				"/mmalloc/resident:bytes":           a.Resident(),
				"/mmalloc/retained:bytes":           s.Retained,
				"/mmalloc/retained/limit:bytes":     s.RetainBytes,
				"/mmalloc/retained/decaying:bytes":  s.Decaying,
				"/mmalloc/limit:bytes":              s.Limit,
				"/mmalloc/in-use:bytes":             s.InUse,
				"/mmalloc/live:objects":             s.Live,
				"/mmalloc/cached:objects":           cached,
				"/mmalloc/large/in-use:bytes":       s.Large.InUse,
				"/mmalloc/large/live:objects":       s.Large.Live,
				"/mmalloc/chunks/in-use:chunks":     int64(s.Chunks),
				"/mmalloc/chunks/empty:chunks":      int64(s.EmptyChunks),
				"/mmalloc/allocs:objects":           int64(s.Allocs),
				"/mmalloc/frees:objects":            int64(s.Frees),
				"/mmalloc/mmaps:calls":              int64(s.Mmaps),
				"/mmalloc/munmaps:calls":            int64(s.Munmaps),
				"/mmalloc/guard/quarantined:bytes":  s.Quarantined,
				"/mmalloc/guard/corruptions:events": s.Corrupted,
			}
			require.Len(t, got, len(want), "one metric per figure")
			for name, v := range want {
				m, ok := got[name]
				if assert.True(t, ok, "missing %s", name) {
					assert.Equal(t, float64(v), m.Value, name)
				}
			}
			// The figures themselves, not only their agreement with Stats.
			require.Positive(t, s.Released, "a fresh chunk's untouched pages hold no memory")
			assert.Equal(t, s.Mapped-s.Released, s.Held, "held is mapped and not released")
			assert.GreaterOrEqual(t, s.PeakHeld, s.Held)
			assert.Less(t, s.PeakHeld, s.Mapped, "the peak counts held bytes, not mapped ones")
			assert.Equal(t, float64(5), got["/mmalloc/live:objects"].Value)
			assert.Equal(t, float64(7), got["/mmalloc/allocs:objects"].Value)
			assert.Equal(t, float64(opts.Limit), got["/mmalloc/limit:bytes"].Value)
			assert.Greater(t, got["/mmalloc/resident:bytes"].Value, float64(0), "the filled buffers are resident")
			assert.LessOrEqual(t, got["/mmalloc/resident:bytes"].Value, got["/mmalloc/mapped:bytes"].Value)
		})
	}
}

// TestMetricNames checks the names: runtime/metrics' form, unique, the same
// list for every Allocator and every call (also after Close), and their
// Prometheus forms valid and unique.
func TestMetricNames(t *testing.T) {
	a := newAlloc(t, mmalloc.Options{})
	guard := newAlloc(t, mmalloc.Options{Guard: true})
	byName, names := metricsOf(a)
	require.NotEmpty(t, names)
	assert.Len(t, byName, len(names), "names are unique")

	_, guardNames := metricsOf(guard)
	assert.Equal(t, names, guardNames, "every Allocator has the same metrics")
	require.NoError(t, a.Close())
	closedByName, closedNames := metricsOf(a)
	assert.Equal(t, names, closedNames, "and after Close")
	assert.Zero(t, closedByName["/mmalloc/mapped:bytes"].Value)
	assert.Zero(t, closedByName["/mmalloc/resident:bytes"].Value)

	runtimeName := regexp.MustCompile(`^/mmalloc(/[a-z]+(-[a-z]+)*)+:[a-z]+$`)
	promName := regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	seen := map[string]bool{}
	for _, n := range names {
		m := byName[n]
		assert.Regexp(t, runtimeName, m.Name)
		assert.NotEmpty(t, m.Help, m.Name)
		assert.True(t, strings.HasSuffix(m.Help, "."), "%s: help is a sentence", m.Name)
		p := m.PrometheusName()
		assert.Regexp(t, promName, p)
		assert.False(t, seen[p], "%s: Prometheus name %s taken", m.Name, p)
		seen[p] = true
		switch m.Kind {
		case mmalloc.MetricCounter:
			assert.True(t, strings.HasSuffix(p, "_total"), p)
		case mmalloc.MetricGauge:
			assert.False(t, strings.HasSuffix(p, "_total"), p)
		default:
			t.Errorf("%s: kind %v", m.Name, m.Kind)
		}
	}
}

func TestMetricPrometheusName(t *testing.T) {
	for _, tc := range []struct {
		m    mmalloc.Metric
		want string
	}{
		{mmalloc.Metric{Name: "/mmalloc/mapped:bytes", Kind: mmalloc.MetricGauge}, "mmalloc_mapped_bytes"},
		{mmalloc.Metric{Name: "/mmalloc/held/peak:bytes", Kind: mmalloc.MetricGauge}, "mmalloc_held_peak_bytes"},
		{mmalloc.Metric{Name: "/mmalloc/in-use:bytes", Kind: mmalloc.MetricGauge}, "mmalloc_in_use_bytes"},
		{mmalloc.Metric{Name: "/mmalloc/allocs:objects", Kind: mmalloc.MetricCounter}, "mmalloc_allocs_objects_total"},
	} {
		assert.Equal(t, tc.want, tc.m.PrometheusName(), tc.m.Name)
	}
	assert.Equal(t, "gauge", mmalloc.MetricGauge.String())
	assert.Equal(t, "counter", mmalloc.MetricCounter.String())
	assert.Equal(t, "MetricKind(0)", mmalloc.MetricKind(0).String())
}

// TestMetricsStopsWhenAsked checks the iterator's contract: no call after
// yield returns false.
func TestMetricsStopsWhenAsked(t *testing.T) {
	a := newAlloc(t, mmalloc.Options{})
	calls := 0
	a.Metrics()(func(mmalloc.Metric) bool {
		calls++
		return calls < 3
	})
	assert.Equal(t, 3, calls)
	var first []string
	for m := range a.Metrics() {
		first = append(first, m.Name)
		if len(first) == 2 {
			break
		}
	}
	assert.Len(t, first, 2)
}

// TestMetricsEachRangeIsFresh: the figures are read when a range over the
// iterator starts, not when Metrics returns it, so one iterator kept by a
// collector reports the present each time.
func TestMetricsEachRangeIsFresh(t *testing.T) {
	a := newAlloc(t, mmalloc.Options{})
	live := func(seq iter.Seq[mmalloc.Metric]) float64 {
		for m := range seq {
			if m.Name == "/mmalloc/live:objects" {
				return m.Value
			}
		}
		t.Fatal("no /mmalloc/live:objects")
		return 0
	}
	seq := a.Metrics()
	assert.Zero(t, live(seq))
	b, err := a.Alloc(100)
	require.NoError(t, err)
	assert.Equal(t, float64(1), live(seq), "the same iterator, ranged again")
	require.NoError(t, a.Free(b))
	assert.Zero(t, live(seq))
}

// thpAlways reports whether transparent huge pages are on for every
// mapping, when a first touch may make a whole 2 MiB page resident.
func thpAlways() bool {
	b, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled")
	return err == nil && strings.Contains(string(b), "[always]")
}

// touchPages writes one byte in each page of b up to its capacity.
func touchPages(b []byte) {
	b = b[:cap(b)]
	for i := 0; i < len(b); i += pageBytes {
		b[i] = 1
	}
}

// TestResident follows the resident bytes of chunks and large mappings
// through touching, freeing (kept, and released), Trim and Close, in the
// default mode and in guard mode; Stats().Resident reports the same.
func TestResident(t *testing.T) {
	exact := !thpAlways()
	// resident checks a.Resident() against want: exactly, or (with huge
	// pages on every mapping) at least want; never above Mapped.
	resident := func(t *testing.T, a *mmalloc.Allocator, want int64, what string) {
		t.Helper()
		got := a.Resident()
		if exact {
			assert.Equal(t, want, got, what)
		} else {
			assert.GreaterOrEqual(t, got, want, what)
		}
		st := a.Stats()
		assert.Equal(t, got, st.Resident, "%s: Stats reports the same figure", what)
		assert.LessOrEqual(t, got, st.Mapped, what)
	}

	t.Run("large", func(t *testing.T) {
		a := newAlloc(t, mmalloc.Options{})
		resident(t, a, 0, "a new Allocator")
		b, err := a.Alloc(mib)
		require.NoError(t, err)
		resident(t, a, 0, "a fresh mapping is not touched by Alloc")
		touchPages(b[: mib/2 : mib/2])
		resident(t, a, mib/2, "half the pages written")
		touchPages(b)
		resident(t, a, mib, "every page written")
		require.NoError(t, a.Free(b))
		resident(t, a, mib, "a freed mapping kept for reuse stays resident")
		require.NoError(t, a.Trim())
		resident(t, a, 0, "Trim unmaps it")
	})
	t.Run("large without retention", func(t *testing.T) {
		a := newAlloc(t, mmalloc.Options{RetainBytes: mmalloc.NoRetain})
		b, err := a.Alloc(3 * mib)
		require.NoError(t, err)
		touchPages(b)
		resident(t, a, 3*mib, "every page written")
		require.NoError(t, a.Free(b))
		resident(t, a, 0, "Free unmaps it")
	})
	t.Run("chunks", func(t *testing.T) {
		a := newAlloc(t, mmalloc.Options{})
		// 4 KiB objects of a fresh chunk are whole pages, handed out
		// without clearing (fresh pages read as zero).
		var held [][]byte
		for range 100 {
			b, err := a.Alloc(4096)
			require.NoError(t, err)
			held = append(held, b)
		}
		resident(t, a, 0, "objects handed out, none written")
		for _, b := range held[:40] {
			touchPages(b)
		}
		resident(t, a, 40*4096, "40 objects written")
		for _, b := range held {
			require.NoError(t, a.Free(b))
		}
		require.NoError(t, a.Trim())
		resident(t, a, 0, "everything freed and trimmed")
		require.NoError(t, a.Close())
		assert.Zero(t, a.Resident(), "after Close")
		assert.Zero(t, a.Stats().Resident, "Stats after Close")
		var zero *mmalloc.Allocator
		assert.Zero(t, zero.Resident(), "nil")
		assert.Zero(t, new(mmalloc.Allocator).Resident(), "zero")
	})
	t.Run("guard", func(t *testing.T) {
		a := newAlloc(t, mmalloc.Options{Guard: true})
		b, err := a.Alloc(mib) // a mapping of its own and a guard page after it
		require.NoError(t, err)
		resident(t, a, 0, "fresh")
		touchPages(b)
		resident(t, a, mib, "every page of the object written")
		require.NoError(t, a.Free(b))
		resident(t, a, 0, "Free retires the mapping")
	})
}

// TestResidentTracksRSS writes a large buffer and checks that the growth
// of Resident is the growth of the process's RSS outside the Go runtime's
// own memory (offHeapRSS).
func TestResidentTracksRSS(t *testing.T) {
	skipWithInvariants(t, "every call runs validate, whose garbage counts in the RSS")
	a := newAlloc(t, mmalloc.Options{})
	const n = 64 * mib
	b, err := a.Alloc(n)
	require.NoError(t, err)
	rss0, res0 := offHeapRSS(t), a.Resident()
	touchPages(b)
	rss1, res1 := offHeapRSS(t), a.Resident()
	assert.Equal(t, int64(n), res1-res0)
	assert.InDelta(t, res1-res0, rss1-rss0, 8*mib, "RSS grew by %d, Resident by %d", rss1-rss0, res1-res0)
	require.NoError(t, a.Free(b))
}
