// The files the harness adds to the copies of arrow-go and parquet-go.

package main

// memoryFile goes into arrow/memory: the mmalloc allocator of the run and
// the report each package's TestMain prints. In guard mode
// (ARROWMEM_GUARD=1) a bad Free panics; every allocation is sampled
// (ProfileRate 1), so that what is still live at the end is listed with
// the call stacks that allocated it.
const memoryFile = `//go:build mmalloc || mmalloc_goalloc

package memory

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/mmalloc/mmalloc"
	"github.com/mmalloc/mmalloc/arrowmem"
)

// Mmalloc is the allocator this test run takes Arrow's memory from.
var Mmalloc = newMmalloc()

func newMmalloc() *arrowmem.Allocator {
	guard := os.Getenv(arrowmem.GuardEnv) == "1"
	a, err := mmalloc.New(mmalloc.Options{Guard: guard, ProfileRate: 1})
	if err != nil {
		panic(err)
	}
	if guard {
		return arrowmem.New(a, arrowmem.OnBadFree(func(err error) { panic(err) }))
	}
	return arrowmem.New(a)
}

// MmallocReport writes what mmalloc holds after the tests of pkg to
// $MMALLOC_REPORT_DIR, for the harness (go test -json would split the
// long line).
func MmallocReport(pkg string) {
	a := Mmalloc.Mmalloc()
	st := a.Stats()
	r := map[string]any{
		"Allocs": st.Allocs, "Live": st.Live, "InUse": st.InUse, "Corrupted": st.Corrupted,
		"AllocatedBytes": Mmalloc.AllocatedBytes(), "BadFrees": Mmalloc.BadFrees(),
	}
	if err := Mmalloc.Err(); err != nil {
		r["FirstBadFree"] = err.Error()
	}
	if err := a.CheckGuards(); err != nil {
		r["Guards"] = strings.Split(err.Error(), "\n")
	}
	b, _ := json.Marshal(r)
	dir := os.Getenv("MMALLOC_REPORT_DIR")
	if dir == "" {
		fmt.Println("` + reportTag + `" + string(b))
		return
	}
	name := dir + "/" + strings.ReplaceAll(pkg, "/", "_")
	if err := os.WriteFile(name+".json", b, 0o644); err != nil {
		fmt.Println("mmalloc report:", err)
	}
	// Every allocation is sampled: the profile's in-use samples are
	// exactly what is still live, with the stacks that allocated it.
	if f, err := os.Create(name + ".pb.gz"); err == nil {
		_ = a.WriteHeapProfile(f)
		_ = f.Close()
	}
}
`

// defaultFile makes DefaultAllocator the mmalloc one under the tag mmalloc.
const defaultFile = `//go:build mmalloc

package memory

func init() { DefaultAllocator = Mmalloc }
`

// goallocFile is GoAllocator under the tag mmalloc_goalloc: its buffers
// come from the mmalloc allocator (go_allocator.go is left out).
const goallocFile = `//go:build mmalloc_goalloc

package memory

// GoAllocator, under mmalloc_goalloc, allocates from Mmalloc.
type GoAllocator struct{}

// NewGoAllocator returns a GoAllocator.
func NewGoAllocator() *GoAllocator { return &GoAllocator{} }

func (a *GoAllocator) Allocate(size int) []byte { return Mmalloc.Allocate(size) }

func (a *GoAllocator) Reallocate(size int, b []byte) []byte { return Mmalloc.Reallocate(size, b) }

func (a *GoAllocator) Free(b []byte) { Mmalloc.Free(b) }

var _ Allocator = (*GoAllocator)(nil)
`

// mainFile is the TestMain added to each arrow package tested; the
// verbs are the package's name and its path in the module.
const mainFile = `//go:build mmalloc || mmalloc_goalloc

package %s_test

import (
	"os"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

func TestMain(m *testing.M) {
	code := m.Run()
	memory.MmallocReport(%q)
	os.Exit(code)
}
`

// parquetFile runs parquet-go's own buffer pool tests on parquetmem, and
// checks last that every buffer went back.
const parquetFile = `package parquet_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/mmalloc/mmalloc"
	"github.com/mmalloc/mmalloc/parquetmem"
)

var mmallocForPools = func() *mmalloc.Allocator {
	a, err := mmalloc.New(mmalloc.Options{})
	if err != nil {
		panic(err)
	}
	return a
}()

func TestMmallocBufferPool(t *testing.T) {
	testBufferPool(t, parquetmem.NewBufferPool(mmallocForPools))
}

func TestMmallocBufferPoolStress(t *testing.T) {
	testBufferPoolStress(t, parquetmem.NewBufferPool(mmallocForPools))
}

// TestMmallocBufferPoolLive runs after the two above (tests run in the
// order of their files): every buffer they took went back.
func TestMmallocBufferPoolLive(t *testing.T) {
	st := mmallocForPools.Stats()
	if st.Allocs == 0 {
		t.Fatal("parquetmem's pools allocated nothing")
	}
	if st.Live != 0 {
		t.Errorf("%d buffers' chunks still live", st.Live)
	}
	b, _ := json.Marshal(map[string]any{"Allocs": st.Allocs, "Live": st.Live, "InUse": st.InUse})
	fmt.Println("` + reportTag + `" + string(b))
}
`
