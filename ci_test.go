package mmalloc_test

// The project's checks on itself: make test runs every step, every fuzz
// target is fuzzed in CI from a committed corpus, and the module builds
// only where it can run.

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestFuzzTargetsRunInCI: every fuzz target of the package has a corpus
// committed under testdata/fuzz (in the go test fuzz v1 format, so plain
// go test replays it) and is named in the Makefile's FUZZTARGETS, which CI
// fuzzes for FUZZTIME executions each.
func TestFuzzTargetsRunInCI(t *testing.T) {
	files, err := filepath.Glob("*_test.go")
	require.NoError(t, err)
	var targets []string
	decl := regexp.MustCompile(`(?m)^func (Fuzz\w+)\(f \*testing\.F\)`)
	for _, f := range files {
		src, err := os.ReadFile(f)
		require.NoError(t, err)
		for _, m := range decl.FindAllStringSubmatch(string(src), -1) {
			targets = append(targets, m[1])
		}
	}
	require.NotEmpty(t, targets)
	mk, err := os.ReadFile("Makefile")
	require.NoError(t, err)
	list := regexp.MustCompile(`(?m)^FUZZTARGETS \?= (.*)$`).FindStringSubmatch(string(mk))
	require.NotNil(t, list, "Makefile has no FUZZTARGETS")
	for _, target := range targets {
		assert.Contains(t, strings.Fields(list[1]), target, "%s is not fuzzed in CI", target)
		seeds, err := filepath.Glob(filepath.Join("testdata", "fuzz", target, "*"))
		require.NoError(t, err)
		assert.GreaterOrEqual(t, len(seeds), 10, "%s has no committed corpus", target)
		for _, s := range seeds {
			data, err := os.ReadFile(s)
			require.NoError(t, err)
			assert.True(t, strings.HasPrefix(string(data), "go test fuzz v1\n"), s)
		}
	}
	// A count, not a duration (see the Makefile), and at least 10,000.
	assert.Regexp(t, `(?m)^FUZZTIME \?= [1-9][0-9]{4,}x$`, string(mk), "fuzz for at least 10000 executions per target")
	assert.Regexp(t, `(?m)^FUZZMINIMIZE \?= [1-9][0-9]*x$`, string(mk), "minimization is bounded by a count")
}

// TestMakeTestRunsEveryStep: make test runs each of its steps even when an
// earlier one fails, prints one status line per step, and fails if any
// step did, so that one failure never hides another. Two steps that fail
// (targets that do not exist) around one that passes (gofmt, in an empty
// folder holding only a copy of the Makefile) must all be run and
// reported.
func TestMakeTestRunsEveryStep(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed")
	}
	mk, err := os.ReadFile("Makefile")
	require.NoError(t, err)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "Makefile"), mk, 0o644))
	cmd := exec.Command("make", "--no-print-directory", "test", "STEPS=no-such-step-1 gofmt no-such-step-2")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "MAKEFLAGS=")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, "make test must fail when a step fails:\n%s", out)
	assert.NotZero(t, exit.ExitCode())
	summary := regexp.MustCompile(`(?m)^(\S+)\s+(ok|FAILED)\s+\d+s$`).FindAllStringSubmatch(string(out), -1)
	got := map[string]string{}
	for _, m := range summary {
		got[m[1]] = m[2]
	}
	assert.Equal(t, map[string]string{"no-such-step-1": "FAILED", "gofmt": "ok", "no-such-step-2": "FAILED"}, got, "one line per step:\n%s", out)
	assert.Contains(t, string(out), "make test: FAILED: no-such-step-1 no-such-step-2")
}

// unsupportedMessage is what a build for anything but 64-bit Linux stops
// with (internal/errs/unsupported.go).
const unsupportedMessage = "mmalloc requires 64-bit Linux: tested on amd64, builds on arm64"

// TestBuildsOnlyFor64BitLinux cross-builds the module: for another system
// (darwin) and for 32-bit Linux (386), go build and go vet fail with the
// one message that says mmalloc is for 64-bit Linux, not with an
// undefined system call or an overflowing constant; for linux/arm64 both
// succeed. With a cold build cache each target compiles the standard
// library first (about a minute on the project's machine); -short skips it.
func TestBuildsOnlyFor64BitLinux(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: cross builds compile the standard library per target")
	}
	goCmd, err := exec.LookPath("go")
	require.NoError(t, err, "the go command runs the cross builds")
	run := func(goos, goarch string, args ...string) (string, error) {
		cmd := exec.Command(goCmd, args...)
		cmd.Env = append(os.Environ(), "GOOS="+goos, "GOARCH="+goarch, "CGO_ENABLED=0", "GOFLAGS=")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	for _, target := range []struct{ goos, goarch, cmd string }{
		{"darwin", "amd64", "build"},
		{"darwin", "amd64", "vet"},
		{"linux", "386", "build"},
	} {
		out, err := run(target.goos, target.goarch, target.cmd, "./...")
		name := target.goos + "/" + target.goarch + " go " + target.cmd
		require.Error(t, err, "%s succeeded:\n%s", name, out)
		assert.Contains(t, out, unsupportedMessage, name)
		assert.NotContains(t, out, "undefined:", name)
		assert.NotContains(t, out, "overflows", name)
		for _, line := range strings.Split(out, "\n") {
			if strings.HasPrefix(line, "# ") {
				assert.Contains(t, line, "mmalloc/internal/errs", "%s: the one failing package is internal/errs", name)
			}
		}
	}
	for _, cmd := range []string{"build", "vet"} {
		out, err := run("linux", "arm64", cmd, "./...")
		assert.NoError(t, err, "linux/arm64 go %s:\n%s", cmd, out)
	}
}
