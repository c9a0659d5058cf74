package large

import (
	"github.com/mmalloc/mmalloc/internal/mappings"
	"github.com/mmalloc/mmalloc/internal/osmem"
)

// RoundUp returns the usable size of a large allocation of n bytes: n
// rounded up to whole pages, the length of the mapping it gets. It
// returns 0 for n <= 0 or n above mmalloc.MaxAllocBytes.
func RoundUp(n int) int {
	if n <= 0 || n > osmem.MaxAllocBytes {
		return 0
	}
	return int(mappings.RoundUp(uintptr(n)))
}
