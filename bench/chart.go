// The -svg chart: one panel per workload, grouped bars per case.

package main

import (
	"fmt"
	"image/color"
	"io"
	"math"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

// panelSpec says what a workload's panel shows.
type panelSpec struct {
	title  string
	ylabel string
	value  func(*Result) float64
	log    bool // log10 scale, for figures spanning decades
}

// panelFor returns the panel a workload gets in the chart.
func panelFor(workload string) panelSpec {
	figure := func(label string) func(*Result) float64 {
		return func(r *Result) float64 {
			if f, ok := r.figure(label); ok {
				return f.Median()
			}
			return math.NaN()
		}
	}
	perOp := panelSpec{ylabel: "time per op (log scale)", value: (*Result).MedianNs, log: true}
	switch workload {
	case "pair":
		perOp.title = "pair: Alloc + Free of one size, one goroutine (lower is better)"
	case "batch":
		perOp.title = "batch: 10,000 Allocs, then 10,000 Frees; time per buffer (lower is better)"
	case "parallel":
		perOp.title = "parallel: pair on every CPU, one shared allocator; wall time per op (lower is better)"
	case "churn":
		perOp.title = "churn: ~100k live buffers of 16 B–8 KiB, random free + alloc, some frees cross goroutines (lower is better)"
	case "gc":
		return panelSpec{title: "gc: GC share of all CPUs while a live set is held and the program makes Go garbage (lower is better)",
			ylabel: "GC CPU, %", value: figure("GC CPU")}
	case "buffer":
		perOp.title = "buffer: a payload built in 4 KiB writes; mmalloc's Buffer against bytes.Buffer (go-heap) (lower is better)"
	case "rss":
		return panelSpec{title: "rss: resident memory grown per byte requested, 1,000,000 × 100 B (lower is better; 1 = no overhead)",
			ylabel: "RSS growth ÷ requested", value: figure("RSS/req")}
	default:
		perOp.title = workload
	}
	return perOp
}

// logTicks labels a log10-shifted axis: y on the axis is log10(ns) - shift.
type logTicks struct{ shift float64 }

// Ticks puts a labelled tick at each power of ten, and at 2× and 5× too
// when the axis spans less than two decades.
func (t logTicks) Ticks(lo, hi float64) []plot.Tick {
	steps := []float64{1}
	if hi-lo < 2 {
		steps = []float64{1, 2, 5}
	}
	var ticks []plot.Tick
	for e := math.Floor(lo + t.shift); e <= math.Ceil(hi+t.shift); e++ {
		for _, m := range steps {
			y := e + math.Log10(m) - t.shift
			if y < lo || y > hi {
				continue
			}
			ticks = append(ticks, plot.Tick{Value: y, Label: tickLabel(m * math.Pow(10, e))})
		}
	}
	return ticks
}

// newPanel draws one workload as grouped bars: cases along x, one bar per
// allocator.
func newPanel(rep *WorkloadReport) (*plot.Plot, error) {
	spec := panelFor(rep.Name)
	cases, allocs := rep.Cases(), rep.Allocs()
	p := plot.New()
	p.Title.Text = spec.title
	p.Title.TextStyle.Font.Size = vg.Points(9)
	p.Y.Label.Text = spec.ylabel
	p.Legend.Top = true
	p.Legend.TextStyle.Font.Size = vg.Points(8)

	shift := 0.0
	if spec.log {
		lo := math.Inf(1)
		for _, r := range rep.Results {
			if v := spec.value(r); v > 0 {
				lo = min(lo, math.Log10(v))
			}
		}
		if !math.IsInf(lo, 1) {
			shift = math.Floor(lo)
		}
		p.Y.Tick.Marker = logTicks{shift: shift}
	}
	width := vg.Points(float64(min(60, 480/max(1, len(cases))) / max(1, len(allocs))))
	ymax := 0.0
	for i, a := range allocs {
		vals := make(plotter.Values, len(cases))
		for j, c := range cases {
			v := math.NaN()
			if r := rep.Find(c, a); r != nil {
				v = spec.value(r)
			}
			switch {
			case math.IsNaN(v) || v <= 0:
				v = 0
			case spec.log:
				v = math.Log10(v) - shift
			}
			vals[j] = v
			ymax = max(ymax, v)
		}
		bars, err := plotter.NewBarChart(vals, width)
		if err != nil {
			return nil, fmt.Errorf("chart %s: %w", rep.Name, err)
		}
		bars.LineStyle.Width = 0
		bars.Color = allocColor(a, i)
		bars.Offset = vg.Length(float64(i)-float64(len(allocs)-1)/2) * width
		p.Add(bars)
		p.Legend.Add(a, bars)
	}
	p.NominalX(cases...)
	p.X.Tick.Label.Font.Size = vg.Points(8)
	// Room on the right for the legend, above the bars for its height.
	p.X.Max = float64(len(cases)) + 0.8
	p.Y.Min = 0
	p.Y.Max = ymax * 1.15
	p.Add(plotter.NewGrid())
	return p, nil
}

// writeChart draws every workload's panel, stacked, as one SVG.
func writeChart(w io.Writer, reps []*WorkloadReport) error {
	var panels [][]*plot.Plot
	for _, rep := range reps {
		if len(rep.Results) == 0 {
			continue
		}
		p, err := newPanel(rep)
		if err != nil {
			return err
		}
		panels = append(panels, []*plot.Plot{p})
	}
	if len(panels) == 0 {
		return fmt.Errorf("chart: no results to draw")
	}
	const panelHeight = 3.2 * vg.Inch
	c := vgsvg.New(11*vg.Inch, vg.Length(len(panels))*panelHeight)
	dc := draw.New(c)
	dc.SetColor(color.White)
	dc.Fill(dc.Rectangle.Path())
	tiles := draw.Tiles{Rows: len(panels), Cols: 1, PadTop: vg.Points(6), PadBottom: vg.Points(6),
		PadLeft: vg.Points(6), PadRight: vg.Points(6), PadY: vg.Points(14)}
	canvases := plot.Align(panels, tiles, dc)
	for i, row := range panels {
		row[0].Draw(canvases[i][0])
	}
	_, err := c.WriteTo(w)
	return err
}

// tickLabel renders a round number of nanoseconds without trailing zeros.
func tickLabel(ns float64) string {
	return strings.NewReplacer(".00 ", " ", ".0 ", " ").Replace(fmtNs(ns))
}

// allocColor gives each allocator the same colour in every panel; a name
// outside the known ones takes a colour by its place in the panel.
func allocColor(name string, inPanel int) color.Color {
	if c, ok := allocColors[name]; ok {
		return c
	}
	return fallbackColors[inPanel%len(fallbackColors)]
}

var allocColors = map[string]color.Color{
	"mmalloc":        color.RGBA{R: 0xe4, G: 0x1a, B: 0x1c, A: 0xff}, // red
	"mmalloc-uninit": color.RGBA{R: 0xfb, G: 0x9a, B: 0x99, A: 0xff}, // light red
	"mmalloc-cache":  color.RGBA{R: 0xff, G: 0x7f, B: 0x00, A: 0xff}, // orange
	"mmalloc-guard":  color.RGBA{R: 0xf7, G: 0x81, B: 0xbf, A: 0xff}, // pink
	"go-heap":        color.RGBA{R: 0x37, G: 0x7e, B: 0xb8, A: 0xff}, // blue
	"sync.Pool":      color.RGBA{R: 0x4d, G: 0xaf, B: 0x4a, A: 0xff}, // green
	"modernc":        color.RGBA{R: 0x98, G: 0x4e, B: 0xa3, A: 0xff}, // purple
	"go-arena":       color.RGBA{R: 0xa6, G: 0x56, B: 0x28, A: 0xff}, // brown
	"c-malloc":       color.RGBA{R: 0x99, G: 0x99, B: 0x99, A: 0xff}, // grey
}

var fallbackColors = []color.Color{
	color.RGBA{R: 0x00, G: 0x00, B: 0x00, A: 0xff},
	color.RGBA{R: 0x66, G: 0xc2, B: 0xa5, A: 0xff},
	color.RGBA{R: 0xe6, G: 0xab, B: 0x02, A: 0xff},
}
