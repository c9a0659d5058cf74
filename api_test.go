package mmalloc_test

// The public API: its golden file, testdata/api.golden (TestAPI), made
// by the one parser of the exported declarations (listAPI); and its
// edges: every exported function and method, called on nil, zero and
// closed values and with bad arguments, found by that parser and by
// reflection, so that what is added later is covered without anyone
// remembering to; the errors that mean the same thing in every package;
// zero values; and the one cap rule.

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"go/ast"
	"go/build"
	"go/constant"
	"go/parser"
	"go/printer"
	"go/token"
	"io"
	"math"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mmalloc/mmalloc"
	"github.com/mmalloc/mmalloc/arena"
	"github.com/mmalloc/mmalloc/large"
	"github.com/mmalloc/mmalloc/slab"
	"github.com/mmalloc/mmalloc/stats"
)

// TestAPI holds the exported API of every package of the module in
// testdata/api.golden, so that a change to the surface is deliberate and
// shows in review. After changing the API on purpose, rewrite the file
// with
//
//	go test -run '^TestAPI$' . -update
//
// and commit it with the change.

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
	l, err := listAPI(fset, dir, importPath, consts)
	if err != nil {
		return nil, err
	}
	return l.lines, nil
}

// parseAPI reads the exported declarations of the package in dir, from
// the files packageAPI lists.
func parseAPI(t *testing.T, dir string) apiDecls {
	t.Helper()
	l, err := listAPI(token.NewFileSet(), dir, "", map[string]constant.Value{})
	require.NoError(t, err, dir)
	return l.decls
}

