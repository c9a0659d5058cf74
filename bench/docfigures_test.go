package main

// Figures in the docs must come from a committed results file, and stay
// equal to what that file says. The convention:
//
//   - Markdown (README.md, bench/README.md, docs/*.md): figures stand
//     between the lines <!-- figures: bench/results/FILE --> and
//     <!-- /figures -->.
//   - Go comments: a comment paragraph (lines up to a blank comment line)
//     that contains "figures: bench/results/FILE".
//
// Paths are relative to the repository's top. Inside such a block every
// figure must appear in FILE as written: a time ("25.3 ns", "1m47s"), a
// percentage ("11.1%"), a factor ("4.53×", "×1.65"), a count of GC cycles
// ("207 GC cycles"), or any other decimal number ("0.94"). The block must
// also name the machine and the date that FILE states ("cpu: …", and the
// date of its first line or its "date:" line). Outside such blocks no
// time or factor may stand in prose: code (fenced or `quoted` in Markdown,
// tab-indented in Go comments) is not prose. A rerun that changes a
// figure thus fails this test until the docs quote the new one.

import (
	"fmt"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// repoTop is the repository's top, seen from this module.
const repoTop = ".."

// docLine is one line of prose: where it is and its text, code removed.
type docLine struct {
	file string
	n    int
	text string
}

// figureBlock is a run of prose that cites one results file.
type figureBlock struct {
	cites string // path of the results file, from the top
	at    docLine
	lines []docLine
}

var (
	mdOpen  = regexp.MustCompile(`^\s*<!--\s*figures:\s*(\S+)\s*-->\s*$`)
	mdClose = regexp.MustCompile(`^\s*<!--\s*/figures\s*-->\s*$`)
	goCite  = regexp.MustCompile(`figures:\s*(bench/results/[^\s;,)]+)`)
	mdCode  = regexp.MustCompile("`[^`]*`")
)

// markdownProse splits a Markdown file into cited blocks and the rest,
// without fenced code blocks and `code spans`.
func markdownProse(file, src string) (blocks []figureBlock, loose []docLine, err error) {
	var cur *figureBlock
	fenced := false
	for i, line := range strings.Split(src, "\n") {
		n := i + 1
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fenced = !fenced
			continue
		}
		if fenced {
			continue
		}
		if m := mdOpen.FindStringSubmatch(line); m != nil {
			if cur != nil {
				return nil, nil, fmt.Errorf("%s:%d: figures block opened inside the one opened at line %d", file, n, cur.at.n)
			}
			cur = &figureBlock{cites: m[1], at: docLine{file: file, n: n}}
			continue
		}
		if mdClose.MatchString(line) {
			if cur == nil {
				return nil, nil, fmt.Errorf("%s:%d: <!-- /figures --> closes no block", file, n)
			}
			blocks, cur = append(blocks, *cur), nil
			continue
		}
		dl := docLine{file: file, n: n, text: mdCode.ReplaceAllString(line, "")}
		if cur != nil {
			cur.lines = append(cur.lines, dl)
		} else {
			loose = append(loose, dl)
		}
	}
	if cur != nil {
		return nil, nil, fmt.Errorf("%s:%d: figures block never closed", file, cur.at.n)
	}
	return blocks, loose, nil
}

