package mmalloc

// Remaps returns the mremap calls the Allocator has made.
func (a *Allocator) Remaps() uint64 { return a.src.Remaps() }

// ReallocCopiedBytes returns the bytes Realloc has copied, process-wide.
func ReallocCopiedBytes() int64 { return reallocCopiedBytes.Load() }
