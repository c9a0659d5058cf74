package mmalloc_test

// The docs: every package explains itself, and every name a comment
// gives exists.

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
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

// notIdentifiers are words with a hump that name nothing in this
// repository's code, nor anything its comments qualify elsewhere with a
// package (memory.GoAllocator): units, and names in other projects that
// the comments name bare.
var notIdentifiers = map[string]bool{
	// Units, and a field of /proc/self/status.
	"kB": true, "KiB": true, "MiB": true, "GiB": true, "TiB": true, "VmHWM": true,
	// Names in other projects that no import here declares: arrow-go's
	// compute package and mallocator, runtime/pprof, parquet-go's tests.
	"execBufBuilder": true, "NewMallocatorWithAlignment": true,
	"scaleHeapSample": true, "testBufferPool": true, "testBufferPoolStress": true,
}

// declared is what the repository's Go files declare.
type declared struct {
	pkgs    map[string]map[string]bool // package name → its top-level names
	types   map[string]bool            // every type name
	members map[string]map[string]bool // type name → fields and methods (merged across packages)
	embeds  map[string][]string        // type name → the types it embeds
	names   map[string]bool            // every identifier of the code: declared, or used from another package
	imports map[string]bool            // the names the files give the packages they import
}

// Every identifier a comment names must exist. The check parses every Go
// file of the repository (this module, bench and integration, tests
// included), collects what is declared, and reads every comment and the
// `code` spans of the READMEs for names:
//
//   - pkg.Name and pkg.Type.Member, where pkg is a package of the
//     repository: Name must be declared at the top of that package, and
//     Member be a field or method of Type (promoted ones included);
//   - Type.Member, where Type is a type of the repository: Member must be
//     one of its fields or methods;
//   - a bare name with a hump (a lower-case letter or digit, then an upper
//     one: OwnedBytesBound, reuseFree, TryTrim): it must be declared in
//     the repository, or be a name of another package that its code uses
//     (ReadMemStats, as in runtime.ReadMemStats), or be on the allowlist.
//
// A chain that starts with another package (runtime.MemProfileRate,
// unix.Mmap) or a variable (a.heap) is not checked, nor a file or host
// name (slab.go, pkg.go.dev).

// hasMember reports whether type t has member m, directly or promoted.
func (d *declared) hasMember(t, m string) bool {
	seen := map[string]bool{}
	var has func(t string) bool
	has = func(t string) bool {
		if seen[t] {
			return false
		}
		seen[t] = true
		if d.members[t][m] {
			return true
		}
		return slices.ContainsFunc(d.embeds[t], has)
	}
	return has(t)
}

// typeName returns the name of the type expression e (T, *T, pkg.T, T[X]).
func typeName(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.Ident:
		return e.Name
	case *ast.StarExpr:
		return typeName(e.X)
	case *ast.SelectorExpr:
		return e.Sel.Name
	case *ast.IndexExpr:
		return typeName(e.X)
	case *ast.IndexListExpr:
		return typeName(e.X)
	}
	return ""
}

// goFiles lists the Go files under top, skipping hidden directories and
// testdata.
func goFiles(top string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(top, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != top && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".go") {
			files = append(files, path)
		}
		return nil
	})
	return files, err
}