// goProse splits the comments of a Go file into cited paragraphs and the
// rest, without tab-indented (code) lines.
func goProse(file string, src []byte) (blocks []figureBlock, loose []docLine, err error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, file, src, parser.ParseComments)
	if err != nil {
		return nil, nil, err
	}
	for _, cg := range f.Comments {
		var para []docLine
		flush := func() {
			var joined []string
			for _, l := range para {
				joined = append(joined, l.text)
			}
			cited := ""
			// The marker may break across lines.
			if m := goCite.FindStringSubmatch(strings.Join(joined, " ")); m != nil {
				cited = m[1]
			}
			if cited != "" {
				blocks = append(blocks, figureBlock{cites: cited, at: para[0], lines: para})
			} else {
				loose = append(loose, para...)
			}
			para = nil
		}
		for _, c := range cg.List {
			line := fset.Position(c.Slash).Line
			text := c.Text
			if strings.HasPrefix(text, "//") {
				text = strings.TrimPrefix(text[2:], " ")
			} else {
				text = strings.TrimSuffix(strings.TrimPrefix(text, "/*"), "*/")
			}
			for i, l := range strings.Split(text, "\n") {
				switch {
				case strings.TrimSpace(l) == "":
					flush()
				case strings.HasPrefix(l, "\t"): // code
				default:
					para = append(para, docLine{file: file, n: line + i, text: l})
				}
			}
		}
		flush()
	}
	return blocks, loose, nil
}

// figure is one figure quoted in prose: its text, the numbers in it, and
// how to find each number in a results file.
type figure struct {
	at     int // byte offset in its line
	text   string
	nums   []string
	suffix string // what must follow each number in the file ("" = any non-digit)
	loose  bool   // a time or a factor: not allowed outside a cited block
}

var (
	numRE      = `(\d+(?:\.\d+)?)`
	rangeRE    = `(?:` + numRE + `\s?[–-]\s?)?` + numRE
	timeFig    = regexp.MustCompile(rangeRE + `\s?(ns|µs|ms|s|min|minutes?|seconds?)\b`)
	durFig     = regexp.MustCompile(`\b\d+m\d+s\b`)
	pctFig     = regexp.MustCompile(rangeRE + `\s?%`)
	factorFig  = regexp.MustCompile(`(?:` + numRE + `[–-])?` + numRE + `×|×` + numRE)
	cyclesFig  = regexp.MustCompile(numRE + ` GC cycles`)
	decimalFig = regexp.MustCompile(`\d+\.\d+(?:\.\d+)*`)
)

// figuresIn returns the figures of one line of prose.
func figuresIn(s string) []figure {
	var figs []figure
	taken := make([]bool, len(s))
	take := func(loc []int) bool {
		if slices.Contains(taken[loc[0]:loc[1]], true) {
			return false
		}
		for i := loc[0]; i < loc[1]; i++ {
			taken[i] = true
		}
		return true
	}
	nonEmpty := func(xs ...string) []string {
		return slices.DeleteFunc(xs, func(x string) bool { return x == "" })
	}
	for _, loc := range durFig.FindAllStringIndex(s, -1) {
		if take(loc) {
			figs = append(figs, figure{at: loc[0], text: s[loc[0]:loc[1]], nums: []string{s[loc[0]:loc[1]]}, loose: true})
		}
	}
	for _, m := range timeFig.FindAllStringSubmatchIndex(s, -1) {
		if take(m[:2]) {
			unit := s[m[6]:m[7]]
			figs = append(figs, figure{at: m[0], text: s[m[0]:m[1]], nums: nonEmpty(sub(s, m, 1), sub(s, m, 2)), suffix: " " + unit, loose: true})
		}
	}
	for _, m := range factorFig.FindAllStringSubmatchIndex(s, -1) {
		if take(m[:2]) {
			figs = append(figs, figure{at: m[0], text: s[m[0]:m[1]], nums: nonEmpty(sub(s, m, 1), sub(s, m, 2), sub(s, m, 3)), loose: true})
		}
	}
	for _, m := range pctFig.FindAllStringSubmatchIndex(s, -1) {
		if take(m[:2]) {
			figs = append(figs, figure{at: m[0], text: s[m[0]:m[1]], nums: nonEmpty(sub(s, m, 1), sub(s, m, 2)), suffix: "%"})
		}
	}
	for _, m := range cyclesFig.FindAllStringSubmatchIndex(s, -1) {
		if take(m[:2]) {
			figs = append(figs, figure{at: m[0], text: s[m[0]:m[1]], nums: []string{sub(s, m, 1)}})
		}
	}
	for _, loc := range decimalFig.FindAllStringIndex(s, -1) {
		text := s[loc[0]:loc[1]]
		if strings.Count(text, ".") > 1 { // a version, such as Go 1.26.8
			continue
		}
		if take(loc) {
			figs = append(figs, figure{at: loc[0], text: text, nums: []string{text}})
		}
	}
	slices.SortFunc(figs, func(a, b figure) int { return a.at - b.at })
	return figs
}

