package mmalloc_test

// TestAPI holds the exported API of every package of the module in
// testdata/api.golden, so that a change to the surface is deliberate and
// shows in review. After changing the API on purpose, rewrite the file
// with
//
//	go test -run '^TestAPI$' . -update
//
// and commit it with the change.

import (
	"bytes"
	"flag"
	"fmt"
	"go/ast"
	"go/build"
	"go/constant"
	"go/parser"
	"go/printer"
	"go/token"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var updateAPI = flag.Bool("update", false, "rewrite testdata/api.golden from the exported API (TestAPI)")

const (
	apiGolden  = "testdata/api.golden"
	modulePath = "github.com/mmalloc/mmalloc"
)

// TestAPI compares the exported API of the module's packages with the
// golden file and shows the lines added (+) and removed (-).
func TestAPI(t *testing.T) {
	got, pkgs := moduleAPI(t, ".")
	for _, want := range []string{"", "/arena", "/large", "/slab", "/stats"} {
		require.Contains(t, pkgs, modulePath+want, "a layer of the design is missing from the walk")
	}
	for _, p := range pkgs {
		require.NotContains(t, p, "/internal", "internal packages are not API")
		require.NotContains(t, p, "/bench", "the bench program is its own module")
	}
	text := strings.Join(got, "\n") + "\n"
	if *updateAPI {
		require.NoError(t, os.WriteFile(apiGolden, []byte(text), 0o644))
		t.Logf("wrote %s: %d lines", apiGolden, len(got))
		return
	}
	data, err := os.ReadFile(apiGolden)
	require.NoError(t, err, "no golden file: run go test -run '^TestAPI$' . -update")
	if diff := apiDiff(strings.Split(strings.TrimSuffix(string(data), "\n"), "\n"), got); diff != "" {
		t.Errorf("the exported API differs from %s (- only in the file, + only in the code);\n"+
			"if the change is meant, run go test -run '^TestAPI$' . -update and commit the file:\n%s", apiGolden, diff)
	}
}

// TestAPIFeatures checks the listing itself on a package written for it:
// every kind of declaration, what is hidden, and constants evaluated.
func TestAPIFeatures(t *testing.T) {
	dir := t.TempDir()
	src := `package demo

import "io"

const (
	A = 1 << 4
	b = 2
	C, D = A + b, "d"
)

type Kind uint8

const (
	K0 Kind = iota + 1
	K1
	_
	K3
)

var ErrX = io.EOF

var V, w int

type S struct {
	Name  string
	inner int
	io.Reader
	F func(a, b int, c string) (n int, err error)
}

type I interface {
	Read(p []byte) (int, error)
	hidden()
}

type G[T any, U ~int] struct{ Items []T }

type Alias = S

type hiddenType struct{ X int }

func (hiddenType) Exported() {}

func New(n int, opts ...string) (*S, error) { return nil, nil }

func Map[T any](s []T, f func(T) T) []T { return s }

func (s *S) Method(x, y int) {}

func (g G[T, U]) Len() int { return 0 }

func (s S) unexported() {}

func unexportedFunc() {}
`
	require.NoError(t, os.WriteFile(filepath.Join(dir, "demo.go"), []byte(src), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "demo_test.go"), []byte("package demo\n\nfunc TestHidden() {}\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "other_os.go"), []byte("//go:build windows\n\npackage demo\n\nfunc Windows() {}\n"), 0o644))
	got, err := packageAPI(token.NewFileSet(), dir, "example.com/demo", map[string]constant.Value{})
	require.NoError(t, err)
	p := "pkg example.com/demo, "
	assert.Equal(t, []string{
		p + "const A = 16",
		p + "const C = 18",
		p + "const D = \"d\"",
		p + "const K0 Kind = 1",
		p + "const K1 Kind = 2",
		p + "const K3 Kind = 4",
		p + "func Map[T any]([]T, func(T) T) []T",
		p + "func New(int, ...string) (*S, error)",
		p + "method (*S) Method(int, int)",
		p + "method (G[T, U]) Len() int",
		p + "type Alias = S",
		p + "type G[T any, U ~int] struct",
		p + "type G[T any, U ~int] struct, Items []T",
		p + "type I interface",
		p + "type I interface, Read([]byte) (int, error)",
		p + "type I interface, unexported methods",
		p + "type Kind uint8",
		p + "type S struct",
		p + "type S struct, F func(int, int, string) (int, error)",
		p + "type S struct, Name string",
		p + "type S struct, embedded io.Reader",
		p + "var ErrX = io.EOF",
		p + "var V int",
	}, got)

	assert.Equal(t, "", apiDiff([]string{"a", "b"}, []string{"a", "b"}))
	assert.Equal(t, "- b\n+ c\n", apiDiff([]string{"a", "b"}, []string{"a", "c"}))
}

// moduleAPI lists the exported API of every package under root (the
// module's root directory) except internal ones, testdata and nested
// modules, as sorted lines, and the import paths of the packages.
func moduleAPI(t *testing.T, root string) (lines, pkgs []string) {
	fset := token.NewFileSet()
	consts := map[string]constant.Value{} // "importpath.Name" → value, for constants across packages
	var dirs []string
	require.NoError(t, filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		name := d.Name()
		if p != root {
			if name == "internal" || name == "testdata" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") {
				return filepath.SkipDir
			}
			if _, err := os.Stat(filepath.Join(p, "go.mod")); err == nil {
				return filepath.SkipDir // its own module
			}
		}
		dirs = append(dirs, p)
		return nil
	}))
	// A constant may be defined by another package's: list until no
	// value changes, so that each one is known when it is listed.
	for pass := 0; ; pass++ {
		var next, nextPkgs []string
		for _, dir := range dirs {
			rel, err := filepath.Rel(root, dir)
			require.NoError(t, err)
			importPath := modulePath
			if rel != "." {
				importPath = path.Join(modulePath, filepath.ToSlash(rel))
			}
			got, err := packageAPI(fset, dir, importPath, consts)
			if _, ok := err.(*build.NoGoError); ok {
				continue
			}
			require.NoError(t, err, dir)
			nextPkgs = append(nextPkgs, importPath)
			next = append(next, got...)
		}
		if slices.Equal(next, lines) {
			break
		}
		require.Less(t, pass, 8, "constants still changing")
		lines, pkgs = next, nextPkgs
	}
	slices.Sort(lines)
	slices.Sort(pkgs)
	return lines, pkgs
}

