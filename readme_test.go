package mmalloc_test

// The README's promises a test can keep: its first screen gives the
// install line, the platform as the build itself states it, the two
// commands, how long each takes as the results files say and where the
// chart goes as the Makefile says; it stays short; its usage program
// builds against the API and prints what it says; the Makefile has both
// targets; every relative link of the README, of docs/ and of the other
// READMEs reaches a file, and a heading of it where the link names one;
// every file of docs/ is linked from the README.

import (
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// firstScreenLines is what a newcomer sees of the README without
// scrolling.
const firstScreenLines = 40

// readmeMaxLines bounds the README: what does not fit goes to docs/.
const readmeMaxLines = 220

// readmeSources is what the README's first screen must agree with.
type readmeSources struct {
	makefile    string // the Makefile
	unsupported string // internal/errs/unsupported.go: the platform message
	makeBench   string // bench/results/make-bench.txt
	makeTest    string // bench/results/make-test.txt
}

func readReadmeSources(top string) (readmeSources, error) {
	var s readmeSources
	for _, f := range []struct {
		to   *string
		name string
	}{
		{&s.makefile, "Makefile"},
		{&s.unsupported, "internal/errs/unsupported.go"},
		{&s.makeBench, "bench/results/make-bench.txt"},
		{&s.makeTest, "bench/results/make-test.txt"},
	} {
		data, err := os.ReadFile(filepath.Join(top, filepath.FromSlash(f.name)))
		if err != nil {
			return s, err
		}
		*f.to = string(data)
	}
	return s, nil
}

var (
	platformMessage = regexp.MustCompile(`"mmalloc requires 64-bit Linux: ([^"]+)"`)
	benchDuration   = regexp.MustCompile(`(?m)^make bench with (empty|filled) module and build caches: \d+ s \((\w+)\)`)
	testDuration    = regexp.MustCompile(`(?m)^make test(?: with empty module and build caches)?: \d+ s \((\w+)\)`)
)

// firstScreenLacks returns what the first screen of readme lacks, or
// states otherwise than its sources: the install line, the platform as
// the build's own message gives it, the two commands, and how long each
// takes as the results files say, and where make bench writes its chart
// as the Makefile says; and the targets of its commands that the Makefile
// does not define.
func firstScreenLacks(readme string, src readmeSources) []string {
	lines := strings.Split(readme, "\n")
	screen := strings.Join(lines[:min(len(lines), firstScreenLines)], "\n")
	prose := strings.Join(strings.Fields(screen), " ")
	var lacks []string
	lack := func(what string) {
		lacks = append(lacks, fmt.Sprintf("the first %d lines of the README lack %s", firstScreenLines, what))
	}
	for _, want := range []struct{ what, re string }{
		{"the install line", `(?m)^go get github\.com/mmalloc/mmalloc\s*$`},
		{"the command make bench", `(?m)^make bench(\s|$)`},
		{"the command make test", `(?m)^make test(\s|$)`},
		{"the figures block of make-bench.txt", `<!-- figures: bench/results/make-bench\.txt -->`},
		{"the figures block of make-test.txt", `<!-- figures: bench/results/make-test\.txt -->`},
	} {
		if !regexp.MustCompile(want.re).MatchString(screen) {
			lack(want.what)
		}
	}
	if m := platformMessage.FindStringSubmatch(src.unsupported); m == nil {
		lacks = append(lacks, "internal/errs/unsupported.go has no platform message")
	} else if want := "Linux only, 64-bit: " + m[1]; !strings.Contains(prose, want) {
		lack(fmt.Sprintf("the platform line %q", want))
	}
	bench := map[string]string{}
	for _, m := range benchDuration.FindAllStringSubmatch(src.makeBench, -1) {
		bench[m[1]] = m[2]
	}
	if bench["empty"] == "" || bench["filled"] == "" {
		lacks = append(lacks, "bench/results/make-bench.txt states no duration with empty and with filled caches")
	} else {
		if want := "`make bench` takes " + bench["empty"] + " with empty module and build caches"; !strings.Contains(prose, want) {
			lack(fmt.Sprintf("%q (bench/results/make-bench.txt)", want))
		}
		if want := bench["filled"] + " with them filled"; !strings.Contains(prose, want) {
			lack(fmt.Sprintf("%q (bench/results/make-bench.txt)", want))
		}
	}
	if m := testDuration.FindStringSubmatch(src.makeTest); m == nil {
		lacks = append(lacks, "bench/results/make-test.txt states no duration")
	} else if want := "`make test` takes " + m[1]; !strings.Contains(prose, want) {
		lack(fmt.Sprintf("%q (bench/results/make-test.txt)", want))
	}
	for _, target := range []string{"bench", "test"} {
		if !regexp.MustCompile(`(?m)^` + target + `:`).MatchString(src.makefile) {
			lacks = append(lacks, "the Makefile has no target "+target)
		}
	}
	if m := chartFlags.FindStringSubmatch(src.makefile); m == nil {
		lacks = append(lacks, "the Makefile's bench target draws no chart (go -C bench run . -png … -svg …)")
	} else {
		png, svg := path.Join("bench", m[1]), path.Join("bench", m[2])
		if want := png + " and " + path.Base(svg); !strings.Contains(prose, want) {
			lack(fmt.Sprintf("where make bench writes its chart, %q", want))
		}
	}
	return lacks
}

// chartFlags finds where the Makefile's make bench writes its chart,
// relative to bench/.
var chartFlags = regexp.MustCompile(`(?m)^\tgo -C bench run \. -png (\S+) -svg (\S+)`)

func TestReadmeFirstScreen(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	src, err := readReadmeSources(".")
	require.NoError(t, err)
	assert.Empty(t, firstScreenLacks(string(readme), src))
	n := strings.Count(string(readme), "\n")
	assert.LessOrEqual(t, n, readmeMaxLines, "README.md has %d lines: move the rest to docs/", n)

	// Planted: a duration that the results file does not state, the
	// platform said otherwise.
	wrong := strings.Replace(string(readme), "`make test` takes ", "`make test` takes 1m0s, not ", 1)
	wrong = strings.Replace(wrong, "builds on arm64", "builds on riscv64", 1)
	wrong = strings.Replace(wrong, "bench/out/chart.png", "bench/chart.png", 1)
	assert.ElementsMatch(t, []string{
		`the first 40 lines of the README lack where make bench writes its chart, "bench/out/chart.png and chart.svg"`,
		`the first 40 lines of the README lack "` + "`make test` takes " + testDuration.FindStringSubmatch(src.makeTest)[1] + `" (bench/results/make-test.txt)`,
		`the first 40 lines of the README lack the platform line "Linux only, 64-bit: ` + platformMessage.FindStringSubmatch(src.unsupported)[1] + `"`,
	}, firstScreenLacks(wrong, src))

	// Planted: the commands below the first screen, a target missing, the
	// results files without their figures, no platform message.
	late := "# x\n" + strings.Repeat("\n", firstScreenLines) + "go get github.com/mmalloc/mmalloc\nmake bench\nmake test\n"
	assert.ElementsMatch(t, []string{
		"the first 40 lines of the README lack the install line",
		"the first 40 lines of the README lack the command make bench",
		"the first 40 lines of the README lack the command make test",
		"the first 40 lines of the README lack the figures block of make-bench.txt",
		"the first 40 lines of the README lack the figures block of make-test.txt",
		"internal/errs/unsupported.go has no platform message",
		"bench/results/make-bench.txt states no duration with empty and with filled caches",
		"bench/results/make-test.txt states no duration",
		"the Makefile has no target bench",
		"the Makefile's bench target draws no chart (go -C bench run . -png … -svg …)",
	}, firstScreenLacks(late, readmeSources{
		makefile:  "test:\n\tgo test ./...\n# bench: not a target\n",
		makeBench: "make bench with empty module and build caches: 190 s\n",
		makeTest:  "make test: about 20 minutes\n",
	}))
}

// readmeProgram returns the README's Go program (the fenced go block that
// starts with package main) and the output its "// Output:" comment
// promises.
func readmeProgram(readme string) (program, output string, ok bool) {
	_, rest, found := strings.Cut(readme, "```go\npackage main\n")
	if !found {
		return "", "", false
	}
	body, _, found := strings.Cut(rest, "\n```")
	if !found {
		return "", "", false
	}
	program = "package main\n" + body + "\n"
	_, out, found := strings.Cut(body, "// Output:\n")
	if !found {
		return "", "", false
	}
	var want []string
	for _, l := range strings.Split(out, "\n") {
		if l = strings.TrimSpace(l); strings.HasPrefix(l, "// ") {
			want = append(want, strings.TrimPrefix(l, "// "))
		}
	}
	return program, strings.Join(want, "\n") + "\n", true
}

// runReadmeProgram builds and runs program against the module at top, in
// a workspace of its own (no network: GOPROXY=off), and returns what it
// printed.
func runReadmeProgram(t *testing.T, top, program string) (string, error) {
	goCmd, err := exec.LookPath("go")
	require.NoError(t, err)
	abs, err := filepath.Abs(top)
	require.NoError(t, err)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module readme\n\ngo 1.26.0\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go.work"), []byte("go 1.26.0\n\nuse (\n\t.\n\t"+abs+"\n)\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "main.go"), []byte(program), 0o644))
	cmd := exec.Command(goCmd, "run", ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK="+filepath.Join(dir, "go.work"), "GOFLAGS=", "GOPROXY=off")
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%v: %s", err, stderr.String())
	}
	return stdout.String(), nil
}

