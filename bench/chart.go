// The chart (-svg, -png): per workload an absolute panel and a like-for-like ratio panel.

package main

import (
	"fmt"
	"image/color"
	"io"
	"math"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// The chart is a page of panels under a title and one legend. Each
// workload gets two panels side by side: its absolute figures (time per
// op on a log scale, or its own figure) with a bar per allocator per case,
// and its ratios: each mmalloc variant's time ÷ the fastest peer's with
// the same contract, on one log axis shared by every ratio panel, with
// bars growing from 1 (down: mmalloc faster, up: slower). A panel's width
// follows its number of bars, and panels are packed into rows.

// pt is one point, the unit of vg.Length.
const pt vg.Length = 1

// Page geometry.
const (
	chartMaxWidth   = 15 * vg.Inch // the widest a page gets
	chartMinWidth   = 8 * vg.Inch  // the narrowest, so that the title fits
	chartRowHeight  = 3 * vg.Inch  // one row of panels
	chartMargin     = 10 * pt      // around the page
	chartPanelGap   = 8 * pt       // between panels
	chartAxisWidth  = 62 * pt      // what a panel needs beside its bars: the y axis and padding
	chartBarWidth   = 7 * pt       // one bar, before a row is stretched
	chartMaxStretch = 1.6          // a row's bars may widen this much to fill the page
	chartDPI        = 110          // PNG resolution
)

// Font sizes.
const (
	titleFontSize  = 13 * pt
	legendFontSize = 10 * pt
	panelFontSize  = 9.5 * pt
	tickFontSize   = 8 * pt
)

// allocStyle is how one allocator's bars look in every panel: a hue, and
// for mmalloc's variants a hatching, so that they stay apart in print and
// for readers who do not tell the hues apart.
type allocStyle struct {
	fill  color.Color
	hatch string      // "", "/", "\\", "x", "-" or "|"
	ink   color.Color // the hatching's colour
}

var white = color.RGBA{R: 0xff, G: 0xff, B: 0xff, A: 0xff}

// allocStyles gives each allocator the same look in every panel.
var allocStyles = map[string]allocStyle{
	"mmalloc":              {fill: color.RGBA{R: 0xc6, G: 0x28, B: 0x28, A: 0xff}},                         // red, solid
	"mmalloc-uninit":       {fill: color.RGBA{R: 0xef, G: 0x6c, B: 0x00, A: 0xff}, hatch: "/", ink: white}, // orange
	"mmalloc-cache":        {fill: color.RGBA{R: 0xf9, G: 0xc8, B: 0x2b, A: 0xff}, hatch: "x", ink: color.Black},
	"mmalloc-cache-zeroed": {fill: color.RGBA{R: 0xad, G: 0x14, B: 0x57, A: 0xff}, hatch: "\\", ink: white},      // magenta
	"mmalloc-guard":        {fill: color.RGBA{R: 0x4e, G: 0x34, B: 0x2e, A: 0xff}, hatch: "-", ink: white},       // dark brown
	"go-heap":              {fill: color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}},                               // blue
	"sync.Pool":            {fill: color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff}},                               // green
	"modernc":              {fill: color.RGBA{R: 0x94, G: 0x67, B: 0xbd, A: 0xff}},                               // purple
	"modernc-calloc":       {fill: color.RGBA{R: 0xc5, G: 0xb0, B: 0xd5, A: 0xff}, hatch: "/", ink: color.Black}, // light purple
	"go-arena":             {fill: color.RGBA{R: 0x17, G: 0xbe, B: 0xcf, A: 0xff}},                               // cyan
	cRefName:               {fill: color.RGBA{R: 0x9e, G: 0x9e, B: 0x9e, A: 0xff}},                               // grey
}

// fallbackStyles serve names outside allocStyles, by their place in the
// legend.
var fallbackStyles = []allocStyle{
	{fill: color.RGBA{R: 0x55, G: 0x55, B: 0x55, A: 0xff}, hatch: "|", ink: white},
	{fill: color.RGBA{R: 0x66, G: 0xc2, B: 0xa5, A: 0xff}, hatch: "|", ink: color.Black},
}