// packageAPI lists the exported API of the package in dir: the files of a
// linux/amd64 build without tags, tests left out.
func packageAPI(fset *token.FileSet, dir, importPath string, consts map[string]constant.Value) ([]string, error) {
	ctx := build.Default
	ctx.GOOS, ctx.GOARCH, ctx.BuildTags, ctx.CgoEnabled = "linux", "amd64", nil, false
	bp, err := ctx.ImportDir(dir, 0)
	if err != nil {
		return nil, err
	}
	l := apiLister{fset: fset, prefix: "pkg " + importPath + ", ", pkg: importPath, consts: consts}
	for _, name := range bp.GoFiles {
		f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		l.file(f)
	}
	slices.Sort(l.lines)
	return l.lines, nil
}

// apiLister writes one line per exported feature of a package, in the
// form of the Go distribution's api files: "pkg path, kind declaration".
type apiLister struct {
	fset    *token.FileSet
	prefix  string
	pkg     string
	consts  map[string]constant.Value
	imports map[string]string // of the file being listed: name → path
	lines   []string
}

func (l *apiLister) add(format string, args ...any) {
	l.lines = append(l.lines, l.prefix+fmt.Sprintf(format, args...))
}

func (l *apiLister) file(f *ast.File) {
	l.imports = map[string]string{}
	for _, im := range f.Imports {
		p, _ := strconv.Unquote(im.Path.Value)
		name := path.Base(p)
		if im.Name != nil {
			name = im.Name.Name
		}
		l.imports[name] = p
	}
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.FuncDecl:
			l.funcDecl(d)
		case *ast.GenDecl:
			switch d.Tok {
			case token.CONST:
				l.constDecl(d)
			case token.VAR:
				l.varDecl(d)
			case token.TYPE:
				for _, s := range d.Specs {
					l.typeSpec(s.(*ast.TypeSpec))
				}
			}
		}
	}
}

