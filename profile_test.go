package mmalloc_test

// Heap profiles, CheckLeaks and ServeHeapProfile, of profile.go.

import (
	"bytes"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http/httptest"
	"os"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"unsafe"

	"github.com/google/pprof/profile"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mmalloc/mmalloc"
)

// site is what a profile says of the allocations of one leaf function.
type site struct {
	allocObjects, allocSpace, inuseObjects, inuseSpace int64
	sizes                                              map[int64]bool
}

// parseProfile writes a's heap profile and parses it with the pprof
// package, checking that it is well formed.
func parseProfile(t *testing.T, a *mmalloc.Allocator) *profile.Profile {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, a.WriteHeapProfile(&buf))
	p, err := profile.Parse(&buf)
	require.NoError(t, err)
	require.NoError(t, p.CheckValid())
	return p
}

// leafFunction returns the innermost function of a sample's call stack.
func leafFunction(s *profile.Sample) string {
	if len(s.Location) == 0 || len(s.Location[0].Line) == 0 {
		return ""
	}
	return s.Location[0].Line[0].Function.Name
}

// bySite sums p's sample values by leaf function (its name without the
// package path).
func bySite(t *testing.T, p *profile.Profile) map[string]*site {
	t.Helper()
	index := map[string]int{}
	for i, st := range p.SampleType {
		index[st.Type] = i
	}
	sites := map[string]*site{}
	for _, s := range p.Sample {
		name := leafFunction(s)
		name = name[strings.LastIndexByte(name, '/')+1:]
		st := sites[name]
		if st == nil {
			st = &site{sizes: map[int64]bool{}}
			sites[name] = st
		}
		st.allocObjects += s.Value[index["alloc_objects"]]
		st.allocSpace += s.Value[index["alloc_space"]]
		st.inuseObjects += s.Value[index["inuse_objects"]]
		st.inuseSpace += s.Value[index["inuse_space"]]
		for _, n := range s.NumLabel["bytes"] {
			st.sizes[n] = true
		}
	}
	return sites
}

// siteA and siteB make n allocations of size bytes through alloc and
// return them: two call sites that differ only in their names.
//
//go:noinline
func siteA(t *testing.T, alloc func(int) ([]byte, error), n, size int) [][]byte {
	bufs := make([][]byte, n)
	for i := range bufs {
		b, err := alloc(size)
		require.NoError(t, err)
		bufs[i] = b
	}
	return bufs
}

//go:noinline
func siteB(t *testing.T, alloc func(int) ([]byte, error), n, size int) [][]byte {
	bufs := make([][]byte, n)
	for i := range bufs {
		b, err := alloc(size)
		require.NoError(t, err)
		bufs[i] = b
	}
	return bufs
}

// oneP runs the rest of the test on one P, so that one sampler sees every
// allocation of the shared Allocator and a seeded run repeats exactly.
func oneP(t *testing.T) {
	t.Cleanup(func(procs int) func() { return func() { runtime.GOMAXPROCS(procs) } }(runtime.GOMAXPROCS(1)))
}

func freeAll(t *testing.T, free func([]byte) error, bufs [][]byte) {
	t.Helper()
	for _, b := range bufs {
		require.NoError(t, free(b))
	}
}

// TestProfileFormat checks what every reader of a heap profile relies on:
// the four sample types of the Go heap profile and their units, the
// period, the default type, and samples whose locations carry functions
// with files and lines, and a size label.
func TestProfileFormat(t *testing.T) {
	a := newAlloc(t, mmalloc.Options{ProfileRate: 1})
	bufs := siteA(t, a.Alloc, 3, 100)
	p := parseProfile(t, a)

	var types []string
	for _, st := range p.SampleType {
		types = append(types, st.Type+"/"+st.Unit)
	}
	assert.Equal(t, []string{"alloc_objects/count", "alloc_space/bytes", "inuse_objects/count", "inuse_space/bytes"}, types)
	assert.Equal(t, "inuse_space", p.DefaultSampleType)
	require.NotNil(t, p.PeriodType)
	assert.Equal(t, "space/bytes", p.PeriodType.Type+"/"+p.PeriodType.Unit)
	assert.Equal(t, int64(1), p.Period)
	assert.NotZero(t, p.TimeNanos)

	require.Len(t, p.Sample, 1, "three allocations of one size at one site")
	s := p.Sample[0]
	assert.Equal(t, []int64{3, 3 * int64(a.UsableSize(100)), 3, 3 * int64(a.UsableSize(100))}, s.Value)
	assert.Equal(t, []int64{int64(a.UsableSize(100))}, s.NumLabel["bytes"])
	assert.Equal(t, "github.com/mmalloc/mmalloc_test.siteA", leafFunction(s))
	for _, loc := range s.Location {
		require.NotEmpty(t, loc.Line)
		for _, l := range loc.Line {
			assert.NotEmpty(t, l.Function.Name)
			assert.NotEmpty(t, l.Function.Filename)
			assert.Positive(t, l.Line)
		}
	}
	assert.Equal(t, "github.com/mmalloc/mmalloc_test.TestProfileFormat", s.Location[1].Line[0].Function.Name)
	assert.Contains(t, s.Location[0].Line[0].Function.Filename, "profile_test.go")
	freeAll(t, a.Free, bufs)
}

// TestProfileTwoSites allocates from two functions and checks that each
// gets its share: exactly with every allocation sampled, and within 3σ of
// the truth at a sampling rate, through the Allocator and a Cache.
func TestProfileTwoSites(t *testing.T) {
	const (
		nA, sizeA = 3000, 2 * kib // 6 MiB: three quarters
		nB, sizeB = 500, 4 * kib  // 2 MiB: a quarter
	)
	for _, rate := range []int{1, 32 * kib} {
		for _, via := range []string{"Allocator", "Cache"} {
			t.Run(fmt.Sprintf("rate=%d/%s", rate, via), func(t *testing.T) {
				oneP(t)
				a := newAlloc(t, mmalloc.Options{ProfileRate: rate})
				mmalloc.SeedProfile(a, 1)
				alloc, free := a.Alloc, a.Free
				if via == "Cache" {
					c := a.NewCache()
					alloc, free = c.Alloc, c.Free
				}
				bufsA := siteA(t, alloc, nA, sizeA)
				bufsB := siteB(t, alloc, nB, sizeB)
				sites := bySite(t, parseProfile(t, a))
				a1, b1 := sites["mmalloc_test.siteA"], sites["mmalloc_test.siteB"]
				require.NotNil(t, a1)
				require.NotNil(t, b1)
				assert.Equal(t, map[int64]bool{sizeA: true}, a1.sizes)
				assert.Equal(t, map[int64]bool{sizeB: true}, b1.sizes)
				if rate == 1 {
					assert.Equal(t, site{nA, nA * sizeA, nA, nA * sizeA, a1.sizes}, *a1)
					assert.Equal(t, site{nB, nB * sizeB, nB, nB * sizeB, b1.sizes}, *b1)
				} else {
					assertWithin3Sigma(t, a1.inuseSpace, nA, sizeA, rate)
					assertWithin3Sigma(t, b1.inuseSpace, nB, sizeB, rate)
					// The share's deviation, by the delta method, from the
					// relative deviations of the two estimates.
					relA, relB := relSigma(nA, sizeA, rate), relSigma(nB, sizeB, rate)
					sigma := 0.75 * 0.25 * math.Hypot(relA, relB)
					share := float64(a1.inuseSpace) / float64(a1.inuseSpace+b1.inuseSpace)
					assert.InDelta(t, 0.75, share, 3*sigma, "siteA's share of the live bytes")
				}
				freeAll(t, free, bufsA)
				freeAll(t, free, bufsB)
			})
		}
	}
}