// TestReadmeUsageRuns builds and runs the README's usage program against
// this module: it compiles against the API as it is, and prints what its
// Output comment says.
func TestReadmeUsageRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds and runs a program")
	}
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	program, want, ok := readmeProgram(string(readme))
	require.True(t, ok, "the README has a go block that starts with package main and ends with an Output comment")
	got, err := runReadmeProgram(t, ".", program)
	require.NoError(t, err)
	assert.Equal(t, want, got)

	// Planted: a name the API does not have.
	stale := strings.Replace(program, "a.Free(buf)", "a.Release(buf)", 1)
	require.NotEqual(t, program, stale)
	_, err = runReadmeProgram(t, ".", stale)
	assert.ErrorContains(t, err, "a.Release undefined")
}

var (
	mdLink     = regexp.MustCompile(`\[[^\]]*\]\(([^)\s]+)\)`)
	mdCodeSpan = regexp.MustCompile("`[^`]*`")
	mdHeading  = regexp.MustCompile(`^#{1,6}\s+(.*?)\s*#*\s*$`)
)

// mdProse returns the lines of a Markdown file outside fenced code, with
// `code spans` removed, numbered from 1.
func mdProse(src string) map[int]string {
	prose := map[int]string{}
	fenced := false
	for i, line := range strings.Split(src, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fenced = !fenced
			continue
		}
		if !fenced {
			prose[i+1] = mdCodeSpan.ReplaceAllString(line, "")
		}
	}
	return prose
}