func (l *apiLister) funcDecl(d *ast.FuncDecl) {
	if !d.Name.IsExported() {
		return
	}
	if d.Recv == nil {
		l.add("func %s%s%s", d.Name.Name, l.typeParams(d.Type.TypeParams), l.signature(d.Type))
		return
	}
	recv := d.Recv.List[0].Type
	base := recv
	if star, ok := base.(*ast.StarExpr); ok {
		base = star.X
	}
	switch x := base.(type) {
	case *ast.IndexExpr:
		base = x.X
	case *ast.IndexListExpr:
		base = x.X
	}
	if id, ok := base.(*ast.Ident); !ok || !id.IsExported() {
		return
	}
	l.add("method (%s) %s%s", l.expr(recv), d.Name.Name, l.signature(d.Type))
}

// constDecl lists exported constants with their values, evaluated where
// the expression allows (literals, iota, other constants, operators), so
// that the implicit repetition of a const group shows each value.
func (l *apiLister) constDecl(d *ast.GenDecl) {
	var typ ast.Expr
	var values []ast.Expr
	for iota, s := range d.Specs {
		vs := s.(*ast.ValueSpec)
		if vs.Type != nil || len(vs.Values) > 0 {
			typ, values = vs.Type, vs.Values
		}
		for i, name := range vs.Names {
			if i >= len(values) {
				break
			}
			v := l.eval(values[i], iota)
			if v != nil {
				l.consts[l.pkg+"."+name.Name] = v
			}
			if !name.IsExported() {
				continue
			}
			text := l.expr(values[i])
			if v != nil {
				text = v.ExactString()
			}
			if typ != nil {
				l.add("const %s %s = %s", name.Name, l.expr(typ), text)
			} else {
				l.add("const %s = %s", name.Name, text)
			}
		}
	}
}

// eval returns the value of a constant expression, or nil if it needs
// more than this small evaluator knows.
func (l *apiLister) eval(e ast.Expr, iota int) constant.Value {
	switch e := e.(type) {
	case *ast.BasicLit:
		return constant.MakeFromLiteral(e.Value, e.Kind, 0)
	case *ast.Ident:
		if e.Name == "iota" {
			return constant.MakeInt64(int64(iota))
		}
		return l.consts[l.pkg+"."+e.Name]
	case *ast.SelectorExpr:
		if x, ok := e.X.(*ast.Ident); ok {
			return l.consts[l.imports[x.Name]+"."+e.Sel.Name]
		}
	case *ast.ParenExpr:
		return l.eval(e.X, iota)
	case *ast.UnaryExpr:
		if x := l.eval(e.X, iota); x != nil && e.Op != token.XOR {
			return constant.UnaryOp(e.Op, x, 0)
		}
	case *ast.CallExpr: // a conversion, T(x)
		if len(e.Args) == 1 {
			return l.eval(e.Args[0], iota)
		}
	case *ast.BinaryExpr:
		x, y := l.eval(e.X, iota), l.eval(e.Y, iota)
		if x == nil || y == nil {
			return nil
		}
		switch e.Op {
		case token.SHL, token.SHR:
			s, ok := constant.Uint64Val(y)
			if !ok {
				return nil
			}
			return constant.Shift(x, e.Op, uint(s))
		case token.EQL, token.NEQ, token.LSS, token.LEQ, token.GTR, token.GEQ:
			return constant.MakeBool(constant.Compare(x, e.Op, y))
		case token.QUO:
			if x.Kind() == constant.Int && y.Kind() == constant.Int {
				return constant.BinaryOp(x, token.QUO_ASSIGN, y) // integer division
			}
		}
		return constant.BinaryOp(x, e.Op, y)
	}
	return nil
}

func (l *apiLister) varDecl(d *ast.GenDecl) {
	for _, s := range d.Specs {
		vs := s.(*ast.ValueSpec)
		for i, name := range vs.Names {
			switch {
			case !name.IsExported():
			case vs.Type != nil:
				l.add("var %s %s", name.Name, l.expr(vs.Type))
			case i < len(vs.Values):
				l.add("var %s = %s", name.Name, l.expr(vs.Values[i]))
			default: // several names from one call
				l.add("var %s", name.Name)
			}
		}
	}
}