// relSigma is the relative standard deviation of the estimate of n
// allocations of size bytes sampled at rate: sqrt((1-p)/(n*p)).
func relSigma(n, size, rate int) float64 {
	p := 1 - math.Exp(-float64(size)/float64(rate))
	return math.Sqrt((1 - p) / (float64(n) * p))
}

// assertWithin3Sigma checks an estimate of n allocations of size bytes,
// sampled at rate, against the truth n*size: the number of samples is
// binomial, so the estimate's standard deviation is the scale times
// size*sqrt(n*p*(1-p)).
func assertWithin3Sigma(t *testing.T, got int64, n, size, rate int) {
	t.Helper()
	p := 1 - math.Exp(-float64(size)/float64(rate))
	sigma := float64(size) / p * math.Sqrt(float64(n)*p*(1-p))
	truth := float64(n * size)
	assert.InDelta(t, truth, float64(got), 3*sigma, "estimate of %d × %d bytes (3σ = %.0f)", n, size, 3*sigma)
}

// TestProfileFreedLeaveInuse frees part of each site's allocations, by
// every way of freeing, and checks that they leave inuse_* but stay in
// alloc_*.
func TestProfileFreedLeaveInuse(t *testing.T) {
	a := newAlloc(t, mmalloc.Options{ProfileRate: 1})
	c := a.NewCache()
	small := siteA(t, a.Alloc, 100, 64)
	cached := siteB(t, c.Alloc, 50, 512)
	large := siteA(t, a.Alloc, 4, 1*mib)

	freeAll(t, a.Free, small[:60])
	freeAll(t, c.Free, cached[:20])
	freeAll(t, a.Free, cached[20:30]) // a Cache's memory freed by the Allocator
	freeAll(t, a.NewCache().Free, small[60:70])
	freeAll(t, a.Free, large[:3])

	sites := bySite(t, parseProfile(t, a))
	gotA, gotB := sites["mmalloc_test.siteA"], sites["mmalloc_test.siteB"]
	require.NotNil(t, gotA)
	require.NotNil(t, gotB)
	assert.Equal(t, int64(104), gotA.allocObjects)
	assert.Equal(t, int64(100*64+4*mib), gotA.allocSpace)
	assert.Equal(t, int64(31), gotA.inuseObjects)
	assert.Equal(t, int64(30*64+1*mib), gotA.inuseSpace)
	assert.Equal(t, int64(50), gotB.allocObjects)
	assert.Equal(t, int64(20), gotB.inuseObjects)
	assert.Equal(t, int64(20*512), gotB.inuseSpace)

	freeAll(t, a.Free, small[70:])
	freeAll(t, c.Free, cached[30:])
	freeAll(t, a.Free, large[3:])
	sites = bySite(t, parseProfile(t, a))
	assert.Equal(t, int64(104), sites["mmalloc_test.siteA"].allocObjects)
	assert.Zero(t, sites["mmalloc_test.siteA"].inuseObjects)
	assert.Zero(t, sites["mmalloc_test.siteB"].inuseSpace)
	_, live := mmalloc.ProfileCounts(a)
	assert.Zero(t, live)
}

// TestProfileRefusedFreesKeepSamples: a Free that is refused frees
// nothing, and a Free after Close leaves the profile as it was at Close.
func TestProfileRefusedFreesKeepSamples(t *testing.T) {
	a := newAlloc(t, mmalloc.Options{ProfileRate: 1})
	b := siteA(t, a.Alloc, 2, 1000)
	assert.ErrorIs(t, a.Free(b[0][8:]), mmalloc.ErrInvalidPointer)
	other := newAlloc(t, mmalloc.Options{ProfileRate: 1})
	assert.ErrorIs(t, other.Free(b[0]), mmalloc.ErrForeignPointer)
	require.NoError(t, a.Free(b[1]))
	assert.ErrorIs(t, a.Free(b[1]), mmalloc.ErrDoubleFree)
	_, live := mmalloc.ProfileCounts(a)
	assert.Equal(t, int64(1), live)

	sites := bySite(t, parseProfile(t, a))
	assert.Equal(t, int64(1), sites["mmalloc_test.siteA"].inuseObjects)
	require.NoError(t, a.Close())
	assert.ErrorIs(t, a.Free(b[0]), mmalloc.ErrClosed)
	_, live = mmalloc.ProfileCounts(a)
	assert.Equal(t, int64(1), live, "a refused Free after Close drops no sample")
	assert.ErrorIs(t, a.WriteHeapProfile(io.Discard), mmalloc.ErrClosed)
}

// TestProfileResizes checks each way Realloc resizes, and Buffer and the
// typed helpers, with every allocation sampled: the old allocation leaves
// the live set, the new one enters it at the caller of Realloc, with its
// new size; Free and Buffer.Free empty it.
func TestProfileResizes(t *testing.T) {
	cases := []struct {
		name     string
		from, to int
	}{
		{"small in place", 100, 112},
		{"small moved", 100, 1000},
		{"small to large", 1000, 1 * mib},
		{"large remapped", 1 * mib, 8 * mib},
		{"large in place", 1 * mib, 1*mib - 100},
		{"large to small", 1 * mib, 1000},
		{"to nothing", 1000, 0},
	}
	for _, guard := range []bool{false, true} {
		for _, c := range cases {
			t.Run(fmt.Sprintf("guard=%v/%s", guard, c.name), func(t *testing.T) {
				a := newAlloc(t, mmalloc.Options{ProfileRate: 1, Guard: guard})
				b := siteA(t, a.Alloc, 1, c.from)[0]
				r := resizeSite(t, a, b, c.to)
				sites := bySite(t, parseProfile(t, a))
				assert.Zero(t, sites["mmalloc_test.siteA"].inuseObjects, "the old allocation is freed")
				assert.Equal(t, int64(1), sites["mmalloc_test.siteA"].allocObjects)
				_, live := mmalloc.ProfileCounts(a)
				if c.to == 0 {
					assert.Zero(t, live)
					return
				}
				got := sites["mmalloc_test.resizeSite"]
				require.NotNil(t, got, "the new allocation is the Realloc caller's")
				assert.Equal(t, int64(1), got.inuseObjects)
				assert.Equal(t, int64(cap(r)), got.inuseSpace)
				assert.Equal(t, int64(1), live)
				require.NoError(t, a.Free(r))
				_, live = mmalloc.ProfileCounts(a)
				assert.Zero(t, live)
			})
		}
	}

	t.Run("Buffer", func(t *testing.T) {
		a := newAlloc(t, mmalloc.Options{ProfileRate: 1})
		buf := mmalloc.NewBuffer(a)
		chunk := make([]byte, 4*kib)
		for range 100 { // 400 KiB: small, then large and remapped
			writeSite(t, buf, chunk)
		}
		sites := bySite(t, parseProfile(t, a))
		require.NotNil(t, sites["mmalloc_test.writeSite"])
		assert.Equal(t, int64(1), sites["mmalloc_test.writeSite"].inuseObjects)
		assert.Equal(t, int64(buf.Cap()), sites["mmalloc_test.writeSite"].inuseSpace)
		assert.Greater(t, sites["mmalloc_test.writeSite"].allocObjects, int64(2), "each growth allocates")
		require.NoError(t, buf.Free())
		_, live := mmalloc.ProfileCounts(a)
		assert.Zero(t, live)
	})

	t.Run("typed", func(t *testing.T) {
		a := newAlloc(t, mmalloc.Options{ProfileRate: 1})
		v, s := typedSite(t, a)
		sites := bySite(t, parseProfile(t, a))
		got := sites["mmalloc_test.typedSite"]
		require.NotNil(t, got)
		assert.Equal(t, int64(2), got.inuseObjects)
		assert.Equal(t, int64(a.UsableSize(16)+a.UsableSize(1600)), got.inuseSpace)
		require.NoError(t, mmalloc.FreeValue(a, v))
		require.NoError(t, mmalloc.FreeSlice(a, s))
		_, live := mmalloc.ProfileCounts(a)
		assert.Zero(t, live)
	})
}

