// Typed helpers: values and slices of pointer-free types off the Go heap.
// See doc.go for the overview.

package mmalloc

import (
	"fmt"
	"reflect"
	"unsafe"

	"github.com/mmalloc/mmalloc/internal/errs"
	"github.com/mmalloc/mmalloc/internal/ptrfree"
)

// ErrPointerType: a typed helper was asked for a type that can hold Go
// pointers (pointers, unsafe.Pointer, strings, slices, maps, channels,
// funcs or interfaces, at any depth). The message names the field path of
// the first one, e.g. "pkg.Row.Meta.Tags[0] is a string". The garbage
// collector does not scan memory from mmalloc, so a Go pointer stored there
// would not keep its target alive.
var ErrPointerType = errs.ErrPointerType

// maxAlignBytes is the alignment every allocation of 16 bytes or more has
// (smaller ones are aligned to their size class, a multiple of 8). Go types
// on 64-bit platforms need at most 8.
const maxAlignBytes = 16

// layoutOf returns T's size and whether T may be allocated off the heap.
// Everything is read from T's type descriptor, judged once per type and
// cached: no value of T is made, on the Go heap or anywhere, so a typed
// helper costs the same for a 64 MiB T as for an int, and a T larger than
// any address space is refused rather than attempted.
func layoutOf[T any]() (uintptr, error) {
	l := ptrfree.Of[T]()
	if l.Err != nil {
		return 0, l.Err
	}
	if l.Align > maxAlignBytes {
		return 0, fmt.Errorf("%w: %s needs %d-byte alignment", ErrInvalidSize, reflect.TypeFor[T](), l.Align)
	}
	return l.Size, nil
}

// valueLayout is layoutOf for a single value: a T above MaxAllocBytes is
// refused with ErrInvalidSize.
func valueLayout[T any]() (uintptr, error) {
	size, err := layoutOf[T]()
	if err == nil && size > MaxAllocBytes {
		err = fmt.Errorf("%w: %s is %d bytes, above MaxAllocBytes (%d)", ErrInvalidSize, reflect.TypeFor[T](), size, MaxAllocBytes)
	}
	return size, err
}

// NewValue returns a pointer to a new zero value of type T allocated from a,
// as new(T) would. T must hold no Go pointers (else ErrPointerType); a T
// above MaxAllocBytes returns ErrInvalidSize and a refused mapping
// ErrOutOfMemory. The value MUST be released with FreeValue. A T of size
// zero takes no memory: its pointer is not from a, and FreeValue of it
// does nothing. NewValue makes no value of T on the Go heap, whatever T's
// size: the zero value is the memory Alloc clears.
func NewValue[T any](a *Allocator) (*T, error) {
	if err := a.usable(); err != nil {
		return nil, err
	}
	size, err := valueLayout[T]()
	if err != nil {
		return nil, err
	}
	if size == 0 {
		return new(T), nil
	}
	b, err := a.Alloc(int(size))
	if err != nil {
		return nil, err
	}
	return (*T)(unsafe.Pointer(unsafe.SliceData(b))), nil
}

// FreeValue releases a value made by NewValue on a. A nil p, or a T of
// size zero, does nothing. It returns the errors Free does (a p not from a
// is ErrForeignPointer, a second release ErrDoubleFree), and the error
// NewValue returns for a T it refuses (ErrPointerType, ErrInvalidSize).
func FreeValue[T any](a *Allocator, p *T) error {
	if err := a.usable(); err != nil {
		return err
	}
	size, err := valueLayout[T]()
	if err != nil {
		return err
	}
	if p == nil || size == 0 {
		return nil
	}
	// Free needs only the first byte: a slice of one byte says it
	// without computing a length from T's size.
	return a.Free(unsafe.Slice((*byte)(unsafe.Pointer(p)), 1))
}

// MakeSlice returns a slice of T allocated from a with the given length and
// capacity, zeroed, as make([]T, length, capacity) would: its cap is
// capacity. T must hold no Go pointers (else ErrPointerType). A negative
// length, a capacity below the length, or one whose bytes pass
// MaxAllocBytes returns ErrInvalidSize; a refused mapping ErrOutOfMemory.
// The slice MUST be released with FreeSlice; a capacity of 0 (or a T of
// size zero) takes no memory from a.
func MakeSlice[T any](a *Allocator, length, capacity int) ([]T, error) {
	if err := a.usable(); err != nil {
		return nil, err
	}
	usize, err := layoutOf[T]()
	if err != nil {
		return nil, err
	}
	size := int(min(usize, MaxAllocBytes+1)) // above MaxAllocBytes, one element is too many
	if length < 0 || capacity < length || (size > 0 && capacity > MaxAllocBytes/size) {
		return nil, fmt.Errorf("%w: length %d, capacity %d of %d-byte elements (at most MaxAllocBytes, %d bytes)",
			ErrInvalidSize, length, capacity, usize, MaxAllocBytes)
	}
	if capacity == 0 || size == 0 {
		return make([]T, length, capacity), nil
	}
	b, err := a.Alloc(capacity * size)
	if err != nil {
		return nil, err
	}
	return unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(b))), capacity)[:length], nil
}

// FreeSlice releases a slice made by MakeSlice on a. s may be resliced as
// long as its first element is the slice's first; a slice with capacity 0
// (or of a T of size zero) is ignored. It returns the errors Free does, and
// ErrPointerType for a T that MakeSlice refuses.
func FreeSlice[T any](a *Allocator, s []T) error {
	if err := a.usable(); err != nil {
		return err
	}
	size, err := layoutOf[T]()
	if err != nil {
		return err
	}
	if cap(s) == 0 || size == 0 {
		return nil
	}
	return a.Free(unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), 1))
}
