package heapprof

import (
	"bytes"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/google/pprof/profile"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func newProfile(t *testing.T, rate int, seed uint64) *Profile {
	t.Helper()
	var p Profile
	p.Init(rate)
	p.SetSeed(seed)
	return &p
}

// TestSamplerIntervals: the bytes between samples are exponential with
// mean rate: their mean is within 3 standard errors (rate/sqrt(n)) of
// rate, and their median is rate*ln 2 within 3 standard errors.
func TestSamplerIntervals(t *testing.T) {
	const rate, n = 64 << 10, 20_000
	p := newProfile(t, rate, 1)
	var s Sampler
	s.Init(p)
	var gaps []float64
	var since int64
	for len(gaps) < n {
		since += 16
		if s.Take(16) {
			gaps = append(gaps, float64(since))
			since = 0
		}
	}
	mean := 0.0
	for _, g := range gaps {
		mean += g
	}
	mean /= n
	assert.InDelta(t, rate, mean, 3*rate/math.Sqrt(n), "mean interval")
	below := 0
	for _, g := range gaps {
		if g < rate*math.Ln2 {
			below++
		}
	}
	assert.InDelta(t, n/2, below, 3*math.Sqrt(n/4.0), "intervals below the median")
}

// TestSamplerRates: 1 samples every allocation, a negative rate and the
// zero Sampler none, and the countdown of an off Sampler never runs out.
func TestSamplerRates(t *testing.T) {
	every := newProfile(t, 1, 1)
	var s Sampler
	s.Init(every)
	for range 1000 {
		require.True(t, s.Take(8))
	}

	off := newProfile(t, -1, 1)
	assert.False(t, off.On())
	s.Init(off)
	for range 1000 {
		require.False(t, s.Take(1<<40))
	}
	var zero Sampler
	assert.False(t, zero.Take(1<<62))
	assert.False(t, zero.Take(1<<62), "an off countdown is put back when it runs out")
	var none Profile
	assert.False(t, none.On())
	assert.Equal(t, int64(-1), none.Rate())
	assert.False(t, none.TakeShared(1<<20))

	def := newProfile(t, 0, 1)
	assert.Equal(t, int64(DefaultRate), def.Rate())
	huge := newProfile(t, math.MaxInt, 1)
	s.Init(huge)
	assert.False(t, s.Take(1<<30), "a huge rate draws a capped interval, not an overflow")
}

// TestFilter: no live sample is ever missed, frees of other addresses find
// their bit set less often than 1 in 256, and the filter is unpublished
// while nothing is live.
func TestFilter(t *testing.T) {
	p := newProfile(t, 1, 1)
	assert.Nil(t, p.filter.Load())
	r := rand.New(rand.NewPCG(1, 2))
	live := map[uintptr]bool{}
	for range 5000 { // past minFilterBits/slotsPerSample: the filter grows
		addr := uintptr(r.Uint64N(1<<40)) &^ 15
		live[addr] = true
		p.Record(addr, 16)
	}
	assert.Greater(t, p.kept.bits(), minFilterBits)
	assert.GreaterOrEqual(t, p.kept.bits(), len(live)*slotsPerSample)
	for addr := range live {
		require.True(t, p.MaybeLive(addr), "a live sample is never missed")
	}
	falsePositives, tries := 0, 200_000
	for range tries {
		addr := uintptr(r.Uint64N(1<<40)) &^ 15
		if !live[addr] && p.MaybeLive(addr) {
			falsePositives++
		}
	}
	assert.Less(t, falsePositives, tries/slotsPerSample)
	for addr := range live {
		p.Drop(addr)
	}
	objects, _ := p.Live()
	assert.Zero(t, objects)
	assert.Nil(t, p.filter.Load(), "nothing live: unpublished")
	for i := range p.kept.words {
		require.Zero(t, p.kept.words[i].Load(), "every bit cleared")
	}
}