// TestProfileResizeUnsampled: a resize in place whose new allocation is
// not sampled still frees the old sample. At 4 KiB, 112-byte objects are
// sampled with probability p = 2.7%: after every one of N is resized in
// place, N*p are live, not twice that.
func TestProfileResizeUnsampled(t *testing.T) {
	oneP(t)
	const n, rate = 4000, 4 * kib
	a := newAlloc(t, mmalloc.Options{ProfileRate: rate})
	mmalloc.SeedProfile(a, 1)
	bufs := siteA(t, a.Alloc, n, 112)
	for i, b := range bufs {
		r, err := a.Realloc(b, 100)
		require.NoError(t, err)
		require.Equal(t, addr(b), addr(r), "in place")
		bufs[i] = r
	}
	p := 1 - math.Exp(-112.0/rate)
	_, live := mmalloc.ProfileCounts(a)
	assert.InDelta(t, n*p, float64(live), 3*math.Sqrt(n*p*(1-p)))
	freeAll(t, a.Free, bufs)
}

//go:noinline
func resizeSite(t *testing.T, a *mmalloc.Allocator, b []byte, n int) []byte {
	r, err := a.Realloc(b, n)
	require.NoError(t, err)
	return r
}

type row struct{ A, B int64 }

//go:noinline
func typedSite(t *testing.T, a *mmalloc.Allocator) (*row, []row) {
	v, err := mmalloc.NewValue[row](a)
	require.NoError(t, err)
	s, err := mmalloc.MakeSlice[row](a, 10, 100)
	require.NoError(t, err)
	return v, s
}

//go:noinline
func writeSite(t *testing.T, buf *mmalloc.Buffer, p []byte) {
	_, err := buf.Write(p)
	require.NoError(t, err)
}

// TestProfileSamplingStatistics checks the sampler against its law: an
// allocation of size bytes is sampled with probability
// p = 1 - exp(-size/rate), so n of them give a binomial count of samples,
// n*p on average, within 3 standard deviations sqrt(n*p*(1-p)). The
// seeds are fixed, and the test runs on one P, so that it is repeatable.
func TestProfileSamplingStatistics(t *testing.T) {
	skipWithInvariants(t, "validate after each of 300,000 calls takes a minute")
	cases := []struct {
		via        string
		size, n    int
		rate       int
		seed       uint64
		reallocate bool // free each allocation at once, as a pair does
	}{
		{"Allocator", 16, 200_000, 4 * kib, 1, true},
		{"Allocator", 1 * kib, 20_000, 64 * kib, 2, false},
		{"Cache", 4 * kib, 20_000, 64 * kib, 3, false},
		{"Cache", 256, 100_000, 16 * kib, 4, true},
		{"Allocator", 32 * kib, 2000, 512 * kib, 5, true},
		{"Allocator", 256 * kib, 400, 1 * mib, 6, true},
		{"Allocator", 4 * kib, 1000, 1, 7, true},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s/size=%d/rate=%d", c.via, c.size, c.rate), func(t *testing.T) {
			oneP(t)
			a := newAlloc(t, mmalloc.Options{ProfileRate: c.rate})
			mmalloc.SeedProfile(a, c.seed)
			alloc, free := a.AllocUninit, a.Free
			if c.via == "Cache" {
				cache := a.NewCache()
				alloc, free = cache.AllocUninit, cache.Free
			}
			var held [][]byte
			for range c.n {
				b, err := alloc(c.size)
				require.NoError(t, err)
				if c.reallocate {
					require.NoError(t, free(b))
				} else {
					held = append(held, b)
				}
			}
			freeAll(t, free, held)
			sampled, live := mmalloc.ProfileCounts(a)
			assert.Zero(t, live)
			usable := a.UsableSize(c.size)
			p := 1 - math.Exp(-float64(usable)/float64(c.rate))
			if c.rate == 1 {
				p = 1
			}
			want := float64(c.n) * p
			sigma := math.Sqrt(float64(c.n) * p * (1 - p))
			assert.InDelta(t, want, float64(sampled), 3*sigma+1e-9, "samples of %d allocations (3σ = %.1f)", c.n, 3*sigma)
		})
	}
}

// TestProfileLiveSetEstimate is the acceptance check of the issue: a live
// set of 10,000 × 4 KiB at the default rate, estimated within 20% of the
// truth. At 512 KiB about 78 of the 10,000 are sampled, so the estimate's
// standard deviation is 11%: 20% is 1.8σ, met by about 93% of runs. Over
// 20 seeds, each a fresh Allocator through a Cache (one sampler, so each
// run is repeatable), the test asks that 17 are within 20% and that their
// mean is within 5%.
func TestProfileLiveSetEstimate(t *testing.T) {
	skipWithInvariants(t, "validate after each of 400,000 calls takes half a minute")
	const n, size, runs = 10_000, 4 * kib, 20
	truth := float64(n * size)
	within, sum := 0, 0.0
	for seed := range uint64(runs) {
		a, err := mmalloc.New(mmalloc.Options{})
		require.NoError(t, err)
		mmalloc.SeedProfile(a, seed)
		c := a.NewCache()
		bufs := siteA(t, c.AllocUninit, n, size)
		got := float64(bySite(t, parseProfile(t, a))["mmalloc_test.siteA"].inuseSpace)
		sum += got
		if math.Abs(got-truth) <= 0.2*truth {
			within++
		}
		freeAll(t, c.Free, bufs)
		require.NoError(t, a.Close())
	}
	t.Logf("%d of %d runs within 20%% of %d bytes; mean estimate %.0f (%+.1f%%)", within, runs, n*size, sum/runs, 100*(sum/runs-truth)/truth)
	assert.GreaterOrEqual(t, within, 17, "runs within 20%% of %d bytes", n*size)
	assert.InEpsilon(t, truth, sum/runs, 0.05, "mean estimate")
}

// TestProfileSamplingOff: a negative rate samples nothing and writes an
// empty profile; the default rate samples.
func TestProfileSamplingOff(t *testing.T) {
	a := newAlloc(t, mmalloc.Options{ProfileRate: -1})
	freeAll(t, a.Free, siteA(t, a.Alloc, 100, 1*mib))
	sampled, _ := mmalloc.ProfileCounts(a)
	assert.Zero(t, sampled)
	assert.Empty(t, parseProfile(t, a).Sample)

	d := newAlloc(t, mmalloc.Options{})
	freeAll(t, d.Free, siteA(t, d.Alloc, 100, 1*mib))
	sampled, _ = mmalloc.ProfileCounts(d)
	assert.Greater(t, sampled, int64(50), "1 MiB allocations at 512 KiB: 86%% are sampled")
	assert.Equal(t, int64(mmalloc.DefaultProfileRate), parseProfile(t, d).Period)
}