// sub returns submatch i of m in s, or "".
func sub(s string, m []int, i int) string {
	if m[2*i] < 0 {
		return ""
	}
	return s[m[2*i]:m[2*i+1]]
}

// foundIn reports whether every number of f stands in results as f
// quotes it: as a number of its own, followed by f's unit where it has one
// (a space before the unit is optional on either side).
func (f figure) foundIn(results string) bool {
	for _, n := range f.nums {
		re := `(^|[^\d.])` + regexp.QuoteMeta(n)
		switch suffix := strings.TrimSpace(f.suffix); {
		case f.suffix == "":
			re += `([^\d]|$)`
			if !strings.Contains(n, "m") { // 25.3 must not match 25.30
				re = `(^|[^\d.])` + regexp.QuoteMeta(n) + `(\.?[^\d.]|$)`
			}
		default:
			re += ` ?` + regexp.QuoteMeta(suffix) + `($|[^\pL])`
		}
		if !regexp.MustCompile(re).MatchString(results) {
			return false
		}
	}
	return true
}

var (
	cpuLine  = regexp.MustCompile(`(?m)cpu: (.+?)\s*$`)
	dateLine = regexp.MustCompile(`(?m)^(?:mmalloc bench — |date: )(\d{4}-\d{2}-\d{2})`)
)

// machineNames gives the one name the docs use for a machine that a
// results file names otherwise: go test's "cpu:" line is the processor's
// brand string, where the bench program and /proc/cpuinfo say "AMD EPYC"
// for the same machine.
var machineNames = map[string]string{
	"Oxide Virtual Turin-like Processor": "AMD EPYC",
}

// stamp returns the machine and the date a results file states, "" where
// it states none; the machine by the name the docs give it.
func stamp(results string) (cpu, date string) {
	if m := cpuLine.FindStringSubmatch(results); m != nil {
		cpu = m[1]
		if name, ok := machineNames[cpu]; ok {
			cpu = name
		}
	}
	if m := dateLine.FindStringSubmatch(results); m != nil {
		date = m[1]
	}
	return cpu, date
}

// checkBlock returns what is wrong with one cited block.
func checkBlock(top string, b figureBlock) []error {
	data, err := os.ReadFile(filepath.Join(top, filepath.FromSlash(b.cites)))
	if err != nil {
		return []error{fmt.Errorf("%s:%d: cites %s, which cannot be read: %v", b.at.file, b.at.n, b.cites, err)}
	}
	results := string(data)
	var errs []error
	var all strings.Builder
	for _, l := range b.lines {
		all.WriteString(l.text + "\n")
		for _, f := range figuresIn(l.text) {
			if !f.foundIn(results) {
				errs = append(errs, fmt.Errorf("%s:%d: figure %q is not in %s (cited at line %d): a rerun changed it, or it was never there",
					l.file, l.n, f.text, b.cites, b.at.n))
			}
		}
	}
	text := strings.Join(strings.Fields(all.String()), " ")
	cpu, date := stamp(results)
	if cpu != "" && !strings.Contains(text, cpu) {
		errs = append(errs, fmt.Errorf("%s:%d: figures from %s without its machine %q beside them", b.at.file, b.at.n, b.cites, cpu))
	}
	if date != "" && !strings.Contains(text, date) {
		errs = append(errs, fmt.Errorf("%s:%d: figures from %s without its date %s beside them", b.at.file, b.at.n, b.cites, date))
	}
	if !strings.Contains(text, b.cites) && !strings.Contains(text, strings.TrimPrefix(b.cites, "bench/")) {
		errs = append(errs, fmt.Errorf("%s:%d: the prose does not name %s", b.at.file, b.at.n, b.cites))
	}
	return errs
}