// listAPI runs an apiLister over the package in dir: the files of a
// linux/amd64 build without tags, tests left out.
func listAPI(fset *token.FileSet, dir, importPath string, consts map[string]constant.Value) (*apiLister, error) {
	ctx := build.Default
	ctx.GOOS, ctx.GOARCH, ctx.BuildTags, ctx.CgoEnabled = "linux", "amd64", nil, false
	bp, err := ctx.ImportDir(dir, 0)
	if err != nil {
		return nil, err
	}
	l := &apiLister{fset: fset, prefix: "pkg " + importPath + ", ", pkg: importPath, consts: consts,
		decls: apiDecls{methods: map[string][]string{}}}
	for _, name := range bp.GoFiles {
		f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		l.file(f)
	}
	slices.Sort(l.lines)
	return l, nil
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
	decls   apiDecls // the same names, by kind
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
		if d.Type.TypeParams != nil && len(d.Type.TypeParams.List) > 0 {
			l.decls.generics = append(l.decls.generics, d.Name.Name)
		} else {
			l.decls.funcs = append(l.decls.funcs, d.Name.Name)
		}
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
	id, ok := base.(*ast.Ident)
	if !ok || !id.IsExported() {
		return
	}
	l.add("method (%s) %s%s", l.expr(recv), d.Name.Name, l.signature(d.Type))
	l.decls.methods[id.Name] = append(l.decls.methods[id.Name], d.Name.Name)
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
			if name.IsExported() && strings.HasPrefix(name.Name, "Err") {
				l.decls.errVars = append(l.decls.errVars, name.Name)
			}
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
	l.decls.types = append(l.decls.types, s.Name.Name)
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

// apiDecls is what one package exports, read from its sources.
type apiDecls struct {
	funcs    []string // functions without type parameters
	generics []string // functions with type parameters
	types    []string
	errVars  []string // exported variables named Err...
	methods  map[string][]string
}

// apiPackages are the directories of the packages a user calls: every
// exported name in them is API (the engine lives under internal/).
var apiPackages = []string{".", "arena", "slab", "large", "stats"}

// apiFuncs are the exported functions without type parameters, by package
// and name. Reflection cannot list a package's functions, so a new one
// must be added here: TestEveryCallAtTheEdges fails until it is.
var apiFuncs = map[string]any{
	"mmalloc.New": mmalloc.New, "mmalloc.Default": mmalloc.Default, "mmalloc.Alloc": mmalloc.Alloc,
	"mmalloc.Free": mmalloc.Free, "mmalloc.NewBuffer": mmalloc.NewBuffer,
	"mmalloc.ProcessHeld": mmalloc.ProcessHeld, "mmalloc.ProcessBudget": mmalloc.ProcessBudget,
	"mmalloc.SetProcessBudget": mmalloc.SetProcessBudget,
	"mmalloc.ServeHeapProfile": mmalloc.ServeHeapProfile, "mmalloc.CheckLeaks": mmalloc.CheckLeaks,
	"mmalloc.RefOf": mmalloc.RefOf, "mmalloc.OpenShared": mmalloc.OpenShared,
	"arena.NewRegion": arena.NewRegion,
	"slab.ClassOf":    slab.ClassOf, "slab.ClassBytes": slab.ClassBytes, "slab.ClassSlabBytes": slab.ClassSlabBytes,
	"slab.OwnedBytesBound": slab.OwnedBytesBound, "large.RoundUp": large.RoundUp,
}

// apiTypes are the exported types, by package and name: their methods are
// found by reflection. A new type must be added here (and, if its nil or
// zero value is not the plain one, to receiversOf).
var apiTypes = map[string]reflect.Type{
	"mmalloc.Allocator": reflect.TypeFor[mmalloc.Allocator](), "mmalloc.Cache": reflect.TypeFor[mmalloc.Cache](),
	"mmalloc.Buffer": reflect.TypeFor[mmalloc.Buffer](), "mmalloc.Options": reflect.TypeFor[mmalloc.Options](),
	"arena.Region": reflect.TypeFor[arena.Region](), "arena.RegionOptions": reflect.TypeFor[arena.RegionOptions](),
	"arena.RegionStats": reflect.TypeFor[arena.RegionStats](),
	"stats.Snapshot":    reflect.TypeFor[stats.Snapshot](), "stats.Class": reflect.TypeFor[stats.Class](),
	"mmalloc.MetricKind": reflect.TypeFor[mmalloc.MetricKind](), "mmalloc.Metric": reflect.TypeFor[mmalloc.Metric](),
	"mmalloc.Ref": reflect.TypeFor[mmalloc.Ref](), "mmalloc.SharedView": reflect.TypeFor[mmalloc.SharedView](),
	"mmalloc.TestingT": reflect.TypeFor[mmalloc.TestingT](),
}

// apiErrors are the exported error values; every error a call returns must
// wrap one of them (or one the test's own readers and writers returned).
var apiErrors = map[string]error{
	"mmalloc.ErrInvalidSize": mmalloc.ErrInvalidSize, "mmalloc.ErrForeignPointer": mmalloc.ErrForeignPointer,
	"mmalloc.ErrInvalidPointer": mmalloc.ErrInvalidPointer, "mmalloc.ErrDoubleFree": mmalloc.ErrDoubleFree,
	"mmalloc.ErrOutOfMemory": mmalloc.ErrOutOfMemory, "mmalloc.ErrClosed": mmalloc.ErrClosed,
	"mmalloc.ErrInvalidOption": mmalloc.ErrInvalidOption, "mmalloc.ErrPointerType": mmalloc.ErrPointerType,
	"mmalloc.ErrUninitialized": mmalloc.ErrUninitialized, "mmalloc.ErrCorrupted": mmalloc.ErrCorrupted,
	"mmalloc.ErrNameTaken":   mmalloc.ErrNameTaken,
	"mmalloc.ErrProfileName": mmalloc.ErrProfileName, "mmalloc.ErrNotShared": mmalloc.ErrNotShared,
	"mmalloc.ErrNotSharedFile": mmalloc.ErrNotSharedFile, "mmalloc.ErrOutOfRange": mmalloc.ErrOutOfRange,
}

// hugeT is a type larger than any address space holds.
type hugeT [1 << 47]byte

// genericCalls covers every exported generic function, which reflection
// cannot instantiate: each entry calls it with the types and arguments
// that matter — pointer-free, zero-size, pointer-holding, larger than
// MaxAllocBytes — on the Allocator or Region given, and returns the error.
// TestEveryCallAtTheEdges fails when a generic function is missing here.
var genericCalls = map[string]func(a *mmalloc.Allocator, ar *arena.Region) []error{
	"mmalloc.NewValue": func(a *mmalloc.Allocator, _ *arena.Region) []error {
		return errs(
			first(mmalloc.NewValue[int64](a)), first(mmalloc.NewValue[struct{}](a)),
			first(mmalloc.NewValue[*int](a)), first(mmalloc.NewValue[hugeT](a)),
			first(mmalloc.NewValue[[mmalloc.MaxAllocBytes + 1]byte](a)))
	},
	"mmalloc.FreeValue": func(a *mmalloc.Allocator, _ *arena.Region) []error {
		return errs(mmalloc.FreeValue(a, new(int64)), mmalloc.FreeValue[int64](a, nil),
			mmalloc.FreeValue(a, &struct{}{}), mmalloc.FreeValue(a, new(*int)), mmalloc.FreeValue[hugeT](a, nil))
	},
	"mmalloc.MakeSlice": func(a *mmalloc.Allocator, _ *arena.Region) []error {
		return errs(first(mmalloc.MakeSlice[int64](a, -1, 0)), first(mmalloc.MakeSlice[int64](a, 2, 1)),
			first(mmalloc.MakeSlice[int64](a, 0, math.MaxInt)), first(mmalloc.MakeSlice[int64](a, 0, 0)),
			first(mmalloc.MakeSlice[struct{}](a, 5, 5)), first(mmalloc.MakeSlice[string](a, 1, 1)),
			first(mmalloc.MakeSlice[hugeT](a, 1, 1)), first(mmalloc.MakeSlice[hugeT](a, 0, 0)))
	},
	"mmalloc.FreeSlice": func(a *mmalloc.Allocator, _ *arena.Region) []error {
		return errs(mmalloc.FreeSlice(a, make([]int64, 3)), mmalloc.FreeSlice[int64](a, nil),
			mmalloc.FreeSlice(a, []string{"x"}), mmalloc.FreeSlice(a, make([]hugeT, 0)))
	},
	"arena.NewValue": func(_ *mmalloc.Allocator, ar *arena.Region) []error {
		return errs(first(arena.NewValue[int64](ar)), first(arena.NewValue[struct{}](ar)),
			first(arena.NewValue[*int](ar)), first(arena.NewValue[hugeT](ar)))
	},
	"arena.MakeSlice": func(_ *mmalloc.Allocator, ar *arena.Region) []error {
		return errs(first(arena.MakeSlice[int64](ar, -1, 0)), first(arena.MakeSlice[int64](ar, 2, 1)),
			first(arena.MakeSlice[int64](ar, 0, math.MaxInt)), first(arena.MakeSlice[string](ar, 1, 1)),
			first(arena.MakeSlice[hugeT](ar, 1, 1)), first(arena.MakeSlice[struct{}](ar, 0, 0)))
	},
}

func first[T any](_ T, err error) error { return err }

func errs(e ...error) []error { return e }

// TestAPIListsAreComplete: the tables above name every exported function,
// generic function, type and error of the user's packages, and nothing
// else, so that a name added later is either covered automatically (a
// method) or makes this test fail until it is listed.
func TestAPIListsAreComplete(t *testing.T) {
	var funcs, generics, types, errVars []string
	for _, dir := range apiPackages {
		d := parseAPI(t, dir)
		pkg := "mmalloc"
		if dir != "." {
			pkg = dir
		}
		keep := func(names []string) (out []string) {
			for _, n := range names {
				out = append(out, pkg+"."+n)
			}
			return out
		}
		funcs = append(funcs, keep(d.funcs)...)
		generics = append(generics, keep(d.generics)...)
		types = append(types, keep(d.types)...)
		errVars = append(errVars, keep(d.errVars)...)
		for typ, ms := range d.methods {
			require.Contains(t, apiTypes, pkg+"."+typ, "methods %v of an unlisted type", ms)
		}
	}
	assert.ElementsMatch(t, funcs, mapKeys(apiFuncs), "apiFuncs must list every exported function")
	assert.ElementsMatch(t, generics, mapKeys(genericCalls), "genericCalls must cover every exported generic function")
	assert.ElementsMatch(t, types, mapKeys(apiTypes), "apiTypes must list every exported type")
	assert.ElementsMatch(t, errVars, mapKeys(apiErrors), "apiErrors must list every exported error")
}

func mapKeys[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// TestAPIErrorValues: one error value per meaning across the module's
// packages. Every closed-state error is mmalloc.ErrClosed or wraps it,
// a Region's failures are mmalloc's sentinels (package arena exports no
// copy of them), the internal ones carry the Err prefix, and
// MaxAllocBytes is one bound.
func TestAPIErrorValues(t *testing.T) {
	ar0, err := arena.NewRegion(arena.RegionOptions{})
	require.NoError(t, err)
	_, err = ar0.Alloc(mmalloc.MaxAllocBytes + 1)
	assert.ErrorIs(t, err, mmalloc.ErrInvalidSize, "a Region's bound is mmalloc.MaxAllocBytes")
	_, err = arena.NewValue[*int](ar0)
	assert.ErrorIs(t, err, mmalloc.ErrPointerType)
	_, err = arena.NewRegion(arena.RegionOptions{ChunkBytes: -1})
	assert.ErrorIs(t, err, mmalloc.ErrInvalidOption)
	_, err = (*arena.Region)(nil).Alloc(1)
	assert.ErrorIs(t, err, mmalloc.ErrUninitialized)
	require.NoError(t, ar0.Close())

	// The Region's closed-state errors, as returned.
	ar, err := arena.NewRegion(arena.RegionOptions{})
	require.NoError(t, err)
	require.NoError(t, ar.Close())
	_, err = ar.Alloc(8)
	assert.ErrorIs(t, err, mmalloc.ErrClosed)
	assert.ErrorIs(t, ar.Reset(), mmalloc.ErrClosed)
	_, err = arena.NewValue[int](ar)
	assert.ErrorIs(t, err, mmalloc.ErrClosed)

	// No package but internal/errs makes an error that says closed or
	// released, and the internal names carry the Err prefix.
	d := parseAPI(t, filepath.Join("internal", "errs"))
	require.NotEmpty(t, d.errVars)
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, filepath.Join("internal", "errs", "errs.go"), nil, 0)
	require.NoError(t, err)
	ast.Inspect(f, func(n ast.Node) bool {
		if vs, ok := n.(*ast.ValueSpec); ok {
			for _, name := range vs.Names {
				assert.True(t, strings.HasPrefix(name.Name, "Err"), "internal/errs.%s lacks the Err prefix", name.Name)
			}
		}
		return true
	})
	newErr := regexp.MustCompile(`errors\.New\("([^"]*)"\)`)
	literal := regexp.MustCompile(`(?m)^\s*(MaxAllocBytes\s*=\s*[0-9]|type span\b)`)
	err = filepath.WalkDir(".", func(path string, e os.DirEntry, err error) error {
		if err != nil || e.IsDir() && (e.Name() == "bench" || e.Name() == "testdata") {
			if err == nil {
				err = filepath.SkipDir
			}
			return err
		}
		if e.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		require.NoError(t, err)
		inErrs := filepath.Dir(path) == filepath.Join("internal", "errs")
		for _, m := range newErr.FindAllStringSubmatch(string(src), -1) {
			if !inErrs {
				assert.NotRegexp(t, `closed|released`, m[1], "%s makes its own closed-state error", path)
			}
		}
		if filepath.Dir(path) != filepath.Join("internal", "osmem") {
			assert.NotRegexp(t, literal, string(src), "%s defines MaxAllocBytes or a span type again", path)
		}
		return nil
	})
	require.NoError(t, err)
}

// TestZeroValues: a nil or zero Allocator or Cache, and a nil Buffer or
// Region, return ErrUninitialized from every call that returns an error,
// never following a nil pointer; the zero Buffer and the zero Region are
// ready to use.
func TestZeroValues(t *testing.T) {
	var zero mmalloc.Allocator
	for name, a := range map[string]*mmalloc.Allocator{"zero": &zero, "nil": nil} {
		t.Run(name+" Allocator", func(t *testing.T) {
			_, err := a.Alloc(8)
			assert.ErrorIs(t, err, mmalloc.ErrUninitialized)
			_, err = a.AllocUninit(1 << 20)
			assert.ErrorIs(t, err, mmalloc.ErrUninitialized)
			_, err = a.AllocAligned(8, 64)
			assert.ErrorIs(t, err, mmalloc.ErrUninitialized)
			assert.ErrorIs(t, a.Free(make([]byte, 8)), mmalloc.ErrUninitialized)
			_, err = a.Realloc(nil, 8)
			assert.ErrorIs(t, err, mmalloc.ErrUninitialized)
			assert.ErrorIs(t, a.Trim(), mmalloc.ErrUninitialized)
			assert.ErrorIs(t, a.CheckGuards(), mmalloc.ErrUninitialized)
			assert.ErrorIs(t, a.Close(), mmalloc.ErrUninitialized)
			assert.ErrorIs(t, a.Publish("mmalloc-zero-"+name), mmalloc.ErrUninitialized)
			assert.Equal(t, stats.Snapshot{}, a.Stats())
			assert.Zero(t, a.UsableSize(8))
			c := a.NewCache()
			_, err = c.Alloc(8)
			assert.ErrorIs(t, err, mmalloc.ErrUninitialized)
			_, err = mmalloc.NewValue[int64](a)
			assert.ErrorIs(t, err, mmalloc.ErrUninitialized)
			_, err = mmalloc.NewValue[struct{}](a)
			assert.ErrorIs(t, err, mmalloc.ErrUninitialized)
			_, err = mmalloc.MakeSlice[int64](a, 0, 0)
			assert.ErrorIs(t, err, mmalloc.ErrUninitialized)
			_, err = mmalloc.NewBuffer(a).WriteString("x")
			if a == nil { // NewBuffer(nil) means the Default Allocator
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, mmalloc.ErrUninitialized)
			}
		})
	}
	for name, c := range map[string]*mmalloc.Cache{"zero": new(mmalloc.Cache), "nil": nil} {
		t.Run(name+" Cache", func(t *testing.T) {
			_, err := c.Alloc(8)
			assert.ErrorIs(t, err, mmalloc.ErrUninitialized)
			_, err = c.AllocUninit(8)
			assert.ErrorIs(t, err, mmalloc.ErrUninitialized)
			_, err = c.AllocAligned(8, 64)
			assert.ErrorIs(t, err, mmalloc.ErrUninitialized)
			assert.ErrorIs(t, c.Free(make([]byte, 8)), mmalloc.ErrUninitialized)
			assert.NotPanics(t, c.Flush)
		})
	}
	t.Run("nil Buffer", func(t *testing.T) {
		var b *mmalloc.Buffer
		for name, call := range map[string]func() error{
			"Write":       func() error { _, err := b.Write([]byte("x")); return err },
			"WriteString": func() error { _, err := b.WriteString("x"); return err },
			"WriteByte":   func() error { return b.WriteByte('x') },
			"WriteRune":   func() error { _, err := b.WriteRune('x'); return err },
			"Read":        func() error { _, err := b.Read(make([]byte, 1)); return err },
			"ReadByte":    func() error { _, err := b.ReadByte(); return err },
			"ReadFrom":    func() error { _, err := b.ReadFrom(strings.NewReader("x")); return err },
			"WriteTo":     func() error { _, err := b.WriteTo(io.Discard); return err },
			"Grow":        func() error { return b.Grow(1) },
			"Truncate":    func() error { return b.Truncate(0) },
			"Free":        b.Free,
		} {
			assert.ErrorIs(t, call(), mmalloc.ErrUninitialized, name)
		}
		b.Reset()
		assert.Zero(t, b.Len())
		assert.Zero(t, b.Cap())
		assert.Zero(t, b.Available())
		assert.Nil(t, b.Bytes())
		assert.Nil(t, b.Next(1))
		assert.Equal(t, "<nil>", b.String())
	})
	t.Run("zero Buffer", func(t *testing.T) {
		var b mmalloc.Buffer
		_, err := b.WriteString("zero")
		require.NoError(t, err)
		assert.Equal(t, "zero", b.String())
		require.NoError(t, b.Free())
	})
	t.Run("nil Region", func(t *testing.T) {
		var ar *arena.Region
		_, err := ar.Alloc(8)
		assert.ErrorIs(t, err, mmalloc.ErrUninitialized)
		assert.ErrorIs(t, ar.Reset(), mmalloc.ErrUninitialized)
		assert.ErrorIs(t, ar.Close(), mmalloc.ErrUninitialized)
		_, err = arena.NewValue[int](ar)
		assert.ErrorIs(t, err, mmalloc.ErrUninitialized)
		_, err = arena.MakeSlice[int](ar, 1, 1)
		assert.ErrorIs(t, err, mmalloc.ErrUninitialized)
		assert.Equal(t, arena.RegionStats{}, ar.Stats())
	})
	t.Run("zero Region", func(t *testing.T) {
		var ar arena.Region
		st := ar.Stats()
		assert.Equal(t, int64(arena.DefaultRegionChunkBytes), st.ChunkBytes, "the default Options")
		assert.Zero(t, st.Mapped)
		require.NoError(t, ar.Reset())
		b, err := ar.Alloc(100)
		require.NoError(t, err)
		assert.Len(t, b, 100)
		v, err := arena.NewValue[[4]uint64](&ar)
		require.NoError(t, err)
		assert.Equal(t, [4]uint64{}, *v)
		require.NoError(t, ar.Close())
		assert.Zero(t, ar.Stats().Mapped)
		_, err = ar.Alloc(1)
		assert.ErrorIs(t, err, mmalloc.ErrClosed)
	})
}

