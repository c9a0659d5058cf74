// Publishing snapshots through expvar (/debug/vars). See doc.go.

package stats

import (
	"errors"
	"expvar"
	"fmt"
	"sync"

	"github.com/mmalloc/mmalloc/internal/errs"
)

// ErrNameTaken is returned by Publish for a name expvar already has.
var ErrNameTaken = errors.New("stats: expvar name already published")

// publishMu serialises Publish's check-then-publish, so that two calls with
// one name give one success and one ErrNameTaken rather than a panic.
var publishMu sync.Mutex

// Publish makes the figures of f visible under name in the expvar registry,
// and so at /debug/vars wherever expvar.Handler is served (importing expvar
// registers it on http.DefaultServeMux). f is called on every read of the
// variable, from the serving goroutine: it must be safe for concurrent use.
//
// The JSON is a Snapshot whose Classes list only the size classes ever
// used, each identified by its Size:
//
//	{"Mapped": 5242880, "InUse": 1049600, "Live": 2, ..., "Classes":
//	[{"Size": 1024, "Live": 1, ...}], "Large": {"Live": 1, ...}}
//
// expvar cannot forget a name: what f refers to stays reachable for the
// life of the process. A name already published (by anyone) returns
// ErrNameTaken; an empty name or a nil f returns an error wrapping
// mmalloc's ErrInvalidOption.
func Publish(name string, f func() Snapshot) error {
	if name == "" || f == nil {
		return fmt.Errorf("%w: stats.Publish needs a name and a func (got %q, nil func: %v)", errs.ErrInvalidOption, name, f == nil)
	}
	publishMu.Lock()
	defer publishMu.Unlock()
	if expvar.Get(name) != nil {
		return fmt.Errorf("%w: %q", ErrNameTaken, name)
	}
	expvar.Publish(name, expvar.Func(func() any { return f().used() }))
	return nil
}

// used returns s with only the class rows that were ever used.
func (s Snapshot) used() Snapshot {
	rows := make([]Class, 0, len(s.Classes))
	for _, c := range s.Classes {
		if c.Allocs > 0 || c.Slabs > 0 {
			rows = append(rows, c)
		}
	}
	s.Classes = rows
	return s
}
