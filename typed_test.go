package mmalloc_test

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mmalloc/mmalloc"
	"github.com/mmalloc/mmalloc/arena"
)

// Types for the typed-helper table.
type (
	point struct{ X, Y float64 }
	flat  struct {
		ID    uint64
		Pos   [3]point
		Flags [4]bool
		C     complex128
		U     uintptr
		_     [0]int32
	}
	deep struct {
		Head  int32
		Inner struct {
			Rows [2]struct {
				N    int
				Tags [3]string
			}
		}
	}
	withPtr struct {
		A, B int
		Next *withPtr
	}
	withSlice  struct{ Data [2][]byte }
	withMap    struct{ M map[int]int }
	withChan   struct{ _ [1]struct{ C chan int } }
	withFunc   struct{ F func() }
	withIface  struct{ V any }
	withUnsafe struct {
		X int
		P unsafe.Pointer
	}
	withStr struct{ Name string }
	empty   struct{}
	zeroArr struct{ P [0]*int }
)

// typedCase allocates a T with both helpers and frees it, or checks that
// both refuse T with ErrPointerType naming path.
func typedCase[T any](path string) func(*testing.T, *mmalloc.Allocator) {
	return func(t *testing.T, a *mmalloc.Allocator) {
		before := a.Stats()
		p, errV := mmalloc.NewValue[T](a)
		s, errS := mmalloc.MakeSlice[T](a, 3, 5)
		if path == "" {
			require.NoError(t, errV)
			require.NoError(t, errS)
			require.NotNil(t, p)
			assert.Zero(t, uintptr(unsafe.Pointer(p))%unsafe.Alignof(*p), "aligned")
			assert.Len(t, s, 3)
			assert.Equal(t, 5, cap(s))
			var zero T
			for i := range s[:cap(s)] {
				assert.Equal(t, zero, s[:cap(s)][i])
			}
			assert.Equal(t, zero, *p)
			require.NoError(t, mmalloc.FreeValue(a, p))
			require.NoError(t, mmalloc.FreeSlice(a, s[:1]))
			assert.Equal(t, before.Live, a.Stats().Live)
			return
		}
		for _, err := range []error{errV, errS, mmalloc.FreeValue(a, p), mmalloc.FreeSlice(a, s)} {
			require.ErrorIs(t, err, mmalloc.ErrPointerType)
			assert.Contains(t, err.Error(), path)
		}
		assert.Nil(t, p)
		assert.Nil(t, s)
		assert.Equal(t, before, a.Stats(), "a refusal changes nothing")
	}
}

func TestTypedHelpers(t *testing.T) {
	a := newAlloc(t, mmalloc.Options{})
	cases := []struct {
		name string
		run  func(*testing.T, *mmalloc.Allocator)
	}{
		{"int", typedCase[int]("")},
		{"uint8", typedCase[uint8]("")},
		{"float32", typedCase[float32]("")},
		{"complex128", typedCase[complex128]("")},
		{"bool", typedCase[bool]("")},
		{"uintptr", typedCase[uintptr]("")},
		{"fixed array", typedCase[[7]int16]("")},
		{"array of arrays", typedCase[[4][4]float64]("")},
		{"struct of floats", typedCase[point]("")},
		{"nested structs and arrays", typedCase[flat]("")},
		{"empty struct", typedCase[empty]("")},
		{"big array", typedCase[[40000]byte]("")},

		{"pointer", typedCase[*int]("*int")},
		{"string", typedCase[string]("string")},
		{"slice", typedCase[[]int]("[]int")},
		{"map", typedCase[map[string]int]("map[string]int")},
		{"channel", typedCase[chan int]("chan int")},
		{"func", typedCase[func()]("func()")},
		{"interface", typedCase[any]("interface {}")},
		{"error interface", typedCase[error]("error")},
		{"unsafe.Pointer", typedCase[unsafe.Pointer]("unsafe.Pointer")},
		{"pointer in a struct", typedCase[withPtr]("mmalloc_test.withPtr.Next")},
		{"slice in an array in a struct", typedCase[withSlice]("mmalloc_test.withSlice.Data[0] is a slice")},
		{"map in a struct", typedCase[withMap]("mmalloc_test.withMap.M")},
		{"channel deep in a blank array field", typedCase[withChan]("mmalloc_test.withChan._[0].C")},
		{"func field", typedCase[withFunc]("mmalloc_test.withFunc.F")},
		{"interface field", typedCase[withIface]("mmalloc_test.withIface.V")},
		{"unsafe.Pointer field", typedCase[withUnsafe]("mmalloc_test.withUnsafe.P")},
		{"string field", typedCase[withStr]("mmalloc_test.withStr.Name")},
		{"string deep in arrays of structs", typedCase[deep]("mmalloc_test.deep.Inner.Rows[0].Tags[0]")},
		{"array of structs with a string", typedCase[[3]withStr]("[3]mmalloc_test.withStr[0].Name")},
		{"zero-length array of pointers", typedCase[zeroArr]("mmalloc_test.zeroArr.P[0]")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.run(t, a) })
	}
	require.NoError(t, a.Validate())
}