// TestOneCapRule: cap(b) == UsableSize(n) for the b every path hands out
// for n bytes — Alloc, AllocUninit, a Cache, Realloc (in place, moved and
// remapped), a kept large mapping reused (up to an eighth bigger), guard
// mode — and MakeSlice's cap is the capacity asked for, as make's.
// AllocAligned(n, align) serves n rounded up to align: its cap is
// UsableSize of that (n in guard mode).
func TestOneCapRule(t *testing.T) {
	sizes := []int{1, 8, 9, 100, 1000, 4096, 33 * kib, threshold, threshold + 1, 35 * pageBytes, 36 * pageBytes, mib - 1, 3*mib + 5}
	for _, o := range []mmalloc.Options{{}, {Guard: true}, {LargeThreshold: 1000}, {RetainBytes: mmalloc.NoRetain}} {
		t.Run(fmt.Sprintf("guard=%v,threshold=%d,retain=%d", o.Guard, o.LargeThreshold, o.RetainBytes), func(t *testing.T) {
			a := newAlloc(t, o)
			c := a.NewCache()
			capOK := func(how string, n int, b []byte) {
				t.Helper()
				require.Len(t, b, n, how)
				require.Equal(t, a.UsableSize(n), cap(b), "%s(%d): cap must be UsableSize", how, n)
			}
			for _, n := range sizes {
				b, err := a.Alloc(n)
				require.NoError(t, err)
				capOK("Alloc", n, b)
				u, err := a.AllocUninit(n)
				require.NoError(t, err)
				capOK("AllocUninit", n, u)
				x, err := c.Alloc(n)
				require.NoError(t, err)
				capOK("Cache.Alloc", n, x)
				for _, al := range []int{64, pageBytes} {
					y, err := a.AllocAligned(n, al)
					require.NoError(t, err)
					z, err := c.AllocAligned(n, al)
					require.NoError(t, err)
					want := a.UsableSize((n + al - 1) &^ (al - 1))
					if o.Guard {
						want = n
					}
					for _, b := range [][]byte{y, z} {
						require.Len(t, b, n)
						require.Equal(t, want, cap(b), "AllocAligned(%d, %d): cap must be UsableSize of n rounded up to align", n, al)
						whole, err := a.Bytes(mmalloc.RefOf(b))
						require.NoError(t, err)
						require.Len(t, whole, cap(b), "Bytes(RefOf(b)) agrees with cap(b)")
						require.NoError(t, a.Free(b))
					}
				}
				for _, m := range sizes { // every transition, then back
					r, err := a.Realloc(b, m)
					require.NoError(t, err)
					capOK(fmt.Sprintf("Realloc from %d to", len(b)), m, r)
					b = r
				}
				s, err := mmalloc.MakeSlice[uint32](a, n/8, n/4+1)
				require.NoError(t, err)
				assert.Equal(t, n/4+1, cap(s), "MakeSlice's cap is the capacity asked for")
				require.NoError(t, mmalloc.FreeSlice(a, s))
				require.NoError(t, a.Free(b))
				require.NoError(t, a.Free(u))
				require.NoError(t, c.Free(x))
			}
			// A kept mapping up to an eighth bigger is reused exactly as big as asked.
			c.Flush()
			require.NoError(t, a.Trim()) // nothing else kept
			big, err := a.Alloc(36 * pageBytes)
			require.NoError(t, err)
			require.NoError(t, a.Free(big))
			mm := a.Stats().Mmaps
			b, err := a.Alloc(35 * pageBytes)
			require.NoError(t, err)
			capOK("Alloc after the Free of a 36-page mapping", 35*pageBytes, b)
			if !o.Guard && o.RetainBytes != mmalloc.NoRetain && o.LargeThreshold == 0 {
				assert.Equal(t, addr(big), addr(b), "the kept mapping was reused")
				assert.Equal(t, mm, a.Stats().Mmaps, "no new mapping")
			}
			require.NoError(t, a.Free(b))
			c.Flush()
			require.NoError(t, a.Validate())
			require.NoError(t, a.Trim())
			assert.Zero(t, a.Stats().Mapped)
		})
	}
}

