package mmalloc_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// packageDoc returns the package comment of dir's doc.go.
func packageDoc(t *testing.T, dir string) (name, text string) {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(dir, "doc.go"), nil, parser.ParseComments|parser.PackageClauseOnly)
	require.NoError(t, err, dir)
	require.NotNil(t, f.Doc, "%s/doc.go has no package comment", dir)
	return f.Name.Name, f.Doc.Text()
}

// declaredNames returns the names dir's non-test files declare: top-level
// names, methods and struct fields; with exportedOnly, the exported ones.
func declaredNames(t *testing.T, dir string, exportedOnly bool) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	add := func(n string) {
		if !exportedOnly || token.IsExported(n) {
			names[n] = true
		}
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	require.NoError(t, err)
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.SkipObjectResolution)
		require.NoError(t, err)
		if f.Name.Name == "main" {
			continue // a generator beside the package
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.FuncDecl:
				add(n.Name.Name)
			case *ast.TypeSpec:
				add(n.Name.Name)
			case *ast.ValueSpec:
				for _, id := range n.Names {
					add(id.Name)
				}
			case *ast.Field:
				for _, id := range n.Names {
					add(id.Name)
				}
			}
			return true
		})
	}
	return names
}

// The engines hold the designs; each public face points to its engine.
var (
	engines = map[string][]string{ // engine → the sections its design has
		"internal/slabs":    {"# Structures", "# Paths", "# Invariants", "# Locking"},
		"internal/chunk":    {"# Structures", "# Paths", "# Invariants", "# Locking"},
		"internal/mappings": {"# Structures", "# Paths", "# Invariants", "# Locking"},
		"internal/heapprof": {"# Structures", "# Paths", "# Locking"},
	}
	faces = map[string]string{ // public face → its engine
		"slab":  "internal/slabs",
		"large": "internal/mappings",
		"arena": "internal/chunk",
	}
)

// TestEveryPackageExplainsItself checks where each layer's design lives:
// complete in its engine's doc.go, beside the engine's code, while each
// public face documents what it exports, names its engine's doc.go, and
// says nothing of the engine's own names; the root package's doc is the
// map that names every engine.
func TestEveryPackageExplainsItself(t *testing.T) {
	for _, dir := range []string{".", "arena", "slab", "large", "stats", "internal/slabs", "internal/chunk", "internal/mappings", "internal/heapprof"} {
		name, text := packageDoc(t, dir)
		assert.True(t, strings.HasPrefix(text, "Package "+name+" "), "%s: the comment starts with the package name", dir)
		assert.Greater(t, len(strings.Fields(text)), 120, "%s: the package comment explains the package", dir)
	}
	_, root := packageDoc(t, ".")
	for engine, sections := range engines {
		_, text := packageDoc(t, engine)
		assert.Greater(t, len(strings.Fields(text)), 400, "%s: the design is complete here", engine)
		for _, s := range sections {
			assert.Contains(t, text, "\n"+s, "%s: the design has its %q section", engine, s)
		}
		assert.Contains(t, root, engine, "the root package's doc names %s", engine)
	}
	for face, engine := range faces {
		_, text := packageDoc(t, face)
		opening := strings.SplitN(text, "\n# ", 2)[0]
		assert.Contains(t, opening, engine+"/doc.go", "%s: its opening points to its engine's design", face)
		// A name the engine exports and the face does not declare is the
		// engine's to document.
		own := declaredNames(t, face, false)
		for n := range declaredNames(t, engine, true) {
			if own[n] {
				continue
			}
			re := regexp.MustCompile(`(^|[^.\w])` + n + `\b`)
			assert.False(t, re.MatchString(text), "%s: its doc describes %s's %s; that belongs in %s/doc.go", face, engine, n, engine)
		}
	}
	// Examples for the calls a newcomer starts with.
	src, err := os.ReadFile("example_test.go")
	require.NoError(t, err)
	for _, name := range []string{"ExampleNew", "ExampleAllocator_Alloc", "ExampleAllocator_Free", "ExampleAllocator_Stats"} {
		assert.Contains(t, string(src), "func "+name+"()")
	}
}
