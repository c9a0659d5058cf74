// Package ptrfree decides, once per type, whether values of a type may live
// in memory the garbage collector does not scan.
//
// A type qualifies when no Go pointer can hide in it at any depth: booleans,
// integers (uintptr included), floats, complex numbers, and arrays and
// structs made only of those. Pointers, unsafe.Pointer, strings, slices,
// maps, channels, funcs and interfaces all hold pointers the collector
// must see, so a type holding any of them, however deep, is refused with
// errs.ErrPointerType and the path to the first offender, e.g.
//
//	mmalloc: type holds Go pointers: pkg.Row.Meta.Tags[0] is a string
//
// Arrays are judged by their element type even at length 0, so that the
// answer does not change when a length constant does.
//
// Check is safe for concurrent use; its answers are cached in a sync.Map.
package ptrfree

import (
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"

	"github.com/mmalloc/mmalloc/internal/errs"
)

// cache maps a reflect.Type to its verdict: nil, or the refusal error.
var cache sync.Map

// walks counts the types judged without the cache (for tests).
var walks atomic.Int64

// verdict is what the cache holds for a type.
type verdict struct{ err error }

// Check returns nil if values of t hold no Go pointers, else an error
// wrapping errs.ErrPointerType that names the offending field path. A nil t
// (an interface type argument) is refused.
func Check(t reflect.Type) error {
	if t == nil {
		return fmt.Errorf("%w: an interface type", errs.ErrPointerType)
	}
	if v, ok := cache.Load(t); ok {
		return v.(verdict).err
	}
	walks.Add(1)
	var err error
	if path, what := find(t, t.String()); path != "" {
		err = fmt.Errorf("%w: %s is %s", errs.ErrPointerType, path, what)
	}
	cache.Store(t, verdict{err})
	return err
}

// Layout is what a typed helper needs to know of a type, all of it read
// from the type's descriptor: no value of the type is ever made, so a
// type of 64 MiB, or of more than any address space, costs nothing here.
type Layout struct {
	Size  uintptr // unsafe.Sizeof a value
	Align uintptr // unsafe.Alignof a value
	Err   error   // nil, or why values may not live off the heap (Check's verdict)
}

// Of returns T's Layout. The verdict is cached, as Check's; the call
// allocates nothing once T has been judged.
func Of[T any]() Layout {
	t := reflect.TypeFor[T]()
	return Layout{Size: t.Size(), Align: uintptr(t.Align()), Err: Check(t)}
}

// Walks returns how many types Check has judged without its cache.
func Walks() int64 { return walks.Load() }

// find returns the path (rooted at path) to the first part of t that holds
// a pointer, and what that part is; "" if there is none.
func find(t reflect.Type, path string) (string, string) {
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		return "", ""
	case reflect.Array:
		return find(t.Elem(), path+"[0]")
	case reflect.Struct:
		for i := range t.NumField() {
			f := t.Field(i)
			if p, what := find(f.Type, path+"."+f.Name); p != "" {
				return p, what
			}
		}
		return "", ""
	case reflect.Pointer:
		return path, "a pointer (" + t.String() + ")"
	case reflect.UnsafePointer:
		return path, "an unsafe.Pointer"
	case reflect.String:
		return path, "a string"
	case reflect.Slice:
		return path, "a slice (" + t.String() + ")"
	case reflect.Map:
		return path, "a map (" + t.String() + ")"
	case reflect.Chan:
		return path, "a channel (" + t.String() + ")"
	case reflect.Func:
		return path, "a func (" + t.String() + ")"
	case reflect.Interface:
		return path, "an interface (" + t.String() + ")"
	default: // a kind added to Go after this was written: refuse to be safe
		return path, "of kind " + t.Kind().String()
	}
}
