package mmalloc_test

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestEveryPackageExplainsItself checks that each package of the module has
// a doc.go whose package comment is a real design text, as go doc shows it.
func TestEveryPackageExplainsItself(t *testing.T) {
	for _, dir := range []string{".", "arena", "slab", "large", "stats"} {
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, filepath.Join(dir, "doc.go"), nil, parser.ParseComments|parser.PackageClauseOnly)
		require.NoError(t, err, dir)
		require.NotNil(t, f.Doc, "%s/doc.go has no package comment", dir)
		text := f.Doc.Text()
		assert.True(t, strings.HasPrefix(text, "Package "+f.Name.Name+" "), "%s: comment starts with the package name", dir)
		assert.Greater(t, len(strings.Fields(text)), 120, "%s: the package comment explains the design", dir)
	}
	// Examples for the calls a newcomer starts with.
	src, err := os.ReadFile("example_test.go")
	require.NoError(t, err)
	for _, name := range []string{"ExampleNew", "ExampleAllocator_Alloc", "ExampleAllocator_Free", "ExampleAllocator_Stats"} {
		assert.Contains(t, string(src), "func "+name+"()")
	}
}