// TestFilterCollisions: two live samples in one slot keep its bit until
// both are gone.
func TestFilterCollisions(t *testing.T) {
	p := newProfile(t, 1, 1)
	p.Record(0x1000, 16)
	f := p.kept
	var other uintptr
	for a := uintptr(0x2000); ; a += 16 {
		if f.slot(a) == f.slot(0x1000) {
			other = a
			break
		}
	}
	p.Record(other, 16)
	p.Drop(0x1000)
	assert.True(t, p.MaybeLive(other), "the bit stays for the other sample")
	objects, _ := p.Live()
	assert.Equal(t, int64(1), objects)
	p.Drop(other)
	assert.False(t, p.MaybeLive(other))
}

// TestDetachReattachDropAll covers the undo of a free that did not happen
// and the drop of everything at once.
func TestDetachReattachDropAll(t *testing.T) {
	p := newProfile(t, 1, 1)
	p.Record(0x1000, 32)
	p.Record(0x2000, 64)
	d := p.Detach(0x1000)
	objects, bytes := p.Live()
	assert.Equal(t, int64(1), objects)
	assert.Equal(t, int64(64), bytes)
	assert.Nil(t, p.Detach(0x1000).b, "detached once only")
	p.Reattach(0x1000, d)
	objects, bytes = p.Live()
	assert.Equal(t, int64(2), objects)
	assert.Equal(t, int64(96), bytes)
	p.Reattach(0x3000, Detached{}) // nothing detached: nothing put back
	p.DropAll()
	objects, _ = p.Live()
	assert.Zero(t, objects)
	assert.Equal(t, int64(2), p.Sampled())
	for _, r := range p.records() {
		assert.Equal(t, r.allocs, r.frees)
	}
}

// TestPackageOf checks the package path read from runtime function names.
func TestPackageOf(t *testing.T) {
	cases := map[string]string{
		"github.com/mmalloc/mmalloc.(*Allocator).Alloc":      "github.com/mmalloc/mmalloc",
		"github.com/mmalloc/mmalloc.MakeSlice[...]":          "github.com/mmalloc/mmalloc",
		"github.com/mmalloc/mmalloc/arena.(*Region).Alloc":   "github.com/mmalloc/mmalloc/arena",
		"github.com/mmalloc/mmalloc_test.TestX.func1":        "github.com/mmalloc/mmalloc_test",
		"github.com/mmalloc/mmalloc/internal/heapprof.Write": "github.com/mmalloc/mmalloc/internal/heapprof",
		"main.main":           "main",
		"example.com/a.b/c.F": "example.com/a.b/c",
		"github.com/mmalloc/mmalloc.Fn[go.shape.struct { A int }]": "github.com/mmalloc/mmalloc",
		"runtime.goexit": "runtime",
	}
	for name, want := range cases {
		assert.Equal(t, want, packageOf(name), name)
	}
	assert.True(t, internal("github.com/mmalloc/mmalloc.(*Cache).Alloc"))
	assert.True(t, internal("github.com/mmalloc/mmalloc/arena.(*Region).Alloc"))
	assert.False(t, internal("github.com/mmalloc/mmalloc_test.siteA"))
	assert.False(t, internal("github.com/mmalloc/mmalloc/arena_test.TestX"))
	assert.False(t, internal("github.com/mmalloc/mmallocx.F"))
}

//go:noinline
func recordHere(p *Profile, addr uintptr, size int) { p.Record(addr, size) }