// anchors returns the anchors of a Markdown file's headings, as github.com
// makes them: the heading's text in lower case, without punctuation but
// hyphens and underscores, spaces made hyphens, and -1, -2 … after a
// repeated one.
func anchors(src string) map[string]bool {
	out := map[string]bool{}
	seen := map[string]int{}
	fenced := false
	for _, line := range strings.Split(src, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fenced = !fenced
			continue
		}
		m := mdHeading.FindStringSubmatch(line)
		if fenced || m == nil {
			continue
		}
		text := regexp.MustCompile(`\[([^\]]*)\]\([^)]*\)`).ReplaceAllString(m[1], "$1")
		var b strings.Builder
		for _, r := range strings.ToLower(text) {
			switch {
			case r == ' ':
				b.WriteRune('-')
			case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
				b.WriteRune(r)
			}
		}
		a := b.String()
		if n := seen[a]; n > 0 {
			out[fmt.Sprintf("%s-%d", a, n)] = true
		} else {
			out[a] = true
		}
		seen[a]++
	}
	return out
}

// brokenLinks returns every relative link of the Markdown files given
// (relative to top) whose file does not exist, or whose #anchor names no
// heading of it.
func brokenLinks(top string, files []string) ([]string, error) {
	var broken []string
	for _, name := range files {
		src, err := os.ReadFile(filepath.Join(top, filepath.FromSlash(name)))
		if err != nil {
			return nil, err
		}
		prose := mdProse(string(src))
		for n := 1; n <= len(strings.Split(string(src), "\n")); n++ {
			for _, m := range mdLink.FindAllStringSubmatch(prose[n], -1) {
				target := m[1]
				if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
					continue
				}
				file, anchor, _ := strings.Cut(target, "#")
				dest := name
				if file != "" {
					dest = path.Join(path.Dir(name), file)
				}
				data, err := os.ReadFile(filepath.Join(top, filepath.FromSlash(dest)))
				if err != nil {
					if info, serr := os.Stat(filepath.Join(top, filepath.FromSlash(dest))); serr == nil && info.IsDir() && anchor == "" {
						continue // a link to a folder
					}
					broken = append(broken, fmt.Sprintf("%s:%d: %s: no file %s", name, n, target, dest))
					continue
				}
				if anchor != "" && !anchors(string(data))[anchor] {
					broken = append(broken, fmt.Sprintf("%s:%d: %s: no heading #%s in %s", name, n, target, anchor, dest))
				}
			}
		}
	}
	return broken, nil
}

