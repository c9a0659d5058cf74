// Looking up a live object without freeing it. See doc.go.

package slab

import (
	"fmt"

	"github.com/mmalloc/mmalloc/arena"
	"github.com/mmalloc/mmalloc/internal/errs"
)

// Usable returns the size class of the live object that starts at addr,
// which lies in chunk ch of the centrals' heap. Otherwise it returns the
// error Free would (errs.InvalidPointer or errs.DoubleFree). It changes
// nothing. The answer may be stale as soon as the lock is dropped if the
// caller frees the same object concurrently (a caller's race).
func Usable(centrals []Central, ch *arena.Chunk, addr uintptr) (int, error) {
	page := ch.Page(addr)
	for {
		s := (*Slab)(ch.Owner(page))
		if s == nil {
			return 0, fmt.Errorf("%w: %#x lies in free pages", errs.DoubleFree, addr)
		}
		c := &centrals[s.class]
		c.mu.Lock()
		if (*Slab)(ch.Owner(page)) != s {
			c.mu.Unlock() // released meanwhile: look again, as Free does
			continue
		}
		i, ok := s.index(addr)
		var err error
		switch {
		case !ok:
			err = fmt.Errorf("%w: %#x is inside a %d-byte object of the slab at %#x", errs.InvalidPointer, addr, s.size, s.base)
		case s.used[i/64]&(1<<(i%64)) == 0:
			err = fmt.Errorf("%w: %#x (%d-byte object)", errs.DoubleFree, addr, s.size)
		}
		c.mu.Unlock()
		if err != nil {
			return 0, err
		}
		return int(s.class), nil
	}
}
