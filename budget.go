// One memory budget for the Go heap and mmalloc together. See doc.go.

package mmalloc

import (
	"fmt"
	"runtime/debug"
	"sync"

	"github.com/mmalloc/mmalloc/internal/osmem"
)

// Bounds of the process budget.
const (
	// MinGoLimitBytes is the lowest memory limit SetProcessBudget gives the
	// Go runtime, however much mmalloc maps: below a few MiB the collector
	// would run without pause and still not free what it cannot see.
	MinGoLimitBytes = 16 << 20

	// budgetStepDivisor: the limit is updated each time held memory has
	// moved by budget/128 (at least minBudgetStepBytes, at most
	// maxBudgetStepBytes). A 1 GiB budget updates every 8 MiB, i.e. at
	// most once per two default chunks.
	budgetStepDivisor  = 128
	minBudgetStepBytes = 1 << 20
	maxBudgetStepBytes = 64 << 20
)

// budget is the process budget's state.
var budget struct {
	mu       sync.Mutex // serialises SetProcessBudget; protects the fields
	bytes    int64      // the budget, 0 if none
	previous int64      // the Go memory limit before the budget, restored after
}

// ProcessMapped returns the bytes held now by every Allocator and every
// Region (package arena) of the process: mapped and not given back to the
// OS (Mapped - Released, summed), the off-heap figure to add to the Go
// runtime's own memory.
func ProcessMapped() int64 { return osmem.ProcessMapped() }

// SetProcessBudget makes bytes the memory budget of the whole process: Go
// heap and mmalloc together. The Go runtime's memory limit
// (debug.SetMemoryLimit, GOMEMLIMIT) covers only its own memory; from now on
// it is kept at
//
//	bytes - ProcessMapped() - step    (never below MinGoLimitBytes)
//
// and moved each time ProcessMapped has changed by step = bytes/128 (1 MiB
// to 64 MiB) since the last move. The update runs on the goroutine whose
// mmap or munmap crossed the step, so Alloc and Free pay nothing for it
// between steps. Subtracting one step keeps Go heap plus held memory
// within bytes while the limit lags.
//
// Pair it with GOGC=off (debug.SetGCPercent(-1)) and the collector runs
// only when the Go heap nears its share of the budget, however little of
// the process's memory the Go heap holds. SetProcessBudget(0) removes the
// budget and restores the limit in effect before the first call; a
// negative bytes returns ErrInvalidOption. It is safe for concurrent use
// and applies to every Allocator and Region, existing or future.
func SetProcessBudget(bytes int64) error {
	if bytes < 0 {
		return fmt.Errorf("%w: budget %d bytes is negative", ErrInvalidOption, bytes)
	}
	budget.mu.Lock()
	defer budget.mu.Unlock()
	if bytes == 0 {
		if budget.bytes != 0 {
			osmem.Watch(0, nil)
			debug.SetMemoryLimit(budget.previous)
			budget.bytes = 0
		}
		return nil
	}
	if budget.bytes == 0 {
		budget.previous = debug.SetMemoryLimit(-1)
	}
	budget.bytes = bytes
	step := budgetStep(bytes)
	osmem.Watch(step, func(mapped int64) { debug.SetMemoryLimit(goLimit(bytes, step, mapped)) })
	return nil
}

// ProcessBudget returns the budget set by SetProcessBudget, 0 if none.
func ProcessBudget() int64 {
	budget.mu.Lock()
	defer budget.mu.Unlock()
	return budget.bytes
}

// budgetStep returns how far held memory moves between limit updates.
func budgetStep(bytes int64) int64 {
	return min(max(bytes/budgetStepDivisor, minBudgetStepBytes), maxBudgetStepBytes)
}

// goLimit returns the Go memory limit for a budget when mmalloc holds
// mapped bytes (ProcessMapped).
func goLimit(bytes, step, mapped int64) int64 {
	return max(bytes-mapped-step, MinGoLimitBytes)
}