// parseAll parses files and collects their declarations.
func parseAll(fset *token.FileSet, files []string) ([]*ast.File, *declared, error) {
	d := &declared{
		pkgs: map[string]map[string]bool{}, types: map[string]bool{},
		members: map[string]map[string]bool{}, embeds: map[string][]string{}, names: map[string]bool{},
		imports: map[string]bool{},
	}
	member := func(t, m string) {
		if d.members[t] == nil {
			d.members[t] = map[string]bool{}
		}
		d.members[t][m] = true
	}
	var asts []*ast.File
	for _, name := range files {
		f, err := parser.ParseFile(fset, name, nil, parser.ParseComments|parser.SkipObjectResolution)
		if err != nil {
			return nil, nil, err
		}
		asts = append(asts, f)
		pkg := strings.TrimSuffix(f.Name.Name, "_test")
		if d.pkgs[pkg] == nil {
			d.pkgs[pkg] = map[string]bool{}
		}
		top := d.pkgs[pkg]
		// Packages this file imports, by the name it uses for them: a
		// selector on one of them names another package's identifier.
		imported := map[string]bool{}
		for _, im := range f.Imports {
			path, _ := strconv.Unquote(im.Path.Value)
			n := path[strings.LastIndex(path, "/")+1:]
			if im.Name != nil {
				n = im.Name.Name
			}
			imported[n] = true
			d.imports[n] = true
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.Ident:
				d.names[n.Name] = true // declared here, or used from elsewhere
			case *ast.SelectorExpr:
				if x, ok := n.X.(*ast.Ident); ok && imported[x.Name] {
					d.names[n.Sel.Name] = true
				}
			}
			return true
		})
		for _, decl := range f.Decls {
			switch decl := decl.(type) {
			case *ast.FuncDecl:
				if decl.Recv == nil {
					top[decl.Name.Name] = true
				} else if len(decl.Recv.List) == 1 {
					member(typeName(decl.Recv.List[0].Type), decl.Name.Name)
				}
			case *ast.GenDecl:
				for _, spec := range decl.Specs {
					switch spec := spec.(type) {
					case *ast.ValueSpec:
						for _, n := range spec.Names {
							top[n.Name] = true
						}
					case *ast.TypeSpec:
						t := spec.Name.Name
						top[t] = true
						d.types[t] = true
						var fields *ast.FieldList
						switch st := spec.Type.(type) {
						case *ast.StructType:
							fields = st.Fields
						case *ast.InterfaceType:
							fields = st.Methods
						default:
							// A defined type over another: its fields are
							// the other's.
							if u := typeName(spec.Type); u != "" {
								d.embeds[t] = append(d.embeds[t], u)
							}
						}
						if fields == nil {
							continue
						}
						for _, fld := range fields.List {
							if len(fld.Names) == 0 {
								if e := typeName(fld.Type); e != "" {
									member(t, e)
									d.embeds[t] = append(d.embeds[t], e)
								}
							}
							for _, n := range fld.Names {
								member(t, n.Name)
							}
						}
					}
				}
			}
		}
	}
	return asts, d, nil
}

var (
	// chainRE finds dotted names: a.b.c, with (*T) and type arguments
	// ([T], [int64]) removed first.
	chainRE  = regexp.MustCompile(`[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*`)
	derefRE  = regexp.MustCompile(`(^|[^A-Za-z0-9_])\(\*?([A-Za-z_][A-Za-z0-9_]*)\)\.([A-Za-z_])`)
	typeArgs = regexp.MustCompile(`([A-Za-z0-9_])\[[A-Za-z0-9_.*, \[\]]*\]`)
	humpRE   = regexp.MustCompile(`[a-z0-9][A-Z]`)
	mdSpan   = regexp.MustCompile("`([^`\n]+)`")
	// fileSuffixes end a chain that names a file or a host, not an
	// identifier.
	fileSuffixes = map[string]bool{
		"go": true, "md": true, "txt": true, "mod": true, "sum": true, "png": true, "svg": true,
		"golden": true, "s": true, "c": true, "h": true, "json": true, "html": true, "sh": true,
		"gz": true, "pb": true, "com": true, "org": true, "dev": true, "io": true, "net": true,
	}
)

// staleName is a name a comment gives that nothing declares.
type staleName struct {
	file string
	line int
	name string
}

func (s staleName) String() string { return fmt.Sprintf("%s:%d: %s", s.file, s.line, s.name) }

