// Looking up a live object without freeing it. See doc.go.

package slabs

import "github.com/mmalloc/mmalloc/internal/chunk"

// Usable returns the size class of the object a caller holds that starts
// at addr, in chunk ch. Otherwise it returns the error FreeObject would
// (errs.ErrInvalidPointer or errs.ErrDoubleFree). It takes no lock and changes
// nothing; as with FreeObject, a caller freeing the same object concurrently
// is a caller's race.
func Usable(ch *chunk.Chunk, addr uintptr) (int, error) {
	s := (*Slab)(ch.Owner(ch.Page(addr)))
	if s == nil {
		return 0, freeError(s, addr)
	}
	i, ok := s.index(addr)
	if !ok || !s.held(i) {
		return 0, freeError(s, addr)
	}
	return int(s.class), nil
}