// checkLoose returns an error for every time or factor outside a cited
// block, and for a "figures:" marker that cites no results file.
func checkLoose(lines []docLine) []error {
	var errs []error
	for _, l := range lines {
		if strings.Contains(l.text, "figures:") {
			errs = append(errs, fmt.Errorf("%s:%d: a figures: marker that names no bench/results file", l.file, l.n))
		}
		for _, f := range figuresIn(l.text) {
			if f.loose {
				errs = append(errs, fmt.Errorf("%s:%d: figure %q cites no results file: put it in a figures block, "+
					"or in `code` if it is a setting", l.file, l.n, f.text))
			}
		}
	}
	return errs
}

// machineName is how the docs name the project's machine, the one way.
const machineName = "2-core AMD EPYC"

// otherMachineName matches a name of the project's machine: the processor's
// name with what stands before it, or its brand string.
var otherMachineName = regexp.MustCompile(`([\w-]+\s+)?AMD\s+EPYC|Oxide\s+Virtual\s+Turin-like\s+Processor`)

// checkMachineName returns an error for every place in one file's prose
// (blocks and loose lines, in order) that names the project's machine
// otherwise than machineName.
func checkMachineName(lines []docLine) []error {
	var errs []error
	for i, l := range lines {
		// A name broken across lines is read with the line before it.
		text, from := l.text, 0
		if i > 0 && lines[i-1].n == l.n-1 {
			text = lines[i-1].text + " " + l.text
			from = len(lines[i-1].text) + 1
		}
		for _, at := range otherMachineName.FindAllStringIndex(text, -1) {
			if at[1] <= from {
				continue // the line before's own: reported there
			}
			if m := text[at[0]:at[1]]; strings.Join(strings.Fields(m), " ") != machineName {
				errs = append(errs, fmt.Errorf("%s:%d: %q: the docs name the machine %q", l.file, l.n, m, machineName))
			}
		}
	}
	return errs
}

