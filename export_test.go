package mmalloc

// Validate exposes validate to the external tests.
func (a *Allocator) Validate() error { return a.validate() }

// FailMapAfter makes the n-th mapping call from now fail with ENOMEM
// (0 disarms it).
func (a *Allocator) FailMapAfter(n int64) { a.src.FailAfter(n) }