// unlinkedDocs returns the files of top's docs/ that the README does not
// link to.
func unlinkedDocs(top string) ([]string, error) {
	readme, err := os.ReadFile(filepath.Join(top, "README.md"))
	if err != nil {
		return nil, err
	}
	linked := map[string]bool{}
	for _, line := range mdProse(string(readme)) {
		for _, m := range mdLink.FindAllStringSubmatch(line, -1) {
			file, _, _ := strings.Cut(m[1], "#")
			linked[path.Clean(file)] = true
		}
	}
	docs, err := filepath.Glob(filepath.Join(top, "docs", "*.md"))
	if err != nil {
		return nil, err
	}
	var missing []string
	for _, d := range docs {
		if rel := "docs/" + filepath.Base(d); !linked[rel] {
			missing = append(missing, rel)
		}
	}
	return missing, nil
}

func TestDocLinksResolve(t *testing.T) {
	markdown, err := markdownDocs(".")
	require.NoError(t, err)
	require.Contains(t, markdown, "docs/features.md")
	broken, err := brokenLinks(".", markdown)
	require.NoError(t, err)
	assert.Empty(t, broken)
	unlinked, err := unlinkedDocs(".")
	require.NoError(t, err)
	assert.Empty(t, unlinked, "every file of docs/ is linked from the README")

	// Planted: a README whose links miss a file and a heading, beside
	// good ones, and a docs/ file it never links to.
	top := t.TempDir()
	write := func(name, s string) {
		p := filepath.Join(top, filepath.FromSlash(name))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(s), 0o644))
	}
	write("README.md", "# Top\n\n"+
		"[ok](docs/a.md#the-b-c-d_e), [ok](docs/a.md#again-1), [ok](#top), [ok](docs/), [web](https://go.dev/x#y)\n"+
		"[gone](docs/gone.md) and [no heading](docs/a.md#nowhere), `[code](docs/c.md)`\n"+
		"```\n[fenced](docs/d.md)\n```\n")
	write("docs/a.md", "# The `B`: c, d_e!\n\n## Again\n\n## Again\n\n[back](../README.md#top) [no](../README.md#bottom)\n")
	write("docs/orphan.md", "# Orphan\n")
	broken, err = brokenLinks(top, []string{"README.md", "docs/a.md"})
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{
		"README.md:4: docs/gone.md: no file docs/gone.md",
		"README.md:4: docs/a.md#nowhere: no heading #nowhere in docs/a.md",
		"docs/a.md:7: ../README.md#bottom: no heading #bottom in README.md",
	}, broken)
	unlinked, err = unlinkedDocs(top)
	require.NoError(t, err)
	assert.Equal(t, []string{"docs/orphan.md"}, unlinked)
}
