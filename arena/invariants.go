// Invariant checks after every call, in builds with the invariants tag.

package arena

import "fmt"

// checkAfter runs validate and panics if an invariant of a is broken: a
// bug in the arena, never the caller's. Calls that change a Region — Alloc,
// Reset, Close, NewValue, MakeSlice — defer it when invariants.Enabled is true
// (go test -tags invariants); a Region is used by one goroutine at a time,
// so every call returns to a consistent state.
func (a *Region) checkAfter(op string) {
	if err := a.validate(); err != nil {
		panic(fmt.Sprintf("arena: invariant broken after %s: %v", op, err))
	}
}