// TestProfileConcurrent allocates, resizes and frees on many goroutines,
// through the Allocator and Caches, while others write the profile, and
// checks that every sample is accounted for at the end. Run it with -race.
func TestProfileConcurrent(t *testing.T) {
	const workers = 4
	ops := 3000
	if testing.Short() {
		ops = 500
	}
	for _, rate := range []int{1, 2 * kib} {
		t.Run(fmt.Sprintf("rate=%d", rate), func(t *testing.T) {
			a := newAlloc(t, mmalloc.Options{ProfileRate: rate})
			var wg sync.WaitGroup
			var stop atomic.Bool
			handoff := make(chan []byte, 64) // frees on another goroutine
			var writers sync.WaitGroup
			for range 2 {
				writers.Add(1)
				go func() {
					defer writers.Done()
					for !stop.Load() {
						if err := a.WriteHeapProfile(io.Discard); err != nil {
							panic(err)
						}
					}
				}()
			}
			for w := range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					alloc, free := a.Alloc, a.Free
					if w%2 == 1 {
						c := a.NewCache()
						alloc, free = c.Alloc, c.Free
						defer c.Flush()
					}
					var held [][]byte
					for i := range ops {
						b, err := alloc(16 << (i % 12))
						if err != nil {
							panic(err)
						}
						switch i % 4 {
						case 0:
							held = append(held, b)
						case 1:
							if b, err = a.Realloc(b, 1+i%(256*kib)); err != nil {
								panic(err)
							}
							held = append(held, b)
						case 2:
							select {
							case handoff <- b:
							default:
								held = append(held, b)
							}
						default:
							if err := free(b); err != nil {
								panic(err)
							}
						}
						select {
						case b := <-handoff:
							if err := free(b); err != nil {
								panic(err)
							}
						default:
						}
					}
					for _, b := range held {
						if err := free(b); err != nil {
							panic(err)
						}
					}
				}()
			}
			wg.Wait()
			close(handoff)
			for b := range handoff {
				require.NoError(t, a.Free(b))
			}
			stop.Store(true)
			writers.Wait()

			sampled, live := mmalloc.ProfileCounts(a)
			assert.Zero(t, live)
			if rate == 1 {
				// Every Alloc and every Realloc allocates once.
				assert.Equal(t, int64(workers*ops*5/4), sampled)
			}
			for name, s := range bySite(t, parseProfile(t, a)) {
				assert.Zero(t, s.inuseObjects, name)
			}
			require.NoError(t, a.Validate())
		})
	}
}

// leakSite allocates n buffers and forgets some of them.
//
//go:noinline
func leakSite(a *mmalloc.Allocator, n int) {
	for i := range n {
		b, err := a.Alloc(1000)
		if err != nil {
			panic(err)
		}
		if i%4 != 0 {
			_ = a.Free(b)
		}
	}
}

// recorder is a TestingT that keeps what CheckLeaks reports.
type recorder struct {
	helped bool
	errors []string
}

func (r *recorder) Helper() { r.helped = true }

func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

// TestCheckLeaks: an Allocator with live allocations fails the test with
// their count, bytes and call stacks; one without passes; without
// ProfileRate 1 the report says what it lacks.
func TestCheckLeaks(t *testing.T) {
	t.Run("every allocation sampled", func(t *testing.T) {
		a := newAlloc(t, mmalloc.Options{ProfileRate: 1})
		c := a.NewCache()
		leakSite(a, 40) // 10 leaked
		b, err := c.Alloc(64)
		require.NoError(t, err) // leaked through a Cache that never flushed
		var r recorder
		assert.False(t, mmalloc.CheckLeaks(&r, a))
		assert.True(t, r.helped)
		require.Len(t, r.errors, 1)
		report := r.errors[0]
		assert.Contains(t, report, fmt.Sprintf("11 allocations (%d bytes) still live", 10*a.UsableSize(1000)+64))
		assert.Contains(t, report, "allocated at:")
		assert.Contains(t, report, fmt.Sprintf("%d bytes in 10 allocations of %d bytes", 10*a.UsableSize(1000), a.UsableSize(1000)))
		assert.Contains(t, report, "mmalloc_test.leakSite\n")
		assert.Contains(t, report, "profile_test.go:")
		assert.Less(t, strings.Index(report, "leakSite"), strings.Index(report, "TestCheckLeaks.func1"), "the most bytes first")
		assert.NotContains(t, report, "mmalloc.(*Allocator)", "mmalloc's own frames are left out")

		require.NoError(t, c.Free(b))
	})

	t.Run("no leak", func(t *testing.T) {
		a := newAlloc(t, mmalloc.Options{ProfileRate: 1})
		freeAll(t, a.Free, siteA(t, a.Alloc, 10, 100))
		var r recorder
		assert.True(t, mmalloc.CheckLeaks(&r, a))
		assert.Empty(t, r.errors)
	})

	t.Run("sampled", func(t *testing.T) {
		a := newAlloc(t, mmalloc.Options{ProfileRate: 64 * kib})
		bufs := siteA(t, a.Alloc, 100, 32*kib)
		var r recorder
		assert.False(t, mmalloc.CheckLeaks(&r, a))
		require.Len(t, r.errors, 1)
		assert.Contains(t, r.errors[0], fmt.Sprintf("100 allocations (%d bytes) still live", 100*32*kib))
		assert.Contains(t, r.errors[0], "estimates; set ProfileRate to 1")
		assert.Contains(t, r.errors[0], "mmalloc_test.siteA")
		freeAll(t, a.Free, bufs)
	})

	t.Run("sampling off", func(t *testing.T) {
		a := newAlloc(t, mmalloc.Options{ProfileRate: -1})
		bufs := siteA(t, a.Alloc, 3, 100)
		var r recorder
		assert.False(t, mmalloc.CheckLeaks(&r, a))
		require.Len(t, r.errors, 1)
		assert.Contains(t, r.errors[0], "3 allocations")
		assert.Contains(t, r.errors[0], "sampling is off")
		freeAll(t, a.Free, bufs)
	})

	t.Run("zero Allocator", func(t *testing.T) {
		var r recorder
		assert.False(t, mmalloc.CheckLeaks(&r, &mmalloc.Allocator{}))
		assert.False(t, mmalloc.CheckLeaks(&r, nil))
		assert.Len(t, r.errors, 2)
		assert.ErrorIs(t, (&mmalloc.Allocator{}).WriteHeapProfile(io.Discard), mmalloc.ErrUninitialized)
	})
}

// profileNames makes names no other test (or run of this one) publishes.
var profileNames atomic.Int64

func uniqueName(prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, profileNames.Add(1))
}