// styleOf returns an allocator's look; i is its place in the legend.
func styleOf(name string, i int) allocStyle {
	if s, ok := allocStyles[name]; ok {
		return s
	}
	return fallbackStyles[i%len(fallbackStyles)]
}

// outline is the thin line around every bar and swatch.
var outline = draw.LineStyle{Color: color.RGBA{R: 0x33, G: 0x33, B: 0x33, A: 0xff}, Width: 0.5 * pt}

// drawBar fills r in style st: the hue, the hatching clipped to r, and
// the outline.
func drawBar(c *draw.Canvas, r vg.Rectangle, st allocStyle) {
	if r.Max.X <= r.Min.X || r.Max.Y <= r.Min.Y {
		return
	}
	c.FillPolygon(st.fill, []vg.Point{r.Min, {X: r.Max.X, Y: r.Min.Y}, r.Max, {X: r.Min.X, Y: r.Max.Y}})
	ink := draw.LineStyle{Color: st.ink, Width: 0.8 * pt}
	for _, seg := range hatchLines(r, st.hatch, 3.5*pt) {
		c.StrokeLine2(ink, seg[0].X, seg[0].Y, seg[1].X, seg[1].Y)
	}
	c.StrokeLines(outline, []vg.Point{r.Min, {X: r.Max.X, Y: r.Min.Y}, r.Max, {X: r.Min.X, Y: r.Max.Y}, r.Min})
}

// hatchLines returns the segments of hatching pattern inside r, lines
// step apart: "/" and "\\" diagonals, "x" both, "-" horizontal, "|"
// vertical.
func hatchLines(r vg.Rectangle, pattern string, step vg.Length) [][2]vg.Point {
	var segs [][2]vg.Point
	x0, x1, y0, y1 := r.Min.X, r.Max.X, r.Min.Y, r.Max.Y
	if strings.ContainsAny(pattern, "/x") { // lines x - y = t
		for t := x0 - y1 + step/2; t < x1-y0; t += step {
			lo, hi := max(y0, x0-t), min(y1, x1-t)
			if lo < hi {
				segs = append(segs, [2]vg.Point{{X: lo + t, Y: lo}, {X: hi + t, Y: hi}})
			}
		}
	}
	if strings.ContainsAny(pattern, "\\x") { // lines x + y = t
		for t := x0 + y0 + step/2; t < x1+y1; t += step {
			lo, hi := max(y0, t-x1), min(y1, t-x0)
			if lo < hi {
				segs = append(segs, [2]vg.Point{{X: t - lo, Y: lo}, {X: t - hi, Y: hi}})
			}
		}
	}
	if strings.Contains(pattern, "-") {
		for y := y0 + step/2; y < y1; y += step {
			segs = append(segs, [2]vg.Point{{X: x0, Y: y}, {X: x1, Y: y}})
		}
	}
	if strings.Contains(pattern, "|") {
		for x := x0 + step/2; x < x1; x += step {
			segs = append(segs, [2]vg.Point{{X: x, Y: y0}, {X: x, Y: y1}})
		}
	}
	return segs
}

// bars is one allocator's bars in one panel, a plot.Plotter: at x = i
// (the i-th case) a bar from base to vals[i], shifted by offset. NaN
// draws nothing.
type bars struct {
	vals          []float64
	base          float64
	offset, width vg.Length
	style         allocStyle
}

// Plot draws the bars.
func (b *bars) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	for i, v := range b.vals {
		if math.IsNaN(v) {
			continue
		}
		x := trX(float64(i)) + b.offset
		y0, y1 := trY(b.base), trY(v)
		r := vg.Rectangle{Min: vg.Point{X: x - b.width/2, Y: min(y0, y1)}, Max: vg.Point{X: x + b.width/2, Y: max(y0, y1)}}
		drawBar(&c, r, b.style)
	}
}