// The states a receiver is called in.
type recvState int

const (
	stUsable recvState = iota // a working value (or a function): bad arguments, any documented error
	stUninit                  // nil or zero, not usable: ErrUninitialized
	stClosed                  // its Allocator closed, its Region closed: ErrClosed
)

// apiRecv is one receiver the sweep calls every method of.
type apiRecv struct {
	name  string
	v     reflect.Value
	state recvState
	owner *mmalloc.Allocator // whose Stats must not move when a call is refused
}

// closedOK names the methods documented to work after Close.
var closedOK = map[string]bool{
	"Allocator.Publish": true, // expvar keeps the figures, readable after Close
}

// apiWorld is everything the sweep needs: allocators in every state and
// slices of every kind, made the same way in every run of the child.
type apiWorld struct {
	methods map[string]bool // "pkg.Type.Method" declared in the packages' non-test sources

	open, other, bufAlloc, closed, closedGuard *mmalloc.Allocator
	ar, closedRegion                           *arena.Region
	closedView                                 *mmalloc.SharedView

	badSlices    []namedValue // for usable receivers: slices no call may accept as its own
	closedSlices []namedValue // slices of the closed Allocators, now unmapped
}

type namedValue struct {
	name string
	v    reflect.Value
}

func nv(name string, v any) namedValue { return namedValue{name, reflect.ValueOf(v)} }

