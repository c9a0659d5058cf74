// Publishing an Allocator's figures through expvar. See doc.go.

package mmalloc

import (
	"errors"
	"expvar"
	"fmt"
	"sync"

	"github.com/mmalloc/mmalloc/stats"
)

// ErrNameTaken is returned by Publish for a name expvar already has.
var ErrNameTaken = errors.New("mmalloc: expvar name already published")

// publishMu serialises Publish's check-then-publish, so that two calls with
// one name give one success and one ErrNameTaken rather than a panic.
var publishMu sync.Mutex

// Publish makes a's Stats visible under name in expvar, and so at
// /debug/vars where expvar.Handler is served (importing expvar registers
// it on http.DefaultServeMux), beside the runtime's memstats. The JSON is
// a stats.Snapshot whose Classes list only the size classes ever used,
// each identified by its Size:
//
//	{"Mapped": 5242880, "InUse": 1049600, "Live": 2, ..., "Classes":
//	[{"Size": 1024, "Live": 1, ...}], "Large": {"Live": 1, ...}}
//
// Each read of the variable takes a fresh Stats and measures Resident (see
// there for its cost). A name already published (by anyone) returns
// ErrNameTaken, an empty name ErrInvalidOption. expvar never forgets a
// name, so a published Allocator stays reachable (its figures readable
// after Close). A nil or zero Allocator returns ErrUninitialized.
func (a *Allocator) Publish(name string) error {
	if !a.made() {
		return errNoAllocator
	}
	if name == "" {
		return fmt.Errorf("%w: Publish needs a name", ErrInvalidOption)
	}
	publishMu.Lock()
	defer publishMu.Unlock()
	if expvar.Get(name) != nil {
		return fmt.Errorf("%w: %q", ErrNameTaken, name)
	}
	expvar.Publish(name, expvar.Func(func() any { return usedRows(a.Stats()) }))
	return nil
}

// usedRows returns s with only the class rows that were ever used.
func usedRows(s stats.Snapshot) stats.Snapshot {
	rows := make([]stats.Class, 0, len(s.Classes))
	for _, c := range s.Classes {
		if c.Allocs > 0 || c.Slabs > 0 {
			rows = append(rows, c)
		}
	}
	s.Classes = rows
	return s
}