// DataRange covers every case and the bars' ends.
func (b *bars) DataRange() (xmin, xmax, ymin, ymax float64) {
	ymin, ymax = b.base, b.base
	for _, v := range b.vals {
		if !math.IsNaN(v) {
			ymin, ymax = min(ymin, v), max(ymax, v)
		}
	}
	return 0, float64(len(b.vals) - 1), ymin, ymax
}

// GlyphBoxes keep the outermost bars inside the panel.
func (b *bars) GlyphBoxes(p *plot.Plot) []plot.GlyphBox {
	boxes := make([]plot.GlyphBox, len(b.vals))
	for i := range b.vals {
		boxes[i].X = p.X.Norm(float64(i))
		boxes[i].Rectangle = vg.Rectangle{Min: vg.Point{X: b.offset - b.width/2}, Max: vg.Point{X: b.offset + b.width/2}}
	}
	return boxes
}

// parity is a horizontal line at y on the data area: the 1 of a ratio
// panel.
type parity struct{ y float64 }

// Plot draws the line.
func (l parity) Plot(c draw.Canvas, p *plot.Plot) {
	_, trY := p.Transforms(&c)
	sty := draw.LineStyle{Color: color.Black, Width: pt}
	c.StrokeLine2(sty, c.Min.X, trY(l.y), c.Max.X, trY(l.y))
}

// valueTicks labels a log axis at 1, 2 and 5 times each power of ten
// (only the powers when it spans more than two decades), with label
// rendering each value.
type valueTicks struct{ label func(float64) string }

// Ticks returns the ticks between lo and hi.
func (t valueTicks) Ticks(lo, hi float64) []plot.Tick {
	steps := []float64{1, 2, 5}
	if math.Log10(hi/lo) > 2 {
		steps = []float64{1}
	}
	var ticks []plot.Tick
	for e := math.Floor(math.Log10(lo)); e <= math.Ceil(math.Log10(hi)); e++ {
		for _, m := range steps {
			v := m * math.Pow(10, e)
			if v >= lo*(1-1e-9) && v <= hi*(1+1e-9) {
				ticks = append(ticks, plot.Tick{Value: v, Label: t.label(v)})
			}
		}
	}
	return ticks
}

// tickNs renders a round number of nanoseconds without trailing zeros.
func tickNs(ns float64) string {
	return strings.NewReplacer(".00 ", " ", ".0 ", " ").Replace(fmtNs(ns))
}

// tickRatio renders a ratio tick: a multiplication sign, then the ratio.
func tickRatio(r float64) string { return "×" + strings.TrimSuffix(fmt.Sprintf("%g", r), ".0") }

// logAxis returns the range of a log axis that shows every value in vs
// (all > 0) as a bar from its floor: the floor is the power of ten at or
// below half the smallest value, so that the shortest bar, the reference
// row included, still spans a factor of two; the top leaves a quarter of
// a decade above the tallest.
func logAxis(vs []float64) (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, v := range vs {
		lo, hi = min(lo, v), max(hi, v)
	}
	return math.Pow(10, math.Floor(math.Log10(lo/2))), hi * math.Pow(10, 0.25)
}

// ratioAxis returns the shared range of the ratio panels: every ratio in
// vs and 1, with a quarter of a decade to spare on both sides.
func ratioAxis(vs []float64) (lo, hi float64) {
	lo, hi = 1.0, 1.0
	for _, v := range vs {
		lo, hi = min(lo, v), max(hi, v)
	}
	return lo / math.Pow(10, 0.25), hi * math.Pow(10, 0.25)
}

// panelKind says what a workload's absolute panel shows.
type panelKind struct {
	title string
	label string                // y axis
	value func(*Result) float64 // the bar's height
	log   bool                  // log scale, for figures spanning decades
	unit  func(float64) string  // tick labels on a log scale
}

