// Zero values: what a nil or zero Allocator or Cache does. See doc.go.

package mmalloc

import (
	"fmt"

	"github.com/mmalloc/mmalloc/internal/errs"
)

// ErrUninitialized: a call on a nil or zero Allocator or Cache, or on a
// nil Buffer: one not made by New, Allocator.NewCache or NewBuffer. Such a
// value holds no memory and can hand none out; every method that returns
// an error returns this one, changing nothing. (The zero Buffer is usable:
// it allocates from the Default Allocator.)
var ErrUninitialized = errs.ErrUninitialized

// errNoAllocator is ErrUninitialized as the methods of a nil or zero
// Allocator return it: it names the constructor.
var errNoAllocator = fmt.Errorf("%w: make an Allocator with New (or use Default)", ErrUninitialized)

// made reports whether a was made by New. Every public method of Allocator
// asks it first, so that a nil or zero Allocator returns ErrUninitialized
// instead of following a nil pointer; it is one comparison on the fast
// paths.
func (a *Allocator) made() bool { return a != nil && a.src != nil }

// usable returns nil if a was made by New and is open, else
// ErrUninitialized (errNoAllocator) or ErrClosed.
func (a *Allocator) usable() error {
	switch {
	case !a.made():
		return errNoAllocator
	case a.closed.Load():
		return ErrClosed
	}
	return nil
}

// made reports whether c was made by Allocator.NewCache on an Allocator
// made by New. Every public method of Cache asks it first.
func (c *Cache) made() bool { return c != nil && c.st != nil }
