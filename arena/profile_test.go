package arena_test

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"net/http/httptest"
	"testing"

	"github.com/google/pprof/profile"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mmalloc/mmalloc"
	"github.com/mmalloc/mmalloc/arena"
)

func newArena(t *testing.T, o arena.RegionOptions) *arena.Region {
	t.Helper()
	a, err := arena.NewRegion(o)
	require.NoError(t, err)
	t.Cleanup(func() { _ = a.Release() })
	return a
}

// inuse returns, by leaf function, the objects and bytes allocated and in
// use in a's profile.
func inuse(t *testing.T, a *arena.Region) map[string][4]int64 {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, a.WriteHeapProfile(&buf))
	p, err := profile.Parse(&buf)
	require.NoError(t, err)
	require.NoError(t, p.CheckValid())
	sites := map[string][4]int64{}
	for _, s := range p.Sample {
		name := s.Location[0].Line[0].Function.Name
		v := sites[name]
		for i := range v {
			v[i] += s.Value[i]
		}
		sites[name] = v
	}
	return sites
}

type cell struct{ A, B int64 }

//go:noinline
func regionSite(t *testing.T, a *arena.Region, n, size int) {
	for range n {
		_, err := a.Alloc(size)
		require.NoError(t, err)
	}
}

//go:noinline
func typedRegionSite(t *testing.T, a *arena.Region) {
	_, err := arena.NewValue[cell](a)
	require.NoError(t, err)
	_, err = arena.MakeSlice[cell](a, 4, 4)
	require.NoError(t, err)
}

const (
	regionSiteName = "github.com/mmalloc/mmalloc/arena_test.regionSite"
	typedSiteName  = "github.com/mmalloc/mmalloc/arena_test.typedRegionSite"
)

// TestRegionProfile samples every allocation of a region — small ones
// across chunks, big ones, typed ones — and checks that Reset and Release
// count them all as freed.
func TestRegionProfile(t *testing.T) {
	a := newArena(t, arena.RegionOptions{ChunkBytes: 64 << 10, ProfileRate: 1})
	regionSite(t, a, 3000, 64)   // about 3 chunks
	regionSite(t, a, 2, 100<<10) // big: mappings of their own
	typedRegionSite(t, a)        // 16 and 64 bytes
	sites := inuse(t, a)
	assert.Equal(t, [4]int64{3002, 3000*64 + 2*100<<10, 3002, 3000*64 + 2*100<<10}, sites[regionSiteName])
	assert.Equal(t, [4]int64{2, 80, 2, 80}, sites[typedSiteName])

	require.NoError(t, a.Reset())
	sites = inuse(t, a)
	assert.Equal(t, [4]int64{3002, 3000*64 + 2*100<<10, 0, 0}, sites[regionSiteName], "Reset frees every sample")

	regionSite(t, a, 10, 64)
	assert.Equal(t, int64(10), inuse(t, a)[regionSiteName][2])
	require.NoError(t, a.Release())
	_, live := arena.ProfileCounts(a)
	assert.Zero(t, live, "Release frees every sample")
	assert.ErrorIs(t, a.WriteHeapProfile(io.Discard), arena.ErrReleased, "a call after Release")
}

// TestRegionProfileOff: the default samples nothing, and so does a
// negative rate.
func TestRegionProfileOff(t *testing.T) {
	for _, rate := range []int{0, -1} {
		a := newArena(t, arena.RegionOptions{ProfileRate: rate})
		regionSite(t, a, 1000, 4096)
		sampled, _ := arena.ProfileCounts(a)
		assert.Zero(t, sampled)
		assert.Empty(t, inuse(t, a))
	}
}

