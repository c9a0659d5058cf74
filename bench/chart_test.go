package main

import (
	"bytes"
	"image/png"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gonum.org/v1/plot/vg"
)

// chartHeader is a run's header as the chart shows it.
func chartHeader() Header {
	var ks []Kind
	for _, n := range []string{"mmalloc", "mmalloc-uninit", "mmalloc-cache", "go-heap", "sync.Pool", "modernc"} {
		k, _ := lookupKind(n)
		ks = append(ks, k)
	}
	return Header{Date: time.Date(2026, 11, 26, 7, 52, 0, 0, time.UTC), GoVersion: "go1.26.8", Procs: 2,
		CPU: "Test CPU 9000", Commit: "0123456789ab", Runs: 5, Time: 60 * time.Millisecond, Kinds: ks, CRef: true}
}

// batchLike is a batch-like report whose C reference is far below every
// Go row, as it is in batch at 64 B.
func batchLike() *WorkloadReport {
	rep := &WorkloadReport{Name: "batch"}
	for _, r := range []struct {
		c, a string
		ns   float64
	}{
		{"size=64B", "mmalloc", 37.4}, {"size=64B", "mmalloc-uninit", 34.8}, {"size=64B", "go-heap", 36.4},
		{"size=64B", "modernc", 15.4}, {"size=64B", cRefName, 11.1},
		{"size=4KiB", "mmalloc", 378.6}, {"size=4KiB", "mmalloc-uninit", 56.9}, {"size=4KiB", "go-heap", 831.8},
		{"size=4KiB", "modernc", 2120}, {"size=4KiB", cRefName, 2160},
	} {
		res := resultOf("batch", r.c, r.a, r.ns)
		res.Reference = r.a == cRefName
		rep.Results = append(rep.Results, res)
	}
	return rep
}

func TestWriteChartFormats(t *testing.T) {
	reps := []*WorkloadReport{sampleReport(), batchLike()}
	h := chartHeader()

	var svg bytes.Buffer
	require.NoError(t, writeChart(&svg, "svg", h, reps))
	s := svg.String()
	assert.Contains(t, s, "<svg")
	// The title: date, commit, Go version, machine.
	for _, want := range []string{"2026-11-26 07:52 UTC", "commit 0123456789ab", "go1.26.8", "Test CPU 9000"} {
		assert.Contains(t, s, want)
	}

	var pngOut bytes.Buffer
	require.NoError(t, writeChart(&pngOut, "png", h, reps))
	img, err := png.Decode(&pngOut)
	require.NoError(t, err, "a PNG the program wrote itself")
	assert.Greater(t, img.Bounds().Dx(), 800)

	assert.Error(t, writeChart(&svg, "svg", h, nil), "nothing to draw")
	assert.Error(t, writeChart(&svg, "gif", h, reps))
}

func TestChartShowsEveryReferenceBar(t *testing.T) {
	rep := batchLike()
	legend := legendOrder([]*WorkloadReport{rep})
	abs, _ := workloadPanels(rep, legend)
	// The shortest bar, the C reference at 11.1 ns, must stand at least a
	// factor of two above the axis floor, and the tallest stay below the top.
	assert.LessOrEqual(t, abs.p.Y.Min, 11.1/2)
	assert.Greater(t, abs.p.Y.Min, 0.0)
	assert.Greater(t, abs.p.Y.Max, 2160.0)

	for _, vs := range [][]float64{{11.1, 2160}, {1, 10}, {0.4, 3e9}, {19.99, 20.01}, {1000}} {
		lo, hi := logAxis(vs)
		for _, v := range vs {
			assert.LessOrEqual(t, lo, v/2, "%v", vs)
			assert.Greater(t, hi, v, "%v", vs)
		}
		assert.InDelta(t, 0, math.Log10(lo)-math.Round(math.Log10(lo)), 1e-9, "the floor is a power of ten")
	}
}

