package mmalloc_test

import (
	"os"
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