// chains returns the dotted names of text (one line of a comment), split
// at the dots, without the ones that name files, hosts, versions or paths.
func chains(text string) [][]string {
	text = derefRE.ReplaceAllString(text, "$1$2.$3")
	text = typeArgs.ReplaceAllString(text, "$1")
	var out [][]string
	for _, loc := range chainRE.FindAllStringIndex(text, -1) {
		if loc[0] > 0 && strings.ContainsRune("0123456789-", rune(text[loc[0]-1])) {
			continue // go1.26, x86-64
		}
		if loc[1] < len(text) && text[loc[1]] == '/' {
			continue // a path, or a sub-benchmark's name
		}
		parts := strings.Split(text[loc[0]:loc[1]], ".")
		if fileSuffixes[parts[len(parts)-1]] && len(parts) > 1 {
			continue
		}
		out = append(out, parts)
	}
	return out
}

// learnExternal adds to d.names the exported names text gives another
// package's identifiers (httputil.ReverseProxy): a comment that qualifies
// one once may name it bare elsewhere.
func (d *declared) learnExternal(text string) {
	for _, parts := range chains(text) {
		if len(parts) > 1 && d.imports[parts[0]] && d.pkgs[parts[0]] == nil {
			for _, p := range parts[1:] {
				if token.IsExported(p) {
					d.names[p] = true
				}
			}
		}
	}
}

// check returns the names in text (one line of a comment) that do not
// exist. With qualifiedOnly it checks only the names qualified by a
// package or a type of the repository.
func (d *declared) check(text string, qualifiedOnly bool) []string {
	var bad []string
	for _, parts := range chains(text) {
		first := parts[0]
		switch {
		case len(parts) > 1 && d.pkgs[first] != nil && first != "main":
			name := parts[1]
			if !d.pkgs[first][name] {
				bad = append(bad, first+"."+name)
				continue
			}
			if len(parts) > 2 && d.types[name] && !d.hasMember(name, parts[2]) {
				bad = append(bad, strings.Join(parts[:3], "."))
			}
		case len(parts) > 1 && d.types[first]:
			if !d.hasMember(first, parts[1]) {
				bad = append(bad, first+"."+parts[1])
			}
		case !qualifiedOnly && humpRE.MatchString(first) && !d.names[first] && !notIdentifiers[first]:
			bad = append(bad, first)
		}
	}
	return bad
}

// docLine is one line of a comment, or of a README's `code` span.
type docLine struct {
	file          string
	line          int
	text          string
	qualifiedOnly bool
}

// staleNames returns every name that the comments of the Go files under
// top, and the `code` spans of the Markdown files given, name but that
// does not exist. A Markdown span is checked only for names qualified by
// a package or a type of the repository: the READMEs also name the tests
// of other projects.
func staleNames(top string, markdown []string) ([]staleName, error) {
	files, err := goFiles(top)
	if err != nil {
		return nil, err
	}
	fset := token.NewFileSet()
	asts, d, err := parseAll(fset, files)
	if err != nil {
		return nil, err
	}
	var lines []docLine
	for _, f := range asts {
		for _, cg := range f.Comments {
			output := false // an example's output is no prose
			for _, c := range cg.List {
				if strings.HasPrefix(c.Text, "//go:") || strings.HasPrefix(c.Text, "//line ") {
					continue
				}
				pos := fset.Position(c.Slash)
				rel, err := filepath.Rel(top, pos.Filename)
				if err != nil {
					return nil, err
				}
				for i, l := range strings.Split(c.Text, "\n") {
					if t := strings.TrimSpace(strings.TrimPrefix(l, "//")); strings.HasPrefix(t, "Output:") || strings.HasPrefix(t, "Unordered output:") {
						output = true
					}
					if !output {
						lines = append(lines, docLine{file: filepath.ToSlash(rel), line: pos.Line + i, text: l})
					}
				}
			}
		}
	}
	for _, md := range markdown {
		src, err := os.ReadFile(filepath.Join(top, md))
		if err != nil {
			return nil, err
		}
		for i, line := range strings.Split(string(src), "\n") {
			for _, m := range mdSpan.FindAllStringSubmatch(line, -1) {
				if !strings.ContainsAny(m[1], " =/-") { // a name, not a command or a path
					lines = append(lines, docLine{file: md, line: i + 1, text: m[1], qualifiedOnly: true})
				}
			}
		}
	}
	for _, l := range lines {
		d.learnExternal(l.text)
	}
	var stale []staleName
	for _, l := range lines {
		for _, name := range d.check(l.text, l.qualifiedOnly) {
			stale = append(stale, staleName{file: l.file, line: l.line, name: name})
		}
	}
	return stale, nil
}