func TestTypedErrorNamesKind(t *testing.T) {
	a := newAlloc(t, mmalloc.Options{})
	_, err := mmalloc.NewValue[deep](a)
	assert.EqualError(t, err, "mmalloc: type holds Go pointers: mmalloc_test.deep.Inner.Rows[0].Tags[0] is a string")
}

func TestMakeSliceBadSizes(t *testing.T) {
	a := newAlloc(t, mmalloc.Options{})
	before := a.Stats()
	for _, c := range []struct{ len, cap int }{
		{-1, 5}, {6, 5}, {0, -1}, {1, mmalloc.MaxAllocBytes/8 + 1}, {0, int(^uint(0) >> 1)},
	} {
		s, err := mmalloc.MakeSlice[int64](a, c.len, c.cap)
		assert.ErrorIs(t, err, mmalloc.ErrInvalidSize, "len %d cap %d", c.len, c.cap)
		assert.Nil(t, s)
	}
	s, err := mmalloc.MakeSlice[int64](a, 0, 0)
	require.NoError(t, err)
	assert.NotNil(t, s)
	require.NoError(t, mmalloc.FreeSlice(a, s))
	require.NoError(t, mmalloc.FreeValue[int](a, nil))
	assert.Equal(t, before, a.Stats())
}

func TestTypedFreeErrors(t *testing.T) {
	a := newAlloc(t, mmalloc.Options{})
	other := newAlloc(t, mmalloc.Options{})
	p, err := mmalloc.NewValue[point](a)
	require.NoError(t, err)
	s, err := mmalloc.MakeSlice[float64](a, 100000, 100000) // a large mapping
	require.NoError(t, err)
	s[99999] = 1.5
	before := a.Stats()
	assert.ErrorIs(t, mmalloc.FreeValue(a, &point{}), mmalloc.ErrForeignPointer)
	assert.ErrorIs(t, mmalloc.FreeValue(other, p), mmalloc.ErrForeignPointer)
	assert.ErrorIs(t, mmalloc.FreeSlice(a, s[1:]), mmalloc.ErrInvalidPointer)
	assert.ErrorIs(t, mmalloc.FreeSlice(a, make([]float64, 4)), mmalloc.ErrForeignPointer)
	assert.Equal(t, before, a.Stats())
	require.NoError(t, mmalloc.FreeValue(a, p))
	assert.ErrorIs(t, mmalloc.FreeValue(a, p), mmalloc.ErrDoubleFree)
	require.NoError(t, mmalloc.FreeSlice(a, s))
	assert.ErrorIs(t, mmalloc.FreeSlice(a, s), mmalloc.ErrDoubleFree)
}

// TestTypedCheckOnce shows that a type is judged once: later calls hit the
// cache and do not allocate on the Go heap.
func TestTypedCheckOnce(t *testing.T) {
	a := newAlloc(t, mmalloc.Options{})
	type once struct{ A [3]int }
	p, err := mmalloc.NewValue[once](a)
	require.NoError(t, err)
	require.NoError(t, mmalloc.FreeValue(a, p))
	walks := mmalloc.TypeWalks()
	allocs := testing.AllocsPerRun(100, func() {
		p, _ := mmalloc.NewValue[once](a)
		_ = mmalloc.FreeValue(a, p)
		s, _ := mmalloc.MakeSlice[once](a, 10, 10)
		_ = mmalloc.FreeSlice(a, s)
	})
	if !mmalloc.Invariants { // whose checks after every call allocate
		assert.Zero(t, allocs, "Go heap allocations per call")
	}
	assert.Equal(t, walks, mmalloc.TypeWalks(), "no type judged twice")
}

// TestTypedHugeTypes asks every typed helper, of package mmalloc and of
// Regions, for types above MaxAllocBytes (and a slice of them): each
// returns ErrInvalidSize and changes nothing. No value of such a type is
// ever made: a zero value on the Go heap would die of "fatal error: out
// of memory", which is why this runs in a child process.
func TestTypedHugeTypes(t *testing.T) {
	inChild(t, func(t *testing.T) {
		a := newAlloc(t, mmalloc.Options{})
		ar, err := arena.NewRegion(arena.RegionOptions{})
		require.NoError(t, err)
		defer ar.Close()
		before, arBefore := a.Stats(), ar.Stats()
		calls := map[string]func() error{
			"NewValue [1<<47]byte":        func() error { return first(mmalloc.NewValue[[1 << 47]byte](a)) },
			"NewValue MaxAllocBytes+1":    func() error { return first(mmalloc.NewValue[[mmalloc.MaxAllocBytes + 1]byte](a)) },
			"MakeSlice [1<<47]byte":       func() error { return first(mmalloc.MakeSlice[[1 << 47]byte](a, 1, 1)) },
			"MakeSlice [1<<40]byte ×100":  func() error { return first(mmalloc.MakeSlice[[1 << 40]byte](a, 0, 100)) },
			"FreeValue [1<<47]byte":       func() error { return mmalloc.FreeValue(a, (*[1 << 47]byte)(nil)) },
			"arena.NewValue [1<<47]byte":  func() error { return first(arena.NewValue[[1 << 47]byte](ar)) },
			"arena.MakeSlice [1<<47]byte": func() error { return first(arena.MakeSlice[[1 << 47]byte](ar, 1, 1)) },
			"arena.MakeSlice [1<<40]byte": func() error { return first(arena.MakeSlice[[1 << 40]byte](ar, 0, 100)) },
		}
		for name, call := range calls {
			assert.ErrorIs(t, call(), mmalloc.ErrInvalidSize, name)
		}
		// No element, no bytes: as make, these need no memory at all.
		s, err := mmalloc.MakeSlice[[1 << 47]byte](a, 0, 0)
		require.NoError(t, err)
		assert.Zero(t, cap(s))
		require.NoError(t, mmalloc.FreeSlice(a, s))
		_, err = arena.MakeSlice[[1 << 47]byte](ar, 0, 0)
		require.NoError(t, err)
		assert.Equal(t, before, a.Stats())
		assert.Equal(t, arBefore, ar.Stats())
	})
}

