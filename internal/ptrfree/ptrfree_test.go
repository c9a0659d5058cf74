package ptrfree

import (
	"errors"
	"reflect"
	"sync"
	"testing"

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
