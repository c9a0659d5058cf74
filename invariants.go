// Invariant checks after every call, in builds with the invariants tag.
// See doc.go.

package mmalloc

import (
	"fmt"
	"runtime"
	"sync/atomic"
)

// With the invariants build tag (go test -tags invariants), every call
// that may change an Allocator runs validate when it returns, and panics
// if an invariant is broken: that is a bug in the allocator, never the
// caller's. The calls that run checkAfter: Alloc, AllocUninit,
// AllocAligned, Free, Realloc, Trim, Close and CheckGuards; a Cache's
// Alloc, AllocUninit, AllocAligned, Free, Flush and Close, and a dropped
// Cache's cleanup; and each tick of the decay. The calls built on them are
// checked through them: the typed helpers and the Ref calls call Alloc and
// Free. (A Buffer's growth calls Realloc's and Alloc's unchecked paths;
// its Free is checked.) The invariants relate figures that concurrent calls update
// one after another, so the check runs only when its call was the only
// one in flight, and new calls wait while it runs.
//
// In normal builds invariants.Enabled (internal/invariants) is a false
// constant: the checks and the counter are compiled out, and invState
// stays nil.

// invChecking, in invState.inflight, says a check is running.
const invChecking = -1 << 40

// invState is what the checks need. It is safe for concurrent use.
type invState struct {
	inflight atomic.Int64 // public calls in progress, or invChecking
}

// checkAfter counts a public call in and returns the function that counts
// it out (and checks). Use as:
// if invariants.Enabled { defer a.checkAfter(op)() }.
func (a *Allocator) checkAfter(op string) func() {
	s := a.inv
	for {
		v := s.inflight.Load()
		if v >= 0 && s.inflight.CompareAndSwap(v, v+1) {
			break
		}
		runtime.Gosched()
	}
	return func() {
		if !s.inflight.CompareAndSwap(1, invChecking) {
			s.inflight.Add(-1)
			return
		}
		var err error
		if !a.closed.Load() {
			err = a.validate()
		}
		s.inflight.Store(0)
		if err != nil {
			panic(fmt.Sprintf("mmalloc: invariant broken after %s: %v", op, err))
		}
	}
}
