// Looking up a live object without freeing it. See doc.go.

package slab

import (
	"fmt"

	"github.com/mmalloc/mmalloc/arena"
	"github.com/mmalloc/mmalloc/internal/errs"
)

// Usable returns the size class of the object a caller holds that starts
// at addr, in chunk ch. Otherwise it returns the error Release would
// (errs.InvalidPointer or errs.DoubleFree). It takes no lock and changes
// nothing; as with Release, a caller freeing the same object concurrently
// is a caller's race.
func Usable(ch *arena.Chunk, addr uintptr) (int, error) {
	s := (*Slab)(ch.Owner(ch.Page(addr)))
	if s == nil {
		return 0, fmt.Errorf("%w: %#x lies in free pages", errs.DoubleFree, addr)
	}
	i, ok := s.index(addr)
	if !ok {
		return 0, fmt.Errorf("%w: %#x is inside a %d-byte object of the slab at %#x", errs.InvalidPointer, addr, s.size, s.base)
	}
	if s.owned[i] == 0 {
		return 0, fmt.Errorf("%w: %#x (%d-byte object)", errs.DoubleFree, addr, s.size)
	}
	return int(s.class), nil
}