func newAPIWorld(t *testing.T) *apiWorld {
	w := &apiWorld{methods: map[string]bool{}}
	for _, dir := range apiPackages {
		pkg := "mmalloc"
		if dir != "." {
			pkg = dir
		}
		for typ, ms := range parseAPI(t, dir).methods {
			for _, m := range ms {
				w.methods[pkg+"."+typ+"."+m] = true
			}
		}
	}
	mk := func(o mmalloc.Options) *mmalloc.Allocator {
		a, err := mmalloc.New(o)
		require.NoError(t, err)
		return a
	}
	w.open, w.other, w.bufAlloc = mk(mmalloc.Options{}), mk(mmalloc.Options{}), mk(mmalloc.Options{})
	w.closed, w.closedGuard = mk(mmalloc.Options{}), mk(mmalloc.Options{Guard: true})
	alloc := func(a *mmalloc.Allocator, n int) []byte {
		b, err := a.Alloc(n)
		require.NoError(t, err)
		return b
	}
	live := alloc(w.open, 4096) // sacrificed: its interior is passed around
	freedSmall := alloc(w.open, 100)
	_ = alloc(w.open, 100) // a live neighbour keeps the slab
	require.NoError(t, w.open.Free(freedSmall))
	freedLarge := alloc(w.open, 2*mib) // kept for reuse: still mapped
	require.NoError(t, w.open.Free(freedLarge))
	w.badSlices = []namedValue{
		nv("heap slice", make([]byte, 100)), nv("freed small", freedSmall), nv("freed large", freedLarge),
		nv("interior", live[16:]), nv("another Allocator's", alloc(w.other, 100)),
	}
	for _, a := range []*mmalloc.Allocator{w.closed, w.closedGuard} {
		for _, n := range []int{100, 4096, 2 * mib} {
			b := alloc(a, n)
			if n == 4096 {
				require.NoError(t, a.Free(b)) // quarantined in guard mode
			}
			w.closedSlices = append(w.closedSlices, nv(fmt.Sprintf("unmapped %d", n), b))
		}
	}
	var err error
	sh, err := mmalloc.New(mmalloc.Options{Shared: true})
	require.NoError(t, err)
	f := sh.File()
	w.closedView, err = mmalloc.OpenShared(f)
	require.NoError(t, err)
	require.NoError(t, w.closedView.Close())
	require.NoError(t, f.Close())
	require.NoError(t, sh.Close())
	w.ar, err = arena.NewRegion(arena.RegionOptions{ChunkBytes: 64 << 10, Limit: 1 << 20})
	require.NoError(t, err)
	w.closedRegion, err = arena.NewRegion(arena.RegionOptions{})
	require.NoError(t, err)
	_, err = w.closedRegion.Alloc(100)
	require.NoError(t, err)
	require.NoError(t, w.closedRegion.Close())
	return w
}