// absoluteOf returns what workload's absolute panel shows.
func absoluteOf(workload string) panelKind {
	figure := func(label string) func(*Result) float64 {
		return func(r *Result) float64 {
			if f, ok := r.figure(label); ok {
				return f.Median()
			}
			return math.NaN()
		}
	}
	perOp := panelKind{label: "time per op (log)", value: (*Result).MedianNs, log: true, unit: tickNs}
	switch workload {
	case "pair":
		perOp.title = "pair: Alloc + use + Free, one goroutine"
	case "batch":
		perOp.title = "batch: 10,000 Allocs, then the Frees"
	case "parallel":
		perOp.title = "parallel: pair on every CPU, one allocator"
	case "churn":
		perOp.title = "churn: 100k live, 16 B–8 KiB"
	case "buffer":
		perOp.title = "buffer: Buffer vs bytes.Buffer (go-heap)"
	case "prodcons":
		perOp.title = "prodcons: batches freed by consumers"
	case "larson":
		perOp.title = "larson: slot arrays move every round"
	case "liveset":
		perOp.title = "liveset: random replacement + one GC"
	case "gc":
		return panelKind{title: "gc: GC share of all CPUs while a live set is held", label: "GC CPU, %", value: figure("GC CPU")}
	case "rss":
		return panelKind{title: "rss: RSS growth ÷ bytes requested (1 = none)", label: "RSS ÷ requested", value: figure("RSS/req")}
	default:
		perOp.title = workload
	}
	return perOp
}

// caseLabel shortens a case name for an x tick: no "size=", "live=" or
// "objs=" (the panel's title says what the numbers are), and one line per
// "/"-separated part.
func caseLabel(c string) string {
	for _, k := range []string{"size=", "live=", "objs="} {
		c = strings.TrimPrefix(c, k)
	}
	return strings.ReplaceAll(c, "/", "\n")
}

// caseUnits is how many bar slots a case takes: its bars and a gap, or
// more when its label is wider.
func caseUnits(cases []string, bars int) int {
	sty := textStyle(tickFontSize)
	units := 0
	for _, c := range cases {
		label := sty.Width(caseLabel(c)) + 4*pt
		units += max(bars+1, int(math.Ceil(float64(label/chartBarWidth))))
	}
	return units
}

// wrapText breaks s into lines no wider than width, at spaces.
func wrapText(sty text.Style, s string, width vg.Length) []string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(s) {
		next := w
		if line != "" {
			next = line + " " + w
		}
		if line != "" && sty.Width(next) > width {
			lines, line = append(lines, line), w
			continue
		}
		line = next
	}
	if line != "" {
		lines = append(lines, line)
	}
	return lines
}

// panel is one plot and the bar slots it needs, gaps included.
type panel struct {
	p     *plot.Plot
	units int
}

// width is the panel's width with its bars stretch times as wide as
// chartBarWidth.
func (p panel) width(stretch float64) vg.Length {
	return chartAxisWidth + vg.Length(float64(p.units)*stretch)*chartBarWidth
}

// grid is a panel's data: one value per case and allocator (NaN: no bar).
type grid struct {
	cases, allocs []string
	vals          [][]float64 // [allocator][case]
}

// newGrid fills a grid from value.
func newGrid(cases, allocs []string, value func(c, a string) float64) grid {
	g := grid{cases: cases, allocs: allocs, vals: make([][]float64, len(allocs))}
	for i, a := range allocs {
		g.vals[i] = make([]float64, len(cases))
		for j, c := range cases {
			g.vals[i][j] = value(c, a)
		}
	}
	return g
}

// values returns every value of the grid that is a number.
func (g grid) values() []float64 {
	var vs []float64
	for _, row := range g.vals {
		for _, v := range row {
			if !math.IsNaN(v) {
				vs = append(vs, v)
			}
		}
	}
	return vs
}

