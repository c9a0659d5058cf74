package stats_test

import (
	"go/parser"
	"go/token"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDocShowsWhatStringPrints checks that the table doc.go shows is what
// String prints for exampleSnapshot, line for line.
func TestDocShowsWhatStringPrints(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "doc.go", nil, parser.ParseComments|parser.PackageClauseOnly)
	require.NoError(t, err)
	require.NotNil(t, f.Doc)
	var shown []string
	for _, l := range strings.Split(f.Doc.Text(), "\n") {
		if strings.HasPrefix(l, "\t") {
			shown = append(shown, strings.TrimRight(strings.TrimPrefix(l, "\t"), " "))
		}
	}
	var printed []string
	for _, l := range strings.Split(strings.TrimSuffix(exampleSnapshot().String(), "\n"), "\n") {
		printed = append(printed, strings.TrimRight(l, " "))
	}
	assert.Equal(t, printed, shown)
}