// receiversOf returns the receivers to call t's methods on: nil and zero
// values, values made unusable by Close, and usable ones.
func (w *apiWorld) receiversOf(name string, typ reflect.Type) []apiRecv {
	ptr := func(v any) reflect.Value { return reflect.ValueOf(v) }
	nilv := reflect.Zero(reflect.PointerTo(typ))
	zero := reflect.New(typ)
	switch name {
	case "mmalloc.Allocator":
		return []apiRecv{
			{"nil", nilv, stUninit, nil}, {"zero", zero, stUninit, nil},
			{"closed", ptr(w.closed), stClosed, w.closed}, {"closed guard", ptr(w.closedGuard), stClosed, w.closedGuard},
			{"open", ptr(w.open), stUsable, w.open},
		}
	case "mmalloc.Cache":
		return []apiRecv{
			{"nil", nilv, stUninit, nil}, {"zero", zero, stUninit, nil},
			{"of a zero Allocator", ptr(new(mmalloc.Allocator).NewCache()), stUninit, nil},
			{"of a closed Allocator", ptr(w.cacheOf(w.closed)), stClosed, w.closed},
			{"open", ptr(w.open.NewCache()), stUsable, w.open},
		}
	case "mmalloc.Buffer":
		return []apiRecv{
			{"nil", nilv, stUninit, nil},
			{"of a zero Allocator", ptr(mmalloc.NewBuffer(new(mmalloc.Allocator))), stUninit, nil},
			{"of a closed Allocator, with room", ptr(w.bufferOf(w.closed)), stClosed, w.closed},
			{"of a closed Allocator, empty", ptr(mmalloc.NewBuffer(w.closedGuard)), stClosed, w.closedGuard},
			{"zero", zero, stUsable, nil},
			{"open", ptr(w.bufferOf(w.bufAlloc)), stUsable, w.bufAlloc},
		}
	case "mmalloc.SharedView":
		return []apiRecv{
			{"nil", nilv, stUninit, nil}, {"zero", zero, stUninit, nil},
			{"closed", ptr(w.closedView), stClosed, nil},
		}
	case "arena.Region":
		return []apiRecv{
			{"nil", nilv, stUninit, nil}, {"closed", ptr(w.closedRegion), stClosed, nil},
			{"zero", zero, stUsable, nil}, {"open", ptr(w.ar), stUsable, nil},
		}
	}
	// A type used by value (Snapshot, Stats, Options): its zero value.
	return []apiRecv{{"zero", zero, stUsable, nil}}
}

// cacheOf returns a Cache of a holding a free object.
func (w *apiWorld) cacheOf(a *mmalloc.Allocator) *mmalloc.Cache {
	c := a.NewCache()
	if b, err := c.Alloc(64); err == nil {
		_ = c.Free(b)
	}
	return c
}

// bufferOf returns a Buffer of a with bytes in it and room for more.
func (w *apiWorld) bufferOf(a *mmalloc.Allocator) *mmalloc.Buffer {
	b := mmalloc.NewBuffer(a)
	_, _ = b.WriteString("hello")
	return b
}

// argsFor returns the values to pass as a parameter of type typ: for a
// usable receiver only bad ones, for the others a mix that includes
// pointers into unmapped memory.
func (w *apiWorld) argsFor(typ reflect.Type, st recvState) []namedValue {
	switch typ {
	case reflect.TypeFor[[]byte]():
		if st == stUsable {
			return w.badSlices
		}
		return append([]namedValue{nv("nil", []byte(nil)), nv("heap", make([]byte, 10))}, w.closedSlices...)
	case reflect.TypeFor[*mmalloc.Allocator]():
		return []namedValue{nv("nil", (*mmalloc.Allocator)(nil)), nv("zero", new(mmalloc.Allocator)), nv("closed", w.closed)}
	case reflect.TypeFor[*arena.Region]():
		return []namedValue{nv("nil", (*arena.Region)(nil)), nv("closed", w.closedRegion)}
	case reflect.TypeFor[io.Reader]():
		return []namedValue{nv("reader", strings.NewReader("some bytes")), nv("failing reader", errReader{}),
			nv("lying reader", lyingReader{})}
	case reflect.TypeFor[io.Writer]():
		return []namedValue{nv("discard", io.Discard), nv("failing writer", errWriter{}), nv("short writer", shortWriter{})}
	case reflect.TypeFor[mmalloc.Options]():
		return []namedValue{nv("threshold -1", mmalloc.Options{LargeThreshold: -1}), nv("chunk 3 MiB", mmalloc.Options{ChunkBytes: 3 << 20}),
			nv("limit -1", mmalloc.Options{Limit: -1}), nv("chunk max", mmalloc.Options{ChunkBytes: math.MaxInt})}
	case reflect.TypeFor[arena.RegionOptions]():
		return []namedValue{nv("chunk 1000", arena.RegionOptions{ChunkBytes: 1000}), nv("chunk -1", arena.RegionOptions{ChunkBytes: -1}),
			nv("limit -1", arena.RegionOptions{Limit: -1})}
	}
	switch typ.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		vals := []int64{-1, math.MinInt64, math.MaxInt64, mmalloc.MaxAllocBytes + 1}
		if st != stUsable {
			vals = append(vals, 1, 4096, 1<<20, 0) // 0 last: SetProcessBudget(0) removes the budget
		}
		var out []namedValue
		for _, x := range vals {
			v := reflect.New(typ).Elem()
			if v.OverflowInt(x) {
				continue
			}
			v.SetInt(x)
			out = append(out, namedValue{strconv.FormatInt(x, 10), v})
		}
		return out
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		var out []namedValue
		for _, x := range []uint64{0, 1, 0xdead_0000, math.MaxUint64, uint64(addr(w.badSlices[1].v.Bytes()))} {
			v := reflect.New(typ).Elem()
			if v.OverflowUint(x) {
				continue
			}
			v.SetUint(x)
			out = append(out, namedValue{fmt.Sprintf("%#x", x), v})
		}
		return out
	case reflect.String:
		return []namedValue{{`""`, reflect.ValueOf("").Convert(typ)}, {`"mmalloc-api"`, reflect.ValueOf("mmalloc-api").Convert(typ)}}
	case reflect.Bool:
		return []namedValue{{"false", reflect.ValueOf(false).Convert(typ)}, {"true", reflect.ValueOf(true).Convert(typ)}}
	case reflect.Func:
		ok := reflect.MakeFunc(typ, func([]reflect.Value) []reflect.Value {
			out := make([]reflect.Value, typ.NumOut())
			for i := range out {
				out[i] = reflect.Zero(typ.Out(i))
			}
			return out
		})
		return []namedValue{{"nil func", reflect.Zero(typ)}, {"func", ok}}
	case reflect.Pointer, reflect.Slice, reflect.Map, reflect.Interface:
		out := []namedValue{{"nil", reflect.Zero(typ)}}
		if typ.Kind() == reflect.Pointer {
			out = append(out, namedValue{"new", reflect.New(typ.Elem())})
		}
		return out
	}
	return []namedValue{{"zero", reflect.Zero(typ)}}
}