// newPanel draws a grid as grouped bars, one group per case, growing
// from base, on a y axis from lo to hi.
func newPanel(title, ylabel string, g grid, legend []string, base, lo, hi float64) panel {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font.Size = panelFontSize
	p.Y.Label.Text = ylabel
	p.Y.Label.TextStyle.Font.Size = tickFontSize
	p.Y.Tick.Label.Font.Size = tickFontSize
	p.X.Tick.Label.Font.Size = tickFontSize
	for i, a := range g.allocs {
		p.Add(&bars{vals: g.vals[i], base: base, width: chartBarWidth,
			offset: vg.Length(float64(i)-float64(len(g.allocs)-1)/2) * chartBarWidth,
			style:  styleOf(a, slices.Index(legend, a))})
	}
	labels := make([]string, len(g.cases))
	for i, c := range g.cases {
		labels[i] = caseLabel(c)
	}
	p.NominalX(labels...)
	p.Y.Min, p.Y.Max = lo, hi
	return panel{p: p, units: caseUnits(g.cases, len(g.allocs))}
}

// workloadPanels returns a workload's absolute panel and, when any mmalloc
// variant has a like-for-like peer, its ratio grid (drawn once the shared
// axis is known).
func workloadPanels(rep *WorkloadReport, legend []string) (panel, *grid) {
	spec := absoluteOf(rep.Name)
	allocs := inLegendOrder(rep.Allocs(), legend)
	g := newGrid(rep.Cases(), allocs, func(c, a string) float64 {
		r := rep.Find(c, a)
		if r == nil {
			return math.NaN()
		}
		if v := spec.value(r); !spec.log || v > 0 {
			return v
		}
		return math.NaN()
	})
	var abs panel
	vs := g.values()
	if spec.log && len(vs) > 0 {
		lo, hi := logAxis(vs)
		abs = newPanel(spec.title, spec.label, g, legend, lo, lo, hi)
		abs.p.Y.Scale = plot.LogScale{}
		abs.p.Y.Tick.Marker = valueTicks{label: spec.unit}
	} else {
		hi := 0.0
		for _, v := range vs {
			hi = max(hi, v)
		}
		abs = newPanel(spec.title, spec.label, g, legend, 0, 0, max(hi*1.15, 1e-9))
	}

	var variants []string
	for _, a := range allocs {
		if isVariant(a) && !isMode(a) {
			variants = append(variants, a)
		}
	}
	rg := newGrid(rep.Cases(), variants, func(c, a string) float64 {
		r := rep.Find(c, a)
		if r == nil {
			return math.NaN()
		}
		if v := rep.LikeRatio(r); v > 0 {
			return v
		}
		return math.NaN()
	})
	if len(rg.values()) == 0 {
		return abs, nil
	}
	return abs, &rg
}

// ratioPanel draws a ratio grid on the shared axis from lo to hi.
func ratioPanel(name string, g grid, legend []string, lo, hi float64) panel {
	rp := newPanel(name+": time ÷ fastest like peer", "÷ like peer (log)", g, legend, 1, lo, hi)
	rp.p.Y.Scale = plot.LogScale{}
	rp.p.Y.Tick.Marker = valueTicks{label: tickRatio}
	rp.p.Add(parity{y: 1})
	return rp
}

// inLegendOrder returns allocs in the order of legend.
func inLegendOrder(allocs, legend []string) []string {
	out := slices.Clone(allocs)
	slices.SortStableFunc(out, func(a, b string) int { return slices.Index(legend, a) - slices.Index(legend, b) })
	return out
}

// legendOrder lists every allocator of the run once: the built-in kinds in
// their order, then the reference, then any other name.
func legendOrder(reps []*WorkloadReport) []string {
	seen := map[string]bool{}
	for _, rep := range reps {
		for _, a := range rep.Allocs() {
			seen[a] = true
		}
	}
	var out []string
	for _, n := range allocNames() {
		if seen[n] {
			out = append(out, n)
			delete(seen, n)
		}
	}
	var rest []string
	for n := range seen {
		rest = append(rest, n)
	}
	slices.Sort(rest)
	return append(out, rest...)
}