func (l *apiLister) typeSpec(s *ast.TypeSpec) {
	if !s.Name.IsExported() {
		return
	}
	head := "type " + s.Name.Name + l.typeParams(s.TypeParams)
	if s.Assign.IsValid() {
		l.add("%s = %s", head, l.expr(s.Type))
		return
	}
	switch t := s.Type.(type) {
	case *ast.StructType:
		l.add("%s struct", head)
		for _, f := range t.Fields.List {
			if len(f.Names) == 0 {
				if embeddedName(f.Type).IsExported() {
					l.add("%s struct, embedded %s", head, l.expr(f.Type))
				}
				continue
			}
			for _, n := range f.Names {
				if n.IsExported() {
					l.add("%s struct, %s %s", head, n.Name, l.expr(f.Type))
				}
			}
		}
	case *ast.InterfaceType:
		l.add("%s interface", head)
		hidden := false
		for _, m := range t.Methods.List {
			switch {
			case len(m.Names) == 0:
				l.add("%s interface, embedded %s", head, l.expr(m.Type))
			case m.Names[0].IsExported():
				l.add("%s interface, %s%s", head, m.Names[0].Name, l.signature(m.Type.(*ast.FuncType)))
			default:
				hidden = true
			}
		}
		if hidden {
			l.add("%s interface, unexported methods", head)
		}
	default:
		l.add("%s %s", head, l.expr(s.Type))
	}
}

// embeddedName is the type name of an embedded field: T, *T, pkg.T.
func embeddedName(e ast.Expr) *ast.Ident {
	switch e := e.(type) {
	case *ast.StarExpr:
		return embeddedName(e.X)
	case *ast.SelectorExpr:
		return e.Sel
	case *ast.IndexExpr:
		return embeddedName(e.X)
	case *ast.IndexListExpr:
		return embeddedName(e.X)
	case *ast.Ident:
		return e
	}
	return ast.NewIdent("_")
}

// typeParams prints a type parameter list with its names: [T any].
func (l *apiLister) typeParams(fl *ast.FieldList) string {
	if fl == nil || len(fl.List) == 0 {
		return ""
	}
	var parts []string
	for _, f := range fl.List {
		names := make([]string, len(f.Names))
		for i, n := range f.Names {
			names[i] = n.Name
		}
		parts = append(parts, strings.Join(names, ", ")+" "+l.expr(f.Type))
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// signature prints a function type's parameters and results by type
// only: (int, string) (T, error).
func (l *apiLister) signature(ft *ast.FuncType) string {
	s := "(" + strings.Join(l.fieldTypes(ft.Params), ", ") + ")"
	results := l.fieldTypes(ft.Results)
	switch {
	case len(results) == 1:
		s += " " + results[0]
	case len(results) > 1:
		s += " (" + strings.Join(results, ", ") + ")"
	}
	return s
}

// fieldTypes prints one type per parameter: "a, b int" gives int, int.
func (l *apiLister) fieldTypes(fl *ast.FieldList) []string {
	if fl == nil {
		return nil
	}
	var out []string
	for _, f := range fl.List {
		t := l.expr(f.Type)
		for range max(1, len(f.Names)) {
			out = append(out, t)
		}
	}
	return out
}

// expr prints a type or value expression as source, with the parameter
// names of function types dropped.
func (l *apiLister) expr(e ast.Expr) string {
	if ft, ok := e.(*ast.FuncType); ok {
		return "func" + l.signature(ft)
	}
	ast.Inspect(e, func(n ast.Node) bool {
		if ft, ok := n.(*ast.FuncType); ok {
			for _, fl := range []*ast.FieldList{ft.Params, ft.Results} {
				if fl == nil {
					continue
				}
				var unnamed []*ast.Field
				for _, f := range fl.List {
					for range max(1, len(f.Names)) {
						unnamed = append(unnamed, &ast.Field{Type: f.Type})
					}
				}
				fl.List = unnamed
			}
		}
		return true
	})
	var b bytes.Buffer
	if err := printer.Fprint(&b, l.fset, e); err != nil {
		return fmt.Sprintf("<%v>", err)
	}
	return strings.Join(strings.Fields(b.String()), " ")
}

// apiDiff returns the lines only in want (-) and only in got (+), in
// order, or "" if the two sorted lists are equal.
func apiDiff(want, got []string) string {
	var b strings.Builder
	i, j := 0, 0
	for i < len(want) || j < len(got) {
		switch {
		case j == len(got) || i < len(want) && want[i] < got[j]:
			fmt.Fprintf(&b, "- %s\n", want[i])
			i++
		case i == len(want) || got[j] < want[i]:
			fmt.Fprintf(&b, "+ %s\n", got[j])
			j++
		default:
			i, j = i+1, j+1
		}
	}
	return b.String()
}