type errReader struct{}

var errFromTest = errors.New("an error of the test's own reader or writer")

func (errReader) Read([]byte) (int, error) { return 0, errFromTest }

type lyingReader struct{}

func (lyingReader) Read([]byte) (int, error) { return -1, nil }

// apiCall is one call of the sweep.
type apiCall struct {
	id     string
	method string  // "Type.Method" of a method call
	recv   apiRecv // zero for functions
	fn     reflect.Value
	args   []namedValue
	gen    func() []error // a generic function's calls, instead of fn
}

// calls lists every call of the sweep, in an order that is the same in
// every run.
func (w *apiWorld) calls(t *testing.T) []apiCall {
	var out []apiCall
	for _, name := range mapKeys(apiTypes) {
		typ := apiTypes[name]
		for _, r := range w.receiversOf(name, typ) {
			pt := r.v.Type()
			for i := range pt.NumMethod() {
				m := pt.Method(i)
				if !w.methods[name+"."+m.Name] {
					continue // a test-only method of export_test.go
				}
				short := name[strings.Index(name, ".")+1:] + "." + m.Name
				nIn := m.Type.NumIn() - 1
				if r.state == stUsable && nIn == 0 {
					continue // no argument to make bad
				}
				fn := r.v.Method(i)
				for _, args := range w.combos(m.Type, 1, r.state) {
					out = append(out, apiCall{id: fmt.Sprintf("%s %s(%s)", r.name, short, argNames(args)),
						method: short, recv: r, fn: fn, args: args})
				}
			}
		}
	}
	for _, name := range mapKeys(apiFuncs) {
		fn := reflect.ValueOf(apiFuncs[name])
		for _, args := range w.combos(fn.Type(), 0, stClosed) {
			out = append(out, apiCall{id: fmt.Sprintf("%s(%s)", name, argNames(args)), fn: fn, args: args})
		}
	}
	for _, name := range mapKeys(genericCalls) {
		g := genericCalls[name]
		for _, on := range []struct {
			name string
			a    *mmalloc.Allocator
			ar   *arena.Region
			st   recvState
		}{
			{"nil", nil, nil, stUninit}, {"zero Allocator, nil Region", new(mmalloc.Allocator), nil, stUninit},
			{"closed", w.closed, w.closedRegion, stClosed}, {"open", w.open, w.ar, stUsable},
		} {
			out = append(out, apiCall{id: fmt.Sprintf("%s on %s", name, on.name),
				recv: apiRecv{name: on.name, state: on.st, owner: on.a},
				gen:  func() []error { return g(on.a, on.ar) }})
		}
	}
	require.NotEmpty(t, out)
	return out
}

// combos returns every combination of argument values for the parameters
// of ft from index from on.
func (w *apiWorld) combos(ft reflect.Type, from int, st recvState) [][]namedValue {
	res := [][]namedValue{nil}
	for i := from; i < ft.NumIn(); i++ {
		in := ft.In(i)
		if ft.IsVariadic() && i == ft.NumIn()-1 {
			break // no variadic arguments
		}
		var next [][]namedValue
		for _, prefix := range res {
			for _, v := range w.argsFor(in, st) {
				next = append(next, append(slices.Clone(prefix), v))
			}
		}
		res = next
	}
	return res
}

func argNames(args []namedValue) string {
	names := make([]string, len(args))
	for i, a := range args {
		names[i] = a.name
	}
	return strings.Join(names, ", ")
}

// documented reports whether err wraps an exported error of the module
// or one the test's own readers and writers return.
func documented(err error) bool {
	for _, e := range apiErrors {
		if errors.Is(err, e) {
			return true
		}
	}
	// A writer's own error, passed on (buffer_test.go's errWriter fails with
	// io.ErrClosedPipe).
	return errors.Is(err, errFromTest) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrShortWrite) || errors.Is(err, io.ErrClosedPipe)
}