// textStyle is the chart's text in one size, aligned left and top.
func textStyle(size vg.Length) text.Style {
	return text.Style{Color: color.Black, Font: font.From(plot.DefaultFont, size),
		XAlign: draw.XLeft, YAlign: draw.YTop, Handler: plot.DefaultTextHandler}
}

// layout is the page: its size, where each panel goes, and the height of
// the header above the panels.
type layout struct {
	w, h   vg.Length
	header vg.Length
	rows   [][]panel
	widths [][]vg.Length
}

// headerLines are the text lines above the legend.
func headerLines(h Header) []string {
	return []string{
		fmt.Sprintf("each pair of panels: left, the workload's figure (time per op on a log scale unless it says otherwise; lower is better), "+
			"median of %d runs; right, each mmalloc variant's time ÷ the fastest peer's with the same contract, one log scale for all, "+
			"below ×1 mmalloc is faster", h.Runs),
		"contracts compared: " + contractsLine(h.Kinds, h.CRef),
	}
}

// headerText is headerLines wrapped to width.
func headerText(h Header, width vg.Length) []string {
	var out []string
	for _, line := range headerLines(h) {
		out = append(out, wrapText(textStyle(legendFontSize), line, width)...)
	}
	return out
}

// legendRows splits the legend into lines that fit in width.
func legendRows(legend []string, width vg.Length) [][]string {
	sty := textStyle(legendFontSize)
	var rows [][]string
	var cur []string
	x := vg.Length(0)
	for _, n := range legend {
		w := legendSwatchWidth + 4*pt + sty.Width(n) + 16*pt
		if len(cur) > 0 && x+w > width {
			rows, cur, x = append(rows, cur), nil, 0
		}
		cur = append(cur, n)
		x += w
	}
	if len(cur) > 0 {
		rows = append(rows, cur)
	}
	return rows
}

// legendSwatchWidth and legendSwatchHeight size a legend entry's bar.
const (
	legendSwatchWidth  = 22 * pt
	legendSwatchHeight = 12 * pt
)

// layOut packs the workloads' panels into rows and sizes the page. A
// workload's panels stay together, in the first row with room for them
// (first fit), so that small workloads fill the gaps that big ones leave.
func layOut(h Header, items [][]panel, legend []string) layout {
	var l layout
	usable := chartMaxWidth - 2*chartMargin
	var used []vg.Length
	for _, it := range items {
		w := vg.Length(0)
		for _, p := range it {
			w += p.width(1) + chartPanelGap
		}
		row := slices.IndexFunc(used, func(u vg.Length) bool { return u+w <= usable })
		if row < 0 {
			l.rows, used, row = append(l.rows, nil), append(used, 0), len(used)
		}
		l.rows[row] = append(l.rows[row], it...)
		used[row] += w
	}
	natural := vg.Length(0)
	for _, row := range l.rows {
		w := vg.Length(0)
		for _, p := range row {
			w += p.width(1) + chartPanelGap
		}
		natural = max(natural, w)
	}
	l.w = min(chartMaxWidth, max(chartMinWidth, natural+2*chartMargin))
	usable = l.w - 2*chartMargin
	for _, row := range l.rows {
		units, fixed := 0, vg.Length(0)
		for _, p := range row {
			units += p.units
			fixed += chartAxisWidth + chartPanelGap
		}
		stretch := 1.0
		if units > 0 {
			stretch = min(chartMaxStretch, max(1, float64(usable-fixed)/(float64(units)*float64(chartBarWidth))))
		}
		var ws []vg.Length
		for _, p := range row {
			w := p.width(stretch)
			ws = append(ws, w)
			// A title wider than its panel takes two lines or more.
			sty := p.p.Title.TextStyle
			p.p.Title.Text = strings.Join(wrapText(sty, strings.ReplaceAll(p.p.Title.Text, "\n", " "), w-8*pt), "\n")
		}
		l.widths = append(l.widths, ws)
	}
	small := textStyle(legendFontSize)
	l.header = textStyle(titleFontSize).Height("M") + 6*pt +
		vg.Length(len(headerText(h, usable)))*(small.Height("M")+3*pt) + 4*pt +
		vg.Length(len(legendRows(legend, usable)))*(legendSwatchHeight+6*pt) + 4*pt
	l.h = 2*chartMargin + l.header + vg.Length(len(l.rows))*chartRowHeight
	return l
}