// TestServeHeapProfile serves published Allocators and the Default one,
// all together with labels, by name, and as text.
func TestServeHeapProfile(t *testing.T) {
	a := newAlloc(t, mmalloc.Options{ProfileRate: 1})
	b := newAlloc(t, mmalloc.Options{ProfileRate: 1})
	nameA, nameB := uniqueName("served-a"), uniqueName("served-b")
	require.NoError(t, a.PublishProfile(nameA))
	require.NoError(t, b.PublishProfile(nameB))
	bufsA := siteA(t, a.Alloc, 3, 1000)
	bufsB := siteB(t, b.Alloc, 2, 2000)
	defer freeAll(t, a.Free, bufsA)
	defer freeAll(t, b.Free, bufsB)

	get := func(query string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		mmalloc.ServeHeapProfile(w, httptest.NewRequest("GET", "/debug/pprof/mmalloc"+query, nil))
		return w
	}
	parse := func(w *httptest.ResponseRecorder) map[string]map[string]int64 {
		require.Equal(t, 200, w.Code)
		assert.Equal(t, "application/octet-stream", w.Header().Get("Content-Type"))
		p, err := profile.Parse(w.Body)
		require.NoError(t, err)
		require.NoError(t, p.CheckValid())
		inuse := map[string]map[string]int64{} // allocator, leaf: objects
		for _, s := range p.Sample {
			name := s.Label["allocator"]
			require.Len(t, name, 1)
			if inuse[name[0]] == nil {
				inuse[name[0]] = map[string]int64{}
			}
			inuse[name[0]][leafFunction(s)] += s.Value[2]
		}
		return inuse
	}

	all := parse(get(""))
	assert.Equal(t, int64(3), all[nameA]["github.com/mmalloc/mmalloc_test.siteA"])
	assert.Equal(t, int64(2), all[nameB]["github.com/mmalloc/mmalloc_test.siteB"])

	one := parse(get("?name=" + nameB))
	assert.Equal(t, map[string]map[string]int64{nameB: {"github.com/mmalloc/mmalloc_test.siteB": 2}}, one)

	d, err := mmalloc.Alloc(100)
	require.NoError(t, err)
	defer mmalloc.Free(d)
	w := get("?name=default&name=" + nameA)
	p, err := profile.Parse(w.Body)
	require.NoError(t, err)
	for _, s := range p.Sample {
		assert.Contains(t, []string{"default", nameA}, s.Label["allocator"][0])
	}

	w = get("?name=no-such-allocator")
	assert.Equal(t, 404, w.Code)

	w = get("?debug=1&name=" + nameA)
	require.Equal(t, 200, w.Code)
	assert.Contains(t, w.Body.String(), "== "+nameA+" (ProfileRate 1)")
	assert.Contains(t, w.Body.String(), fmt.Sprintf("%d bytes in 3 allocations of %d bytes", 3*a.UsableSize(1000), a.UsableSize(1000)))
	assert.Contains(t, w.Body.String(), "mmalloc_test.siteA")
}

// TestPublishProfileNames: names are unique across the process, and the
// empty name, control characters and "default" are refused.
func TestPublishProfileNames(t *testing.T) {
	a := newAlloc(t, mmalloc.Options{})
	name := uniqueName("taken")
	require.NoError(t, a.PublishProfile(name))
	for _, bad := range []string{name, "", "default", "two\nlines"} {
		assert.ErrorIs(t, newAlloc(t, mmalloc.Options{}).PublishProfile(bad), mmalloc.ErrProfileName, "%q", bad)
	}
	assert.ErrorIs(t, (&mmalloc.Allocator{}).PublishProfile(uniqueName("zero")), mmalloc.ErrUninitialized)
}

// cacheEntries and handleRequest stand for a program's code in the
// README's "Finding leaks": one keeps what it allocates (the leak), the
// other frees it.
//
//go:noinline
func cacheEntries(a *mmalloc.Allocator, n int) [][]byte {
	entries := make([][]byte, n)
	for i := range entries {
		b, err := a.Alloc(4 * kib)
		if err != nil {
			panic(err)
		}
		entries[i] = b
	}
	return entries
}

//go:noinline
func handleRequest(a *mmalloc.Allocator) {
	b, err := a.AllocUninit(64 * kib)
	if err != nil {
		panic(err)
	}
	b[0] = 1
	_ = a.Free(b)
}

// TestProfileLeakDemo is the README's "Finding leaks", at the default
// rate: 10,000 buffers of 4 KiB left live by cacheEntries and 2,000 of
// 64 KiB allocated and freed by handleRequest. The live set's estimate is
// within 20% of the truth; handleRequest holds nothing. One seed on one P
// makes it repeat exactly. With MMALLOC_LEAK_PROFILE=file it keeps the
// profile there, for go tool pprof -top file.
func TestProfileLeakDemo(t *testing.T) {
	oneP(t)
	a := newAlloc(t, mmalloc.Options{})
	mmalloc.SeedProfile(a, 1)
	leaked := cacheEntries(a, 10_000)
	for range 2000 {
		handleRequest(a)
	}
	p := parseProfile(t, a)
	if path := os.Getenv("MMALLOC_LEAK_PROFILE"); path != "" {
		f, err := os.Create(path)
		require.NoError(t, err)
		require.NoError(t, a.WriteHeapProfile(f))
		require.NoError(t, f.Close())
	}
	sites := bySite(t, p)
	truth := float64(10_000 * 4 * kib)
	assert.InEpsilon(t, truth, float64(sites["mmalloc_test.cacheEntries"].inuseSpace), 0.2, "live bytes of cacheEntries")
	require.NotNil(t, sites["mmalloc_test.handleRequest"], "2000 × 64 KiB: sampled")
	assert.Zero(t, sites["mmalloc_test.handleRequest"].inuseSpace)
	assert.InEpsilon(t, 2000*64*kib, float64(sites["mmalloc_test.handleRequest"].allocSpace), 0.2)
	freeAll(t, a.Free, leaked)
}

// goHeapObjectBytes returns the bytes of live objects on the Go heap after
// a collection.
func goHeapObjectBytes() int64 {
	runtime.GC()
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return int64(s[0].Value.Uint64())
}

// TestProfileGivesBackItsPeak: an Allocator sampling every allocation
// holds 256K live ones, which its profile tracks on the Go heap; once they
// are freed, by Free or FreeRef, the Go heap comes back within 1 MiB of
// where it started.
func TestProfileGivesBackItsPeak(t *testing.T) {
	const n = 256 << 10
	for _, via := range []string{"Free", "FreeRef"} {
		t.Run(via, func(t *testing.T) {
			a := newAlloc(t, mmalloc.Options{ProfileRate: 1})
			refs := make([]mmalloc.Ref, n)
			r, err := a.AllocRef(16) // the call stack's bucket exists before the start
			require.NoError(t, err)
			require.NoError(t, a.FreeRef(r))
			start := goHeapObjectBytes()
			for i := range refs {
				refs[i], err = a.AllocRef(16)
				require.NoError(t, err)
			}
			peak := goHeapObjectBytes()
			_, live := mmalloc.ProfileCounts(a)
			require.Equal(t, int64(n), live)
			require.Greater(t, peak-start, int64(8*mib), "the profile of %d live samples", n)
			for _, r := range refs {
				if via == "Free" {
					err = a.Free(r.UnsafeBytes(16))
				} else {
					err = a.FreeRef(r)
				}
				require.NoError(t, err)
			}
			_, live = mmalloc.ProfileCounts(a)
			require.Zero(t, live)
			end := goHeapObjectBytes()
			assert.LessOrEqual(t, end-start, int64(1*mib),
				"Go heap: %d bytes at the start, %d with %d samples live, %d once all are freed", start, peak, n, end)
			runtime.KeepAlive(a)
			runtime.KeepAlive(refs)
		})
	}
}

// allocInlined is small enough to be inlined into its callers: a frame
// of its own in the profile, none on the stack.
func allocInlined(a *mmalloc.Allocator, n int) ([]byte, error) { return a.Alloc(n) }

// unwindWorkload allocates, with every allocation sampled, through every
// kind of call the profile must show the same way by either unwinder: a
// direct call, an inlined helper, a method value (a compiler-made
// wrapper), a Cache, Realloc, a typed generic helper, a Buffer, and a
// goroutine started with arguments (another wrapper). It returns what it
// allocated.
//
//go:noinline
func unwindWorkload(t *testing.T, a *mmalloc.Allocator) (bufs [][]byte, v *row, s []row, buf *mmalloc.Buffer) {
	b, err := a.Alloc(100)
	require.NoError(t, err)
	bufs = append(bufs, b)
	b, err = allocInlined(a, 200)
	require.NoError(t, err)
	bufs = append(bufs, b)
	bufs = append(bufs, siteA(t, a.Alloc, 2, 300)...)
	bufs = append(bufs, siteB(t, a.NewCache().AllocUninit, 2, 400)...)
	b, err = a.Alloc(500)
	require.NoError(t, err)
	bufs = append(bufs, resizeSite(t, a, b, 5000))
	v, s = typedSite(t, a)
	buf = mmalloc.NewBuffer(a)
	writeSite(t, buf, make([]byte, 600))
	done := make(chan [][]byte)
	go func(alloc func(int) ([]byte, error)) { done <- siteA(t, alloc, 1, 700) }(a.Alloc)
	bufs = append(bufs, <-done...)
	var wg sync.WaitGroup
	wg.Add(1)
	var fromGo [][]byte
	go goSite(t, &wg, a, &fromGo)
	wg.Wait()
	return append(bufs, fromGo...), v, s, buf
}