// run makes the call and returns what is wrong with it, or "".
func (c apiCall) run(w *apiWorld) (bad string) {
	var before stats.Snapshot
	if c.recv.owner != nil {
		before = c.recv.owner.Stats()
	}
	defer func() {
		if r := recover(); r != nil {
			bad = fmt.Sprintf("panicked: %v", r)
		}
	}()
	var results []reflect.Value
	var errList []error
	if c.gen != nil {
		errList = c.gen()
	} else {
		args := make([]reflect.Value, len(c.args))
		for i, a := range c.args {
			args[i] = a.v
		}
		results = c.fn.Call(args)
		for _, r := range results {
			if r.Type() == reflect.TypeFor[error]() && !r.IsNil() {
				errList = append(errList, r.Interface().(error))
			}
			if bad := rangeOver(r); bad != "" {
				return bad
			}
		}
	}
	want := map[recvState]error{stUninit: mmalloc.ErrUninitialized, stClosed: mmalloc.ErrClosed}[c.recv.state]
	method := c.method
	for _, err := range errList {
		switch {
		case err == nil:
		case want != nil && !closedOK[method] && !errors.Is(err, want):
			return fmt.Sprintf("returned %q, want %v", err, want)
		case !documented(err):
			return fmt.Sprintf("returned an undocumented error %q", err)
		}
	}
	if want != nil && !closedOK[method] && c.gen == nil && c.fn.Type().NumOut() > 0 && c.fn.Type().Out(c.fn.Type().NumOut()-1) == reflect.TypeFor[error]() {
		if len(errList) == 0 {
			return fmt.Sprintf("returned no error, want %v", want)
		}
		for _, r := range results[:len(results)-1] {
			if !r.IsZero() {
				return fmt.Sprintf("returned %v beside its error", r)
			}
		}
	}
	if c.recv.owner != nil && len(errList) > 0 && (c.gen == nil || want != nil) {
		if after := c.recv.owner.Stats(); !reflect.DeepEqual(before, after) {
			return "a refused call changed the Allocator's Stats"
		}
	}
	for _, a := range []*mmalloc.Allocator{w.open, w.other, w.bufAlloc} {
		if err := a.Validate(); err != nil {
			return "broke an invariant: " + err.Error()
		}
	}
	return ""
}

// rangeOver ranges over r if it is an iterator (an iter.Seq or
// iter.Seq2): to the end, and once more stopping at the first value, which
// must end the iteration. It returns what is wrong, or "".
func rangeOver(r reflect.Value) string {
	t := r.Type()
	if t.Kind() != reflect.Func || t.NumIn() != 1 || t.NumOut() != 0 {
		return ""
	}
	y := t.In(0)
	if y.Kind() != reflect.Func || y.NumOut() != 1 || y.Out(0).Kind() != reflect.Bool {
		return ""
	}
	if r.IsNil() {
		return "returned a nil iterator"
	}
	for _, stopAt := range []int{-1, 1} {
		calls := 0
		r.Call([]reflect.Value{reflect.MakeFunc(y, func([]reflect.Value) []reflect.Value {
			calls++
			return []reflect.Value{reflect.ValueOf(calls != stopAt)}
		})})
		if stopAt > 0 && calls > stopAt {
			return fmt.Sprintf("its iterator yielded %d values after yield returned false", calls-stopAt)
		}
	}
	return ""
}

// apiSkipEnv lists the calls (by index) a child must not make: the
// parent found that they killed an earlier child.
const apiSkipEnv = "MMALLOC_API_SKIP"

// TestEveryCallAtTheEdges calls every exported function and method of
// the user's packages — methods found by reflection, functions and
// generic functions from the lists TestAPIListsAreComplete keeps
// complete — on nil, zero and closed values and with bad
// arguments (negative and oversized counts, slices of the Go heap,
// interiors, freed and unmapped memory, another Allocator's, failing and
// lying readers and writers). Each call must return, without a panic or
// a fault: on a nil or zero value every error is ErrUninitialized, on a
// closed one ErrClosed (save the methods documented to work after Close),
// with zero results beside it and the Allocator's Stats unmoved; with bad
// arguments, documented errors only, and the invariants of the usable
// Allocators hold after every call.
//
// The calls run in a child process, which prints each call before making
// it: a call that kills the child is reported, and the child run again
// without it, so that one crash hides no other.
func TestEveryCallAtTheEdges(t *testing.T) {
	if isChild(t) {
		skip := map[int]bool{}
		for _, s := range strings.Split(os.Getenv(apiSkipEnv), ",") {
			if k, err := strconv.Atoi(s); err == nil {
				skip[k] = true
			}
		}
		debug.SetPanicOnFault(true)
		w := newAPIWorld(t)
		calls := w.calls(t) // makes the Caches and Buffers of the Allocators closed next
		require.NoError(t, w.closed.Close())
		require.NoError(t, w.closedGuard.Close())
		fmt.Fprintf(os.Stderr, "api: PLAN %d\n", len(calls))
		for i, c := range calls {
			if skip[i] {
				continue
			}
			fmt.Fprintf(os.Stderr, "api: CALL %d %s\n", i, c.id)
			if bad := c.run(w); bad != "" {
				fmt.Fprintf(os.Stderr, "api: BAD %d %s: %s\n", i, c.id, bad)
			}
			fmt.Fprintf(os.Stderr, "api: DONE %d\n", i)
		}
		return
	}
	var skipped, crashed, bad []string
	plan, done := -1, 0
	for attempt := 0; attempt < 20; attempt++ {
		out, err := runChild(t, apiSkipEnv+"="+strings.Join(skipped, ","))
		last := ""
		sc := bufio.NewScanner(strings.NewReader(out))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "api: PLAN "):
				plan, _ = strconv.Atoi(strings.TrimPrefix(line, "api: PLAN "))
			case strings.HasPrefix(line, "api: CALL "):
				last = strings.TrimPrefix(line, "api: CALL ")
			case strings.HasPrefix(line, "api: DONE "):
				last = ""
				done++
			case strings.HasPrefix(line, "api: BAD "):
				bad = append(bad, strings.TrimPrefix(line, "api: BAD "))
			}
		}
		if err == nil {
			break
		}
		require.NotEmpty(t, last, "the child failed outside any call:\n%s", tail(out, 4000))
		death := out[strings.LastIndex(out, "api: CALL ")+len("api: CALL "+last):]
		crashed = append(crashed, last+":"+strings.ReplaceAll(tail(death, 600), "\n", "\n\t"))
		skipped = append(skipped, strings.Fields(last)[0])
	}
	require.Positive(t, plan, "the child made no plan")
	t.Logf("%d calls planned, %d returned, %d killed the process", plan, done, len(crashed))
	assert.Equal(t, plan, done+len(crashed), "every call was made")
	assert.Empty(t, crashed, "calls that killed the process:\n%s", strings.Join(crashed, "\n"))
	assert.Empty(t, bad, "calls that broke a promise:\n%s", strings.Join(bad, "\n"))
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