func TestChartRatioPanels(t *testing.T) {
	rep := batchLike()
	legend := legendOrder([]*WorkloadReport{rep})
	_, rg := workloadPanels(rep, legend)
	require.NotNil(t, rg)
	assert.Equal(t, []string{"mmalloc", "mmalloc-uninit"}, rg.allocs, "mmalloc's variants only, in legend order")
	// mmalloc (zeroed) ÷ go-heap; mmalloc-uninit ÷ modernc (the fastest peer that does not zero).
	assert.InDelta(t, 37.4/36.4, rg.vals[0][0], 1e-9)
	assert.InDelta(t, 378.6/831.8, rg.vals[0][1], 1e-9)
	assert.InDelta(t, 34.8/15.4, rg.vals[1][0], 1e-9)
	assert.InDelta(t, 56.9/2120, rg.vals[1][1], 1e-9)

	lo, hi := ratioAxis(rg.values())
	assert.Less(t, lo, 56.9/2120)
	assert.Greater(t, hi, 34.8/15.4)
	assert.Less(t, lo, 1.0)
	assert.Greater(t, hi, 1.0)

	// No variant with a like peer: no ratio panel.
	solo := &WorkloadReport{Name: "rss", Results: []*Result{resultOf("rss", "x", "go-heap", 1)}}
	_, rg = workloadPanels(solo, legendOrder([]*WorkloadReport{solo}))
	assert.Nil(t, rg)
}

func TestChartPanelsSizedByContent(t *testing.T) {
	one := &WorkloadReport{Name: "churn", Results: []*Result{
		resultOf("churn", "live=100k", "mmalloc", 1), resultOf("churn", "live=100k", "go-heap", 2)}}
	ten := &WorkloadReport{Name: "pair"}
	for _, size := range pairSizes {
		ten.Results = append(ten.Results, resultOf("pair", sizeCase(size), "mmalloc", 1), resultOf("pair", sizeCase(size), "go-heap", 2))
	}
	legend := legendOrder([]*WorkloadReport{one, ten})
	small, _ := workloadPanels(one, legend)
	big, _ := workloadPanels(ten, legend)
	assert.Greater(t, big.width(1), 3*small.width(1)-2*chartAxisWidth, "ten cases take about ten times the bars' room of one")

	// Panels share rows as they fit; the page is no wider than its limit.
	l := layOut(chartHeader(), [][]panel{{big}, {big}, {big}, {big}, {small}, {small}, {small}}, legend)
	require.Len(t, l.rows, 2)
	assert.Len(t, l.rows[0], 3)
	assert.Len(t, l.rows[1], 4, "the fourth big panel and the three small ones")
	for _, ws := range l.widths {
		total := vg.Length(0)
		for _, w := range ws {
			total += w + chartPanelGap
		}
		assert.LessOrEqual(t, total, l.w-2*chartMargin+1e-6)
	}
}

func TestChartStylesTellVariantsApart(t *testing.T) {
	type look struct {
		fill  [4]uint32
		hatch string
	}
	lookOf := func(s allocStyle) look {
		r, g, b, a := s.fill.RGBA()
		return look{[4]uint32{r, g, b, a}, s.hatch}
	}
	fills := map[[4]uint32]string{}
	hatches := map[string]string{}
	for _, k := range kinds {
		st, ok := allocStyles[k.Name]
		require.True(t, ok, "%s has a style of its own", k.Name)
		l := lookOf(st)
		if other, dup := fills[l.fill]; dup {
			t.Errorf("%s and %s share a hue", k.Name, other)
		}
		fills[l.fill] = k.Name
		if isVariant(k.Name) {
			if other, dup := hatches[st.hatch]; dup {
				t.Errorf("mmalloc variants %s and %s share a hatching %q", k.Name, other, st.hatch)
			}
			hatches[st.hatch] = k.Name
		}
	}
}

func TestHatchLinesStayInside(t *testing.T) {
	r := vg.Rectangle{Min: vg.Point{X: 10, Y: 20}, Max: vg.Point{X: 17, Y: 90}}
	for _, pattern := range []string{"/", "\\", "x", "-", "|"} {
		segs := hatchLines(r, pattern, 3.5)
		require.NotEmpty(t, segs, pattern)
		for _, s := range segs {
			for _, p := range s {
				assert.True(t, p.X >= r.Min.X-1e-9 && p.X <= r.Max.X+1e-9 && p.Y >= r.Min.Y-1e-9 && p.Y <= r.Max.Y+1e-9,
					"%q: %v outside %v", pattern, p, r)
			}
		}
	}
	assert.Empty(t, hatchLines(r, "", 3.5))
}