//go:noinline
func goSite(t *testing.T, wg *sync.WaitGroup, a *mmalloc.Allocator, out *[][]byte) {
	defer wg.Done()
	*out = siteB(t, a.Alloc, 1, 800)
}

// TestProfileUnwindersAgree: the profile of one workload is the same,
// stack for stack and value for value, whether samples take their call
// stacks by frame pointers or by runtime.Callers.
func TestProfileUnwindersAgree(t *testing.T) {
	var got [2]map[string][]int64
	for i, fp := range []bool{true, false} {
		was := mmalloc.SetFramePointers(fp)
		a := newAlloc(t, mmalloc.Options{ProfileRate: 1})
		bufs, v, s, buf := unwindWorkload(t, a)
		mmalloc.SetFramePointers(was)

		got[i] = map[string][]int64{}
		for _, smp := range parseProfile(t, a).Sample {
			var stack strings.Builder
			for _, loc := range smp.Location {
				for _, l := range loc.Line {
					fmt.Fprintf(&stack, "%s %s:%d\n", l.Function.Name, l.Function.Filename, l.Line)
				}
			}
			key := fmt.Sprintf("%d bytes at\n%s", smp.NumLabel["bytes"][0], stack.String())
			got[i][key] = append(got[i][key], smp.Value...)
		}
		freeAll(t, a.Free, bufs)
		require.NoError(t, mmalloc.FreeValue(a, v))
		require.NoError(t, mmalloc.FreeSlice(a, s))
		require.NoError(t, buf.Free())
	}
	require.Len(t, got[1], 11, "a sample per call site and size")
	assert.Equal(t, got[1], got[0])
	for stack := range got[0] {
		assert.NotContains(t, stack, "mmalloc.(*", "mmalloc's own frames are trimmed")
		assert.NotContains(t, stack, "gowrap", "wrappers are left out")
		assert.NotContains(t, stack, "-fm ", "wrappers are left out")
	}
	found := false
	for stack := range got[0] {
		found = found || strings.HasPrefix(stack[strings.IndexByte(stack, '\n')+1:], "github.com/mmalloc/mmalloc_test.allocInlined ")
	}
	assert.True(t, found, "the inlined helper is the leaf of its sample")
}

// freeEnv is what a freeCase works on: an Allocator sampling every
// allocation, a Cache of it, and another Allocator sampling every
// allocation too.
type freeEnv struct {
	t        *testing.T
	a, other *mmalloc.Allocator
	c        *mmalloc.Cache
}

// freeCase is one way of freeing an allocation, or of trying to.
type freeCase struct {
	name string
	size int    // the victim's size
	from string // who allocates the victim: "a" (default), "cache" or "other"
	// prep runs before the live sets are taken (a first free, a Close).
	prep func(e *freeEnv, v []byte)
	// op frees v, or tries to, and returns what it allocated (Realloc).
	op    func(e *freeEnv, v []byte) ([]byte, error)
	err   error // the error op must return; nil: none
	drops bool  // the victim's sample leaves the live set
}

// asRow and asRows view v as NewValue's and MakeSlice's results.
func asRow(v []byte) *row { return (*row)(unsafe.Pointer(unsafe.SliceData(v))) }

func asRows(v []byte) []row {
	return unsafe.Slice(asRow(v), cap(v)/int(unsafe.Sizeof(row{})))
}

func freeOnly(free func(e *freeEnv, v []byte) error) func(e *freeEnv, v []byte) ([]byte, error) {
	return func(e *freeEnv, v []byte) ([]byte, error) { return nil, free(e, v) }
}

func reallocTo(n int) func(e *freeEnv, v []byte) ([]byte, error) {
	return func(e *freeEnv, v []byte) ([]byte, error) { return e.a.Realloc(v, n) }
}

func freeFirst(e *freeEnv, v []byte) { require.NoError(e.t, e.a.Free(v)) }