// writeChart draws every workload of the run as one page, in format
// "svg" or "png".
func writeChart(w io.Writer, format string, h Header, reps []*WorkloadReport) error {
	legend := legendOrder(reps)
	var items [][]panel
	var ratioGrids []*grid
	var ratioNames []string
	var ratios []float64
	for _, rep := range reps {
		if len(rep.Results) == 0 {
			continue
		}
		abs, rg := workloadPanels(rep, legend)
		items = append(items, []panel{abs})
		ratioGrids = append(ratioGrids, rg)
		ratioNames = append(ratioNames, rep.Name)
		if rg != nil {
			ratios = append(ratios, rg.values()...)
		}
	}
	if len(items) == 0 {
		return fmt.Errorf("chart: no results to draw")
	}
	lo, hi := ratioAxis(ratios)
	for i, rg := range ratioGrids {
		if rg != nil {
			items[i] = append(items[i], ratioPanel(ratioNames[i], *rg, legend, lo, hi))
		}
	}
	l := layOut(h, items, legend)

	var c vg.CanvasWriterTo
	switch format {
	case "svg":
		c = vgsvg.New(l.w, l.h)
	case "png":
		c = vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(l.w, l.h), vgimg.UseDPI(chartDPI))}
	default:
		return fmt.Errorf("chart: unknown format %q", format)
	}
	dc := draw.New(c)
	dc.SetColor(white)
	dc.Fill(dc.Rectangle.Path())
	drawHeader(dc, l, h, legend)
	top := l.h - chartMargin - l.header
	for i, row := range l.rows {
		x := chartMargin
		for j, p := range row {
			r := vg.Rectangle{Min: vg.Point{X: x, Y: top - vg.Length(i+1)*chartRowHeight},
				Max: vg.Point{X: x + l.widths[i][j], Y: top - vg.Length(i)*chartRowHeight - chartPanelGap}}
			p.p.Draw(draw.Canvas{Canvas: dc.Canvas, Rectangle: r})
			x += l.widths[i][j] + chartPanelGap
		}
	}
	_, err := c.WriteTo(w)
	return err
}

// drawHeader writes the title, the explanation and the legend at the top
// of the page.
func drawHeader(dc draw.Canvas, l layout, h Header, legend []string) {
	x, y := chartMargin, l.h-chartMargin
	title := textStyle(titleFontSize)
	dc.FillText(title, vg.Point{X: x, Y: y}, h.Title())
	y -= title.Height("M") + 6*pt
	small := textStyle(legendFontSize)
	for _, line := range headerText(h, l.w-2*chartMargin) {
		dc.FillText(small, vg.Point{X: x, Y: y}, line)
		y -= small.Height("M") + 3*pt
	}
	y -= 4 * pt
	for _, row := range legendRows(legend, l.w-2*chartMargin) {
		lx := x
		for _, n := range row {
			r := vg.Rectangle{Min: vg.Point{X: lx, Y: y - legendSwatchHeight}, Max: vg.Point{X: lx + legendSwatchWidth, Y: y}}
			drawBar(&dc, r, styleOf(n, slices.Index(legend, n)))
			lx += legendSwatchWidth + 4*pt
			dc.FillText(small, vg.Point{X: lx, Y: y - 1*pt}, n)
			lx += small.Width(n) + 16*pt
		}
		y -= legendSwatchHeight + 6*pt
	}
}
