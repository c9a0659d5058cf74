package ptrfree

import (
	"errors"
	"reflect"
	"sync"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mmalloc/mmalloc/internal/errs"
)

type node struct {
	V    [2]int
	Next *node // a recursive type: the walk stops at the pointer
}

func TestCheck(t *testing.T) {
	cases := []struct {
		typ  reflect.Type
		want string // "" when accepted, else the message after the sentinel
	}{
		{reflect.TypeFor[[4]complex64](), ""},
		{reflect.TypeFor[struct{ A, B uint16 }](), ""},
		{reflect.TypeFor[node](), "ptrfree.node.Next is a pointer (*ptrfree.node)"},
		{reflect.TypeFor[[2][3]struct{ F func(int) }](), "[2][3]struct { F func(int) }[0][0].F is a func (func(int))"},
		{reflect.TypeFor[chan<- int](), "chan<- int is a channel (chan<- int)"},
		{nil, "an interface type"},
	}
	for _, c := range cases {
		err := Check(c.typ)
		if c.want == "" {
			assert.NoError(t, err, "%v", c.typ)
			continue
		}
		require.ErrorIs(t, err, errs.ErrPointerType)
		assert.Equal(t, errs.ErrPointerType.Error()+": "+c.want, err.Error())
	}
}

// TestCheckOnce judges a type once however many goroutines ask at once
// after the first answer.
func TestCheckOnce(t *testing.T) {
	type fresh struct{ X [3]float32 }
	typ := reflect.TypeFor[fresh]()
	require.NoError(t, Check(typ))
	before := Walks()
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				if err := Check(typ); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, before, Walks())
	assert.False(t, errors.Is(Check(typ), errs.ErrPointerType))
}

// TestOf reads a type's layout from its descriptor: size, alignment and
// verdict, for types of any size — one larger than any address space
// included — without making a value of it, so with no Go heap allocation
// once the type is judged.
func TestOf(t *testing.T) {
	type pair struct {
		A int8
		B int64
	}
	l := Of[pair]()
	assert.Equal(t, unsafe.Sizeof(pair{}), l.Size)
	assert.Equal(t, unsafe.Alignof(pair{}), l.Align)
	assert.NoError(t, l.Err)
	huge := Of[[1 << 47]byte]()
	assert.Equal(t, uintptr(1<<47), huge.Size)
	assert.Equal(t, uintptr(1), huge.Align)
	assert.NoError(t, huge.Err)
	assert.ErrorIs(t, Of[struct{ S string }]().Err, errs.ErrPointerType)
	assert.ErrorIs(t, Of[any]().Err, errs.ErrPointerType)
	assert.Zero(t, testing.AllocsPerRun(100, func() { _ = Of[[64 << 20]byte]() }), "no value made, on the heap or anywhere")
}