// freeCases: every way of freeing an allocation, each of which must drop
// its sample and no other, and every way of not freeing one (ignored or
// refused), none of which may drop any sample.
var freeCases = []freeCase{
	{name: "Free small", size: 100, op: freeOnly(func(e *freeEnv, v []byte) error { return e.a.Free(v) }), drops: true},
	{name: "Free large", size: 1 * mib, op: freeOnly(func(e *freeEnv, v []byte) error { return e.a.Free(v) }), drops: true},
	{name: "Free resliced", size: 100, op: freeOnly(func(e *freeEnv, v []byte) error { return e.a.Free(v[:0]) }), drops: true},
	{name: "Free of a Cache's", size: 100, from: "cache", op: freeOnly(func(e *freeEnv, v []byte) error { return e.a.Free(v) }), drops: true},
	{name: "Cache.Free small", size: 100, from: "cache", op: freeOnly(func(e *freeEnv, v []byte) error { return e.c.Free(v) }), drops: true},
	{name: "Cache.Free large", size: 1 * mib, from: "cache", op: freeOnly(func(e *freeEnv, v []byte) error { return e.c.Free(v) }), drops: true},
	{name: "Cache.Free of the Allocator's", size: 100, op: freeOnly(func(e *freeEnv, v []byte) error { return e.c.Free(v) }), drops: true},
	{name: "FreeRef small", size: 100, op: freeOnly(func(e *freeEnv, v []byte) error { return e.a.FreeRef(mmalloc.RefOf(v)) }), drops: true},
	{name: "FreeRef large", size: 1 * mib, op: freeOnly(func(e *freeEnv, v []byte) error { return e.a.FreeRef(mmalloc.RefOf(v)) }), drops: true},
	{name: "Cache.FreeRef small", size: 100, from: "cache", op: freeOnly(func(e *freeEnv, v []byte) error { return e.c.FreeRef(mmalloc.RefOf(v)) }), drops: true},
	{name: "Cache.FreeRef large", size: 1 * mib, op: freeOnly(func(e *freeEnv, v []byte) error { return e.c.FreeRef(mmalloc.RefOf(v)) }), drops: true},
	{name: "FreeValue", size: int(unsafe.Sizeof(row{})), op: freeOnly(func(e *freeEnv, v []byte) error { return mmalloc.FreeValue(e.a, asRow(v)) }), drops: true},
	{name: "FreeSlice", size: 1600, op: freeOnly(func(e *freeEnv, v []byte) error { return mmalloc.FreeSlice(e.a, asRows(v)[:3]) }), drops: true},
	{name: "Realloc small in place", size: 100, op: reallocTo(112), drops: true},
	{name: "Realloc small moved", size: 100, op: reallocTo(1000), drops: true},
	{name: "Realloc small to large", size: 1000, op: reallocTo(1 * mib), drops: true},
	{name: "Realloc large remapped", size: 1 * mib, op: reallocTo(8 * mib), drops: true},
	{name: "Realloc large in place", size: 1 * mib, op: reallocTo(1*mib - 100), drops: true},
	{name: "Realloc large to small", size: 1 * mib, op: reallocTo(1000), drops: true},
	{name: "Realloc to nothing", size: 1000, op: reallocTo(0), drops: true},
	{name: "Realloc of a Cache's", size: 100, from: "cache", op: reallocTo(1000), drops: true},

	// Ignored: an empty slice, whatever its address.
	{name: "Free empty", size: 100, op: freeOnly(func(e *freeEnv, v []byte) error { return e.a.Free(v[:0:0]) })},
	{name: "Free empty large", size: 1 * mib, op: freeOnly(func(e *freeEnv, v []byte) error { return e.a.Free(v[:0:0]) })},
	{name: "Cache.Free empty", size: 100, from: "cache", op: freeOnly(func(e *freeEnv, v []byte) error { return e.c.Free(v[:0:0]) })},
	{name: "Cache.Free empty large", size: 1 * mib, op: freeOnly(func(e *freeEnv, v []byte) error { return e.c.Free(v[:0:0]) })},
	{name: "FreeSlice empty", size: 1600, op: freeOnly(func(e *freeEnv, v []byte) error { return mmalloc.FreeSlice(e.a, asRows(v)[:0:0]) })},
	{name: "Realloc empty", size: 100, op: func(e *freeEnv, v []byte) ([]byte, error) { return e.a.Realloc(v[:0:0], 100) }},

	// Refused.
	{name: "Free interior", size: 100, op: freeOnly(func(e *freeEnv, v []byte) error { return e.a.Free(v[16:]) }), err: mmalloc.ErrInvalidPointer},
	{name: "Free interior large", size: 1 * mib, op: freeOnly(func(e *freeEnv, v []byte) error { return e.a.Free(v[4096:]) }), err: mmalloc.ErrInvalidPointer},
	{name: "Cache.Free interior", size: 100, op: freeOnly(func(e *freeEnv, v []byte) error { return e.c.Free(v[16:]) }), err: mmalloc.ErrInvalidPointer},
	{name: "FreeRef interior", size: 100, op: freeOnly(func(e *freeEnv, v []byte) error { return e.a.FreeRef(mmalloc.RefOf(v) + 16) }), err: mmalloc.ErrInvalidPointer},
	{name: "Cache.FreeRef interior", size: 1 * mib, op: freeOnly(func(e *freeEnv, v []byte) error { return e.c.FreeRef(mmalloc.RefOf(v) + 4096) }), err: mmalloc.ErrInvalidPointer},
	{name: "Realloc interior", size: 100, op: func(e *freeEnv, v []byte) ([]byte, error) { return e.a.Realloc(v[16:], 1000) }, err: mmalloc.ErrInvalidPointer},
	{name: "Realloc bad size", size: 100, op: reallocTo(-1), err: mmalloc.ErrInvalidSize},
	{name: "Realloc past Limit", size: 1 * mib, op: reallocTo(64 * mib), err: mmalloc.ErrOutOfMemory},
	{name: "Realloc small past Limit", size: 1000, op: reallocTo(64 * mib), err: mmalloc.ErrOutOfMemory},
	{name: "Free foreign", size: 100, from: "other", op: freeOnly(func(e *freeEnv, v []byte) error { return e.a.Free(v) }), err: mmalloc.ErrForeignPointer},
	{name: "Free foreign large", size: 1 * mib, from: "other", op: freeOnly(func(e *freeEnv, v []byte) error { return e.a.Free(v) }), err: mmalloc.ErrForeignPointer},
	{name: "Cache.Free foreign", size: 100, from: "other", op: freeOnly(func(e *freeEnv, v []byte) error { return e.c.Free(v) }), err: mmalloc.ErrForeignPointer},
	{name: "FreeRef foreign", size: 100, from: "other", op: freeOnly(func(e *freeEnv, v []byte) error { return e.a.FreeRef(mmalloc.RefOf(v)) }), err: mmalloc.ErrForeignPointer},
	{name: "Realloc foreign", size: 100, from: "other", op: reallocTo(1000), err: mmalloc.ErrForeignPointer},
	{name: "Free double", size: 100, prep: freeFirst, op: freeOnly(func(e *freeEnv, v []byte) error { return e.a.Free(v) }), err: mmalloc.ErrDoubleFree},
	{name: "Free double large", size: 1 * mib, prep: freeFirst, op: freeOnly(func(e *freeEnv, v []byte) error { return e.a.Free(v) }), err: mmalloc.ErrDoubleFree},
	{name: "Cache.Free double", size: 100, prep: freeFirst, op: freeOnly(func(e *freeEnv, v []byte) error { return e.c.Free(v) }), err: mmalloc.ErrDoubleFree},
	{name: "FreeRef double", size: 100, prep: freeFirst, op: freeOnly(func(e *freeEnv, v []byte) error { return e.a.FreeRef(mmalloc.RefOf(v)) }), err: mmalloc.ErrDoubleFree},
	{name: "FreeValue double", size: int(unsafe.Sizeof(row{})), prep: freeFirst, op: freeOnly(func(e *freeEnv, v []byte) error { return mmalloc.FreeValue(e.a, asRow(v)) }), err: mmalloc.ErrDoubleFree},
	{name: "Realloc double", size: 100, prep: freeFirst, op: reallocTo(1000), err: mmalloc.ErrDoubleFree},
	{name: "Cache.Free closed Cache", size: 100, prep: func(e *freeEnv, v []byte) { require.NoError(e.t, e.c.Close()) },
		op: freeOnly(func(e *freeEnv, v []byte) error { return e.c.Free(v) }), err: mmalloc.ErrClosed},
	{name: "Cache.FreeRef closed Cache", size: 100, prep: func(e *freeEnv, v []byte) { require.NoError(e.t, e.c.Close()) },
		op: freeOnly(func(e *freeEnv, v []byte) error { return e.c.FreeRef(mmalloc.RefOf(v)) }), err: mmalloc.ErrClosed},
	{name: "Free closed", size: 100, prep: func(e *freeEnv, v []byte) { require.NoError(e.t, e.a.Close()) },
		op: freeOnly(func(e *freeEnv, v []byte) error { return e.a.Free(v) }), err: mmalloc.ErrClosed},
	{name: "Cache.Free closed", size: 1 * mib, prep: func(e *freeEnv, v []byte) { require.NoError(e.t, e.a.Close()) },
		op: freeOnly(func(e *freeEnv, v []byte) error { return e.c.Free(v) }), err: mmalloc.ErrClosed},
	{name: "FreeRef closed", size: 100, prep: func(e *freeEnv, v []byte) { require.NoError(e.t, e.a.Close()) },
		op: freeOnly(func(e *freeEnv, v []byte) error { return e.a.FreeRef(mmalloc.RefOf(v)) }), err: mmalloc.ErrClosed},
	{name: "Realloc closed", size: 100, prep: func(e *freeEnv, v []byte) { require.NoError(e.t, e.a.Close()) }, op: reallocTo(1000), err: mmalloc.ErrClosed},
}

