// Publishing an Allocator's figures through expvar. See doc.go.

package mmalloc

import "github.com/mmalloc/mmalloc/stats"

// Publish makes a's Stats visible under name in expvar, and so at
// /debug/vars where expvar.Handler is served: mapped, resident, peak, in
// use, live, the counters, and one row per size class ever used. Each read
// of the variable takes a fresh Stats and measures Resident (see there for
// its cost). A name already published returns stats.ErrNameTaken. expvar
// never forgets a name, so a published Allocator stays reachable (its
// figures readable after Close).
// A nil or zero Allocator returns ErrUninitialized.
func (a *Allocator) Publish(name string) error {
	if !a.made() {
		return errNoAllocator
	}
	return stats.Publish(name, a.Stats)
}