// TestRegionSamplingStatistics: with the sampling point folded into the
// fast path's bound, an allocation of n bytes is still sampled with
// probability 1 - exp(-n/rate): the count over many, across chunks, big
// mappings and Resets, is within 3σ of its mean. Seeded: repeatable.
func TestRegionSamplingStatistics(t *testing.T) {
	cases := []struct {
		size, n, rate int
		reset         int // Reset every this many allocations
	}{
		{64, 200_000, 16 << 10, 0},
		{64, 200_000, 16 << 10, 1000},
		{1000, 50_000, 64 << 10, 0}, // 1000 bytes plus 8 of padding each
		{40 << 10, 2000, 256 << 10, 50},
	}
	for i, c := range cases {
		t.Run(fmt.Sprintf("size=%d/reset=%d", c.size, c.reset), func(t *testing.T) {
			a := newArena(t, arena.RegionOptions{ChunkBytes: 128 << 10, ProfileRate: c.rate})
			arena.SeedProfile(a, uint64(i+1))
			for k := range c.n {
				if c.reset > 0 && k%c.reset == 0 {
					require.NoError(t, a.Reset())
				}
				_, err := a.Alloc(c.size)
				require.NoError(t, err)
			}
			sampled, _ := arena.ProfileCounts(a)
			took := (c.size + 15) &^ 15 // with the padding before the next
			if c.size > 128<<10/4 {
				took = c.size // big: a mapping of its own, no padding
			}
			p := 1 - math.Exp(-float64(took)/float64(c.rate))
			want, sigma := float64(c.n)*p, math.Sqrt(float64(c.n)*p*(1-p))
			assert.InDelta(t, want, float64(sampled), 3*sigma, "samples of %d allocations (3σ = %.1f)", c.n, 3*sigma)
		})
	}
}

// TestRegionPublishedProfile serves a Region's profile through mmalloc's
// handler.
func TestRegionPublishedProfile(t *testing.T) {
	a := newArena(t, arena.RegionOptions{ProfileRate: 1})
	name := fmt.Sprintf("region-%p", a)
	require.NoError(t, a.PublishProfile(name))
	assert.ErrorIs(t, a.PublishProfile(name), mmalloc.ErrProfileName)
	assert.ErrorIs(t, a.PublishProfile(name), mmalloc.ErrProfileName)
	regionSite(t, a, 5, 64)
	w := httptest.NewRecorder()
	mmalloc.ServeHeapProfile(w, httptest.NewRequest("GET", "/debug/pprof/mmalloc?name="+name, nil))
	require.Equal(t, 200, w.Code)
	p, err := profile.Parse(w.Body)
	require.NoError(t, err)
	require.Len(t, p.Sample, 1)
	assert.Equal(t, []string{name}, p.Sample[0].Label["allocator"])
	assert.Equal(t, int64(5*64), p.Sample[0].Value[3])
}

// TestRegionResetDropsItsOwnSamples: Reset and Release take every live
// sample of their Region out of its live set, and none of another
// Region's or of an Allocator's; a refused Reset or Release takes none.
func TestRegionResetDropsItsOwnSamples(t *testing.T) {
	a := newArena(t, arena.RegionOptions{ChunkBytes: 64 << 10, ProfileRate: 1})
	b := newArena(t, arena.RegionOptions{ChunkBytes: 64 << 10, ProfileRate: 1})
	al, err := mmalloc.New(mmalloc.Options{ProfileRate: 1})
	require.NoError(t, err)
	defer al.Close()
	for _, r := range []*arena.Region{a, b} {
		regionSite(t, r, 100, 64)
		regionSite(t, r, 2, 100<<10) // big
	}
	kept, err := al.Alloc(100)
	require.NoError(t, err)
	inuseObjects := func() int64 { // the Allocator's
		var buf bytes.Buffer
		require.NoError(t, al.WriteHeapProfile(&buf))
		p, err := profile.Parse(&buf)
		require.NoError(t, err)
		var n int64
		for _, s := range p.Sample {
			n += s.Value[2]
		}
		return n
	}
	require.Len(t, arena.ProfileLiveSet(a), 102)
	liveB := arena.ProfileLiveSet(b)
	require.Len(t, liveB, 102)

	require.NoError(t, a.Reset())
	assert.Empty(t, arena.ProfileLiveSet(a), "Reset drops every sample of its Region")
	assert.Equal(t, liveB, arena.ProfileLiveSet(b), "and none of another")
	assert.Equal(t, int64(1), inuseObjects(), "nor of an Allocator")

	regionSite(t, a, 3, 64)
	liveA := arena.ProfileLiveSet(a)
	require.Len(t, liveA, 3)
	require.NoError(t, b.Release())
	assert.Empty(t, arena.ProfileLiveSet(b), "Release drops every sample of its Region")
	assert.Equal(t, liveA, arena.ProfileLiveSet(a), "and none of another")
	assert.Equal(t, int64(1), inuseObjects(), "nor of an Allocator")

	require.ErrorIs(t, b.Reset(), arena.ErrReleased)
	require.ErrorIs(t, b.Release(), arena.ErrReleased)
	assert.Equal(t, liveA, arena.ProfileLiveSet(a), "a refused Reset or Release drops nothing")
	assert.Equal(t, int64(1), inuseObjects())
	require.NoError(t, al.Free(kept))
}
