package mmalloc

import "github.com/mmalloc/mmalloc/internal/ptrfree"

// Remaps returns the mremap calls the Allocator has made.
func (a *Allocator) Remaps() uint64 { return a.src.Remaps() }

// ReallocCopiedBytes returns the bytes Realloc has copied, process-wide.
func ReallocCopiedBytes() int64 { return reallocCopiedBytes.Load() }

// TypeWalks returns how many types the pointer check has judged uncached.
func TypeWalks() int64 { return ptrfree.Walks() }

// BudgetStep and GoLimit expose the budget's arithmetic.
func BudgetStep(bytes int64) int64          { return budgetStep(bytes) }
func GoLimit(bytes, step, held int64) int64 { return goLimit(bytes, step, held) }
