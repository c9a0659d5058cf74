// Address ranges and the bound on their size, shared by every layer.
// See osmem.go for the overview.

package osmem

// MaxAllocBytes is the largest request any layer accepts: half of the
// 47-bit user address space of x86-64 and arm64 (with 4-level page
// tables), so that a request's byte count, rounded up to pages or to a
// chunk, never overflows and never asks for more address space than a
// process has. Package mmalloc and the Region export it.
const MaxAllocBytes = 1 << 46

// Span is a range of address space: Size bytes from Base.
type Span struct{ Base, Size uintptr }

// End returns the first address past the span.
func (s Span) End() uintptr { return s.Base + s.Size }

// Contains reports whether addr lies in the span.
func (s Span) Contains(addr uintptr) bool { return addr-s.Base < s.Size }