// docFiles lists the files whose prose is checked: both READMEs, every
// Markdown file of docs/ and every Go source file but tests, from the top.
func docFiles(top string) ([]string, error) {
	files := []string{"README.md", "bench/README.md"}
	docs, err := filepath.Glob(filepath.Join(top, "docs", "*.md"))
	if err != nil {
		return nil, err
	}
	for _, d := range docs {
		files = append(files, "docs/"+filepath.Base(d))
	}
	err = filepath.WalkDir(top, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != top && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") {
			rel, err := filepath.Rel(top, path)
			if err != nil {
				return err
			}
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	return files, err
}

// checkDocs checks every doc file under top.
func checkDocs(top string) (errs []error, blocks int) {
	files, err := docFiles(top)
	if err != nil {
		return []error{err}, 0
	}
	for _, name := range files {
		src, err := os.ReadFile(filepath.Join(top, filepath.FromSlash(name)))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var bs []figureBlock
		var loose []docLine
		if strings.HasSuffix(name, ".md") {
			bs, loose, err = markdownProse(name, string(src))
		} else {
			bs, loose, err = goProse(name, src)
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		all := slices.Clone(loose)
		for _, b := range bs {
			errs = append(errs, checkBlock(top, b)...)
			all = append(all, b.lines...)
		}
		errs = append(errs, checkLoose(loose)...)
		slices.SortFunc(all, func(a, b docLine) int { return a.n - b.n })
		errs = append(errs, checkMachineName(all)...)
		blocks += len(bs)
	}
	return errs, blocks
}

// TestDocFiguresComeFromResults checks every figure quoted in the READMEs,
// in docs/ and in Go comments against the results file it cites.
func TestDocFiguresComeFromResults(t *testing.T) {
	files, err := docFiles(repoTop)
	require.NoError(t, err)
	require.Contains(t, files, "docs/performance.md", "docs/ is checked")
	errs, blocks := checkDocs(repoTop)
	for _, err := range errs {
		t.Error(err)
	}
	assert.Greater(t, blocks, 5, "the READMEs and docs cite their figures")
}

func TestFiguresIn(t *testing.T) {
	texts := func(s string) []string {
		var out []string
		for _, f := range figuresIn(s) {
			out = append(out, f.text)
		}
		return out
	}
	assert.Equal(t, []string{"25.3 ns", "1.48 ms", "4.53×", "×1.65", "11.1%", "0.94"},
		texts("took 25.3 ns and 1.48 ms, 4.53× or ×1.65, 11.1% of it; 0.94 of go1.26.8 and Go 1.26.8"))
	assert.Equal(t, []string{"1m47s", "17.5–17.6%", "4–22×", "207 GC cycles", "1.4–2.5 µs"},
		texts("in 1m47s, 17.5–17.6% and 4–22× faster, 207 GC cycles, 1.4–2.5 µs each"))
	assert.Empty(t, texts("100,000 × 4 KiB buffers, 16 B–8 KiB, 64 MiB, 89 classes"), "sizes and counts are no figures")
	assert.Equal(t, []string{"7 minutes", "60 s"}, texts("about 7 minutes, a 60 s soak"))
	f := figuresIn("1.4–2.5 µs")[0]
	assert.Equal(t, []string{"1.4", "2.5"}, f.nums)
}

func TestFigureFoundIn(t *testing.T) {
	results := "size=16B  mmalloc  25.3 ns  25.0 ns – 26.2 ns  0.63  4.53  ×1.65  11.1%  207  1m47s  1.58ms\n"
	for _, s := range []string{"25.3 ns", "25.0–26.2 ns", "0.63", "4.53×", "1.65×", "11.1%", "207 GC cycles", "1m47s", "1.58 ms"} {
		f := figuresIn(s)
		require.Len(t, f, 1, s)
		assert.True(t, f[0].foundIn(results), s)
	}
	for _, s := range []string{"25.3 µs", "25.30 ns", "25 ns", "0.6", "5.3 ns", "4.5×", "1.1%", "20 GC cycles", "2m47s", "26.3 ns"} {
		f := figuresIn(s)
		require.Len(t, f, 1, s)
		assert.False(t, f[0].foundIn(results), s)
	}
}

// TestCheckDocsFailsOnAStaleFigure writes a small repository whose README
// quotes one figure its results file does not hold, one it does, an
// uncited time, and a block without its machine: exactly the three bad
// ones must be reported.
func TestCheckDocsFailsOnAStaleFigure(t *testing.T) {
	top := t.TempDir()
	write := func(name, s string) {
		p := filepath.Join(top, filepath.FromSlash(name))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(s), 0o644))
	}
	write("bench/results/default.txt", "mmalloc bench — 2026-11-26 07:52 UTC\ngo1.26.8 linux/amd64, GOMAXPROCS=2, cpu: Test CPU\n"+
		"size=16B  mmalloc  25.3 ns\n")
	write("README.md", "# x\n\n<!-- figures: bench/results/default.txt -->\n"+
		"From bench/results/default.txt (Test CPU, 2026-11-26): 25.3 ns, and 0.94 ms.\n<!-- /figures -->\n\n"+
		"Uncited: about 5 µs. In code it is fine: `-time 2ms`.\n\n"+
		"<!-- figures: bench/results/default.txt -->\nbench/results/default.txt, 2026-11-26: 25.3 ns\n<!-- /figures -->\n")
	write("bench/README.md", "```sh\ngo run . -time 60ms\n```\n")
	write("docs/speed.md", "# Speed\n\n<!-- figures: bench/results/default.txt -->\n"+
		"bench/results/default.txt, Test CPU, 2026-11-26: 25.3 ns, once 26.3 ns.\n<!-- /figures -->\n")
	write("x.go", "// Package x.\n//\n// Measured (figures: bench/results/default.txt, Test CPU, 2026-11-26): 25.3 ns.\n//\n//\tcode: 3 ms\npackage x\n\n"+
		"// Y is measured: 25.3 ns (figures:\n// bench/results/default.txt, Test CPU, 2026-11-26).\nconst Y = 1\n")
	errs, blocks := checkDocs(top)
	assert.Equal(t, 5, blocks, "a marker broken across lines counts")
	var msgs []string
	for _, err := range errs {
		msgs = append(msgs, err.Error())
	}
	require.Len(t, msgs, 4, "%s", strings.Join(msgs, "\n"))
	assert.Contains(t, msgs[0], `README.md:4: figure "0.94 ms" is not in bench/results/default.txt`)
	assert.Contains(t, msgs[1], `README.md:9: figures from bench/results/default.txt without its machine "Test CPU"`)
	assert.Contains(t, msgs[2], `README.md:7: figure "5 µs" cites no results file`)
	assert.Contains(t, msgs[3], `docs/speed.md:4: figure "26.3 ns" is not in bench/results/default.txt`)

	errs = checkLoose([]docLine{{file: "z.md", n: 3, text: "a figures: marker without a path"}})
	require.Len(t, errs, 1)
	assert.ErrorContains(t, errs[0], "z.md:3: a figures: marker that names no bench/results file")

	_, _, err := markdownProse("y.md", "<!-- figures: a -->\nx\n")
	assert.ErrorContains(t, err, "never closed")
	_, _, err = markdownProse("y.md", "<!-- /figures -->\n")
	assert.ErrorContains(t, err, "closes no block")
}