// TestWrite checks the encoding against the pprof package's parser:
// values scaled as the runtime scales, labels, locations and trimmed
// frames, and samples of two named profiles kept apart.
func TestWrite(t *testing.T) {
	const rate = 4096
	p := newProfile(t, rate, 1)
	for i := range 10 {
		recordHere(p, uintptr(0x1000*(i+1)), 1024)
	}
	for i := range 4 {
		p.Drop(uintptr(0x1000 * (i + 1)))
	}
	q := newProfile(t, 1, 1)
	recordHere(q, 0x1000, 100)

	var buf bytes.Buffer
	require.NoError(t, Write(&buf, []Named{{"p", p}, {"q", q}}))
	pp, err := profile.Parse(&buf)
	require.NoError(t, err)
	require.NoError(t, pp.CheckValid())
	assert.Equal(t, int64(rate), pp.Period)
	require.Len(t, pp.Sample, 2)

	scaleBy := 1 / (1 - math.Exp(-1024.0/rate))
	for _, s := range pp.Sample {
		require.Len(t, s.Label["allocator"], 1)
		// This package's tests are this module's frames too: trimmed.
		assert.Equal(t, "testing.tRunner", s.Location[0].Line[0].Function.Name)
		switch s.Label["allocator"][0] {
		case "p":
			assert.Equal(t, []int64{int64(10 * scaleBy), int64(10 * 1024 * scaleBy), int64(6 * scaleBy), int64(6 * 1024 * scaleBy)}, s.Value)
			assert.Equal(t, []int64{1024}, s.NumLabel["bytes"])
			assert.Equal(t, []string{"bytes"}, s.NumUnit["bytes"])
		case "q":
			assert.Equal(t, []int64{1, 100, 1, 100}, s.Value, "rate 1: not scaled")
		default:
			t.Errorf("unexpected allocator label %v", s.Label)
		}
	}

	// An unnamed profile has no allocator label; an off one no sample.
	buf.Reset()
	require.NoError(t, Write(&buf, []Named{{"", q}, {"off", newProfile(t, -1, 1)}}))
	pp, err = profile.Parse(&buf)
	require.NoError(t, err)
	require.Len(t, pp.Sample, 1)
	assert.Empty(t, pp.Sample[0].Label)
}

// TestScale pins the runtime's formula and its edge cases.
func TestScale(t *testing.T) {
	o, b := scale(10, 1024, 4096)
	s := 1 / (1 - math.Exp(-0.25))
	assert.Equal(t, int64(10*s), o)
	assert.Equal(t, int64(10*1024*s), b)
	o, b = scale(3, 100, 1)
	assert.Equal(t, []int64{3, 300}, []int64{o, b})
	o, b = scale(0, 100, 4096)
	assert.Equal(t, []int64{0, 0}, []int64{o, b})
	o, _ = scale(1, 1<<30, 512<<10)
	assert.Equal(t, int64(1), o, "a sample far above the rate stands for itself")
}

// TestWriteLive: the text report orders stacks by bytes and names sizes.
func TestWriteLive(t *testing.T) {
	p := newProfile(t, 1, 1)
	recordHere(p, 0x1000, 64)
	recordHere(p, 0x2000, 128)
	var out strings.Builder
	objects, bytes, err := p.WriteLive(&out, 10)
	require.NoError(t, err)
	assert.Equal(t, int64(2), objects)
	assert.Equal(t, int64(192), bytes)
	assert.Contains(t, out.String(), "192 bytes in 2 allocations of 64 and 128 bytes, allocated at\n\ttesting.tRunner\n\t\t")

	out.Reset()
	recordHere(p, 0x3000, 1000)
	_, _, err = p.WriteLive(&out, 0)
	require.NoError(t, err)
	assert.Equal(t, "... and 1 more call stacks\n", out.String())
}

// TestPublish: names are unique and some are refused.
func TestPublish(t *testing.T) {
	p := newProfile(t, 1, 1)
	require.NoError(t, Publish("heapprof-test", p))
	for _, bad := range []string{"heapprof-test", "", DefaultName, "a\tb"} {
		assert.ErrorIs(t, Publish(bad, p), ErrName, "%q", bad)
	}
	found := false
	for _, np := range Published() {
		found = found || np.Name == "heapprof-test" && np.Profile == p
	}
	assert.True(t, found)
}