// TestProfileFreesDropTheirOwnSample: with every allocation sampled, each
// way of freeing takes exactly the freed allocation's sample out of the
// live set (and a Realloc puts its result's in), and each free that is
// ignored or refused takes none, in either mode. Beside the victim live
// small and large allocations of the Allocator, of a Cache and of another
// Allocator, whose samples must stay; and at every quiet point the live
// samples are the live allocations Stats counts.
func TestProfileFreesDropTheirOwnSample(t *testing.T) {
	for _, guard := range []bool{false, true} {
		for _, fc := range freeCases {
			t.Run(fmt.Sprintf("guard=%v/%s", guard, fc.name), func(t *testing.T) {
				opts := mmalloc.Options{ProfileRate: 1, Guard: guard, Limit: 48 * mib}
				e := &freeEnv{t: t, a: newAlloc(t, opts), other: newAlloc(t, opts)}
				e.c = e.a.NewCache()
				t.Cleanup(func() { _ = e.c.Close() })
				var neighbours [][]byte
				for _, alloc := range []func(int) ([]byte, error){e.a.Alloc, e.c.Alloc, e.other.Alloc} {
					for _, n := range []int{100, 5000, 1 * mib} {
						b, err := alloc(n)
						require.NoError(t, err)
						neighbours = append(neighbours, b)
					}
				}
				owner, alloc := e.a, e.a.Alloc
				switch fc.from {
				case "cache":
					alloc = e.c.Alloc
				case "other":
					owner, alloc = e.other, e.other.Alloc
				}
				v, err := alloc(fc.size)
				require.NoError(t, err)
				require.Contains(t, mmalloc.ProfileLiveSet(owner), addr(v), "every allocation is sampled")
				if fc.prep != nil {
					fc.prep(e, v)
				}
				beforeA, beforeOther := mmalloc.ProfileLiveSet(e.a), mmalloc.ProfileLiveSet(e.other)
				assertLiveIsSampled(t, e.a)

				got, err := fc.op(e, v)
				if fc.err == nil {
					require.NoError(t, err)
				} else {
					require.ErrorIs(t, err, fc.err)
				}

				wantA, wantOther := maps.Clone(beforeA), maps.Clone(beforeOther)
				want := wantA
				if owner == e.other {
					want = wantOther
				}
				if fc.drops {
					require.Contains(t, want, addr(v))
					delete(want, addr(v))
				}
				if cap(got) > 0 {
					wantA[addr(got)] = int64(cap(got))
				}
				assert.Equal(t, wantA, mmalloc.ProfileLiveSet(e.a), "the Allocator's live samples")
				assert.Equal(t, wantOther, mmalloc.ProfileLiveSet(e.other), "the other Allocator's live samples")
				assertLiveIsSampled(t, e.a)
				assertLiveIsSampled(t, e.other)
			})
		}
	}
}

// assertLiveIsSampled checks, on an open Allocator sampling every
// allocation, that its live samples are as many as its live allocations.
func assertLiveIsSampled(t *testing.T, a *mmalloc.Allocator) {
	t.Helper()
	if _, err := a.Bytes(0); err != nil { // closed: Stats has forgotten, the profile not
		return
	}
	assert.Equal(t, a.Stats().Live, int64(len(mmalloc.ProfileLiveSet(a))), "live allocations and live samples")
}

// profileRates are the two sides of BenchmarkProfileCost.
var profileRates = []struct {
	name string
	rate int
}{
	{"off", -1},
	{"default", 0}, // DefaultProfileRate, 512 KiB
}

// BenchmarkProfileCost measures what sampling at the default rate costs
// against sampling off, on the bench program's three workloads: pair (one
// Alloc+Free of one size), churn (a live set of 10,000 buffers of mixed
// sizes, each op freeing one at random and allocating its successor) and
// batch (10,000 allocations, then 10,000 frees; ns/op is per buffer).
// Compare the two sides with benchstat -col /profile.
func BenchmarkProfileCost(b *testing.B) {
	for _, p := range profileRates {
		opts := mmalloc.Options{ProfileRate: p.rate}
		for _, n := range []int{16, 1 << 10, 4 << 10, 1 << 20} {
			b.Run(fmt.Sprintf("workload=pair/size=%d/impl=mmalloc/profile=%s", n, p.name), func(b *testing.B) {
				a := newAlloc(b, opts)
				benchPairOn(b, n, a.Alloc, a.Free)
			})
			b.Run(fmt.Sprintf("workload=pair/size=%d/impl=mmalloc-cache/profile=%s", n, p.name), func(b *testing.B) {
				c := newAlloc(b, opts).NewCache()
				benchPairOn(b, n, c.AllocUninit, c.Free)
			})
		}
		b.Run(fmt.Sprintf("workload=churn/size=16-8192/impl=mmalloc/profile=%s", p.name), func(b *testing.B) {
			a := newAlloc(b, opts)
			benchChurn(b, a.Alloc, a.Free)
		})
		b.Run(fmt.Sprintf("workload=churn/size=16-8192/impl=mmalloc-cache/profile=%s", p.name), func(b *testing.B) {
			c := newAlloc(b, opts).NewCache()
			benchChurn(b, c.AllocUninit, c.Free)
		})
		for _, n := range []int{64, 4 << 10} {
			b.Run(fmt.Sprintf("workload=batch/size=%d/impl=mmalloc-uninit/profile=%s", n, p.name), func(b *testing.B) {
				a := newAlloc(b, opts)
				benchBatch(b, n, a.AllocUninit, a.Free)
			})
			b.Run(fmt.Sprintf("workload=batch/size=%d/impl=mmalloc-cache/profile=%s", n, p.name), func(b *testing.B) {
				c := newAlloc(b, opts).NewCache()
				benchBatch(b, n, c.AllocUninit, c.Free)
			})
		}
	}
}

// BenchmarkProfileSample measures one sampled allocation: a pair with
// every allocation sampled (ProfileRate 1), against a pair with sampling
// off; the difference is what a sample costs (its call stack, the lock,
// the live set) in a shallow stack.
func BenchmarkProfileSample(b *testing.B) {
	for _, rate := range []int{-1, 1} {
		b.Run(fmt.Sprintf("rate=%d", rate), func(b *testing.B) {
			a := newAlloc(b, mmalloc.Options{ProfileRate: rate})
			benchPairOn(b, 64, a.Alloc, a.Free)
		})
	}
}

// benchPairOn is benchPair through the given functions.
func benchPairOn(b *testing.B, n int, alloc allocFunc, free freeFunc) {
	b.ReportAllocs()
	b.SetBytes(int64(n))
	for b.Loop() {
		buf, err := alloc(n)
		if err != nil {
			b.Fatal(err)
		}
		buf[0] = 1
		if err := free(buf); err != nil {
			b.Fatal(err)
		}
	}
}

// Shape of the churn benchmark, after the bench program's churn workload
// on one goroutine: log-uniform sizes from 16 B to 8 KiB, so that small
// buffers dominate the count and large ones the bytes.
const (
	churnLive  = 10_000
	churnSteps = 1 << 16 // precomputed (slot, size) steps, replayed
)

func benchChurn(b *testing.B, alloc allocFunc, free freeFunc) {
	type step struct{ slot, size int }
	steps := make([]step, churnSteps)
	x := uint64(0x9E3779B97F4A7C15)
	next := func() uint64 { // xorshift64*
		x ^= x >> 12
		x ^= x << 25
		x ^= x >> 27
		return x * 2685821657736338717
	}
	churnSize := func(r uint64) int {
		lo := 16 << (r % 9) // 16 B .. 4 KiB, then up to twice that
		return lo + int((r>>8)%uint64(lo)) + 1
	}
	for i := range steps {
		steps[i] = step{int(next() % churnLive), churnSize(next())}
	}
	slots := make([][]byte, churnLive)
	for i := range slots {
		buf, err := alloc(churnSize(next()))
		if err != nil {
			b.Fatal(err)
		}
		slots[i] = buf
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		s := steps[i%churnSteps]
		i++
		if err := free(slots[s.slot]); err != nil {
			b.Fatal(err)
		}
		buf, err := alloc(s.size)
		if err != nil {
			b.Fatal(err)
		}
		buf[0] = 1
		slots[s.slot] = buf
	}
	b.StopTimer()
	for _, buf := range slots {
		if err := free(buf); err != nil {
			b.Fatal(err)
		}
	}
}