// markdownDocs lists the Markdown files under top whose `code` spans are
// checked: the READMEs and every file of docs/, relative to top.
func markdownDocs(top string) ([]string, error) {
	files := []string{"README.md", "bench/README.md", "integration/README.md"}
	docs, err := filepath.Glob(filepath.Join(top, "docs", "*.md"))
	if err != nil {
		return nil, err
	}
	for _, d := range docs {
		rel, err := filepath.Rel(top, d)
		if err != nil {
			return nil, err
		}
		files = append(files, filepath.ToSlash(rel))
	}
	return files, nil
}

// TestDocNamesExist fails for every comment that names an identifier the
// repository does not declare, with the file, the line and the name.
func TestDocNamesExist(t *testing.T) {
	markdown, err := markdownDocs(".")
	require.NoError(t, err)
	require.Contains(t, markdown, "docs/features.md", "docs/ is checked")
	stale, err := staleNames(".", markdown)
	require.NoError(t, err)
	for _, s := range stale {
		t.Errorf("%s: no such identifier", s)
	}
}

// TestDocNamesCatchesStaleNames plants stale names in a small repository
// and checks that exactly they are reported, where they stand.
func TestDocNamesCatchesStaleNames(t *testing.T) {
	top := t.TempDir()
	write := func(name, s string) {
		p := filepath.Join(top, filepath.FromSlash(name))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(s), 0o644))
	}
	write("slabs/slab.go", `// Package slabs is a test.
package slabs

import "runtime"

// Slab is a slab; a Free calls Slab.Settle, then Central.Settle.
type Slab struct{ reuseAt int }

// Settle settles s (see reuseFreeObjects, reuseFree and runtime.ReadMemStats).
func (s *Slab) Settle() { runtime.GC() }

func reuseFree() {}

// Local is a cache.
type Local struct{ reuseAt int }

// Central embeds Local: Central.reuseAt is promoted, Central.Drop is not.
type Central struct{ Local }
`)
	write("face/face.go", `// Package face names slabs.Slab, slabs.Slab.Settle, slabs.Gone and
// slabs.Slab.Gone, in slab.go and on pkg.go.dev, with unix.Mmap and KiB.
package face
`)
	write("README.md", "Call `slabs.Slab` and `Slab.Drop`, not `go test -run X ./slabs`.\n")
	for _, name := range []string{"bench/README.md", "integration/README.md"} {
		write(name, "Nothing here.\n")
	}
	write("docs/engine.md", "# Engine\n\n`Slab.Settle` and `Central.Local`; then `slabs.Central.Drain`.\n")
	markdown, err := markdownDocs(top)
	require.NoError(t, err)
	stale, err := staleNames(top, markdown)
	require.NoError(t, err)
	var got []string
	for _, s := range stale {
		got = append(got, s.String())
	}
	assert.ElementsMatch(t, []string{
		"README.md:1: Slab.Drop",
		"docs/engine.md:3: slabs.Central.Drain",
		"face/face.go:1: slabs.Gone",
		"face/face.go:2: slabs.Slab.Gone",
		"slabs/slab.go:6: Central.Settle",
		"slabs/slab.go:9: reuseFreeObjects",
		"slabs/slab.go:17: Central.Drop",
	}, got)
}

