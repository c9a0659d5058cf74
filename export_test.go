package mmalloc

// Validate exposes validate to the external tests.
func (a *Allocator) Validate() error { return a.validate() }

// FailMapAfter makes the n-th mapping call from now fail with ENOMEM
// (0 disarms it).
func (a *Allocator) FailMapAfter(n int64) { a.src.FailAfter(n) }

// MapRequests returns how many mapping calls were made since FailMapAfter
// armed injection: FailMapAfter(1<<62) counts the calls of a workload.
func (a *Allocator) MapRequests() int64 { return a.src.Requests() }