// TestMachineNamedOneWay: a results file of go test names the machine by
// its brand string, which the docs give as "AMD EPYC"; and every name of
// the machine in the docs but "2-core AMD EPYC" is reported, also one
// broken across lines, once.
func TestMachineNamedOneWay(t *testing.T) {
	cpu, date := stamp("date: 2026-12-01 10:00 UTC\ncpu: Oxide Virtual Turin-like Processor             \nBenchmarkX 1 2 ns/op\n")
	assert.Equal(t, "AMD EPYC", cpu)
	assert.Equal(t, "2026-12-01", date)
	cpu, _ = stamp("go1.26.8 linux/amd64, GOMAXPROCS=2, cpu: Test CPU\n")
	assert.Equal(t, "Test CPU", cpu)

	errs := checkMachineName([]docLine{
		{file: "a.md", n: 1, text: "on the project's 2-core AMD EPYC, and on the (2-core AMD"},
		{file: "a.md", n: 2, text: "EPYC) again; then AMD EPYC (Oxide Virtual Turin-like Processor), 2 cores,"},
		{file: "a.md", n: 4, text: "on a 2-core machine (AMD EPYC), and (Oxide Virtual"},
		{file: "a.md", n: 5, text: "Turin-like Processor)."},
	})
	var msgs []string
	for _, err := range errs {
		msgs = append(msgs, err.Error())
	}
	assert.Equal(t, []string{
		`a.md:2: "then AMD EPYC": the docs name the machine "2-core AMD EPYC"`,
		`a.md:2: "Oxide Virtual Turin-like Processor": the docs name the machine "2-core AMD EPYC"`,
		`a.md:4: "AMD EPYC": the docs name the machine "2-core AMD EPYC"`,
		`a.md:5: "Oxide Virtual Turin-like Processor": the docs name the machine "2-core AMD EPYC"`,
	}, msgs)
}