// internalNamed returns, for the non-test Go files of dir, every pkg.Name
// where pkg is one of internal, in the doc comments of exported
// declarations (their fields included) and in the messages of the errors
// the files make (errors.New, fmt.Errorf): what a user of a public package
// reads in godoc or in an error, where only public names help.
func internalNamed(dir string, internal []string) ([]string, error) {
	re := regexp.MustCompile(`\b(` + strings.Join(internal, "|") + `)\.[A-Z][A-Za-z0-9_]*`)
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return nil, err
	}
	fset := token.NewFileSet()
	var found []string
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ParseComments|parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		report := func(at token.Pos, texts ...string) {
			for _, text := range texts {
				for _, m := range re.FindAllString(text, -1) {
					p := fset.Position(at)
					found = append(found, fmt.Sprintf("%s:%d: %s", filepath.Base(p.Filename), p.Line, m))
				}
			}
		}
		docs := func(groups ...*ast.CommentGroup) (texts []string) {
			for _, g := range groups {
				if g != nil {
					texts = append(texts, g.Text())
				}
			}
			return texts
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.FuncDecl:
				if n.Name.IsExported() {
					report(n.Pos(), docs(n.Doc)...)
				}
			case *ast.GenDecl:
				exported := false
				for _, s := range n.Specs {
					switch s := s.(type) {
					case *ast.TypeSpec:
						if !s.Name.IsExported() {
							continue
						}
						exported = true
						report(s.Pos(), docs(s.Doc, s.Comment)...)
						if st, ok := s.Type.(*ast.StructType); ok {
							for _, fl := range st.Fields.List {
								report(fl.Pos(), docs(fl.Doc, fl.Comment)...)
							}
						}
					case *ast.ValueSpec:
						if slices.ContainsFunc(s.Names, (*ast.Ident).IsExported) {
							exported = true
							report(s.Pos(), docs(s.Doc, s.Comment)...)
						}
					}
				}
				if exported {
					report(n.Pos(), docs(n.Doc)...)
				}
			case *ast.CallExpr:
				if sel, ok := n.Fun.(*ast.SelectorExpr); ok && (sel.Sel.Name == "New" || sel.Sel.Name == "Errorf") {
					for _, a := range n.Args {
						if lit, ok := a.(*ast.BasicLit); ok && lit.Kind == token.STRING {
							report(lit.Pos(), lit.Value)
						}
					}
				}
			}
			return true
		})
	}
	return found, nil
}

// TestPublicTextNamesNoInternalSymbol: godoc of the exported names of the
// packages a user imports, and the errors they return, name public
// symbols (mmalloc.MaxAllocBytes, slab.OwnedBytesBound), never the
// internal ones a user cannot reach (osmem.MaxAllocBytes,
// slabs.OwnedBytesBound). The package docs may name internal types: they
// say where each layer's design lives.
func TestPublicTextNamesNoInternalSymbol(t *testing.T) {
	entries, err := os.ReadDir("internal")
	require.NoError(t, err)
	var internal []string
	for _, e := range entries {
		if e.IsDir() {
			internal = append(internal, e.Name())
		}
	}
	require.Contains(t, internal, "osmem")
	for _, dir := range append(slices.Clone(apiPackages), "arrowmem", "parquetmem", "httpmem") {
		found, err := internalNamed(dir, internal)
		require.NoError(t, err)
		assert.Empty(t, found, "package %s names internal symbols where users read", dir)
	}

	// Planted: each place a user reads is checked, and nothing else.
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "p.go"), []byte(`package p

import "fmt"

// T is bounded by osmem.MaxAllocBytes.
type T struct {
	N int // at most slabs.OwnedBytesBound
}

// F fails.
func F() error { return fmt.Errorf("above chunk.GranuleBytes") }

// f is internal, and may say osmem.Source.
func f() {}
`), 0o644))
	found, err := internalNamed(dir, internal)
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"p.go:6: osmem.MaxAllocBytes", "p.go:7: slabs.OwnedBytesBound", "p.go:11: chunk.GranuleBytes"}, found)
}