// TestTypedHelpersDoNotAllocate: no typed helper makes a value of T on the
// Go heap, whatever T's size — a 64 MiB T costs the Go heap nothing, as an
// int64 does — in package mmalloc and in Regions.
func TestTypedHelpersDoNotAllocate(t *testing.T) {
	skipWithInvariants(t, "every call runs validate, which allocates")
	if raceEnabled {
		t.Skip("the race detector's instrumentation allocates")
	}
	type big [64 << 20]byte
	a := newAlloc(t, mmalloc.Options{})
	ar, err := arena.NewRegion(arena.RegionOptions{})
	require.NoError(t, err)
	defer ar.Close()
	for name, round := range map[string]func(){
		"NewValue+FreeValue int64": func() {
			p, _ := mmalloc.NewValue[int64](a)
			_ = mmalloc.FreeValue(a, p)
		},
		"NewValue+FreeValue 64 MiB": func() {
			p, _ := mmalloc.NewValue[big](a)
			_ = mmalloc.FreeValue(a, p)
		},
		"MakeSlice+FreeSlice 64 MiB": func() {
			s, _ := mmalloc.MakeSlice[big](a, 1, 1)
			_ = mmalloc.FreeSlice(a, s)
		},
		"MakeSlice+FreeSlice empty of 64 MiB": func() {
			s, _ := mmalloc.MakeSlice[big](a, 0, 0)
			_ = mmalloc.FreeSlice(a, s)
		},
		"arena NewValue 64 MiB": func() {
			_, _ = arena.NewValue[big](ar)
			_ = ar.Reset()
		},
		"arena MakeSlice 64 MiB": func() {
			_, _ = arena.MakeSlice[big](ar, 1, 1)
			_ = ar.Reset()
		},
		"arena NewValue int64": func() {
			_, _ = arena.NewValue[int64](ar)
			_ = ar.Reset()
		},
	} {
		round() // the type is judged once; the kept mapping is made
		assert.Zero(t, testing.AllocsPerRun(20, round), "%s: Go heap allocations per round", name)
	}
	assert.Zero(t, a.Stats().Live)
}

// TestTypedAfterCloseAndOutOfMemory: after Close every typed helper returns
// ErrClosed, before judging its type; a refused mapping is ErrOutOfMemory.
func TestTypedAfterCloseAndOutOfMemory(t *testing.T) {
	a := newAlloc(t, mmalloc.Options{Limit: 8 * mib})
	_, err := mmalloc.NewValue[[16 * mib]byte](a)
	assert.ErrorIs(t, err, mmalloc.ErrOutOfMemory)
	_, err = mmalloc.MakeSlice[uint64](a, 0, 2*mib)
	assert.ErrorIs(t, err, mmalloc.ErrOutOfMemory)
	p, err := mmalloc.NewValue[int64](a)
	require.NoError(t, err)
	require.NoError(t, a.Close())
	closed := a.Stats()
	for name, err := range map[string]error{
		"NewValue":             first(mmalloc.NewValue[int64](a)),
		"NewValue zero-size":   first(mmalloc.NewValue[struct{}](a)),
		"NewValue pointer":     first(mmalloc.NewValue[*int](a)),
		"FreeValue":            mmalloc.FreeValue(a, p),
		"FreeValue nil":        mmalloc.FreeValue[int64](a, nil),
		"MakeSlice":            first(mmalloc.MakeSlice[int64](a, 1, 1)),
		"MakeSlice empty":      first(mmalloc.MakeSlice[int64](a, 0, 0)),
		"MakeSlice bad length": first(mmalloc.MakeSlice[int64](a, -1, 0)),
		"FreeSlice":            mmalloc.FreeSlice(a, []int64{1}),
		"FreeSlice empty":      mmalloc.FreeSlice[int64](a, nil),
	} {
		assert.ErrorIs(t, err, mmalloc.ErrClosed, name)
	}
	assert.Equal(t, closed, a.Stats())
}
