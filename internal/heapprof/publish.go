// The process-wide table of published Profiles. See doc.go.

package heapprof

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"unicode"
)

// ErrName is returned by Publish for a name it refuses: empty, holding a
// control character, DefaultName, or already published.
var ErrName = errors.New("mmalloc: profile name empty, reserved or already published")

// DefaultName is the name package mmalloc serves its Default Allocator
// under; Publish refuses it.
const DefaultName = "default"

var (
	publishedMu sync.Mutex
	published   = map[string]*Profile{} // under publishedMu
)

// Publish adds p to the table under name, for Published. An empty name,
// one holding a control character, DefaultName, or a name already
// published returns ErrName. Names are never forgotten: a published
// Profile stays reachable.
func Publish(name string, p *Profile) error {
	if name == "" || name == DefaultName || strings.IndexFunc(name, unicode.IsControl) >= 0 {
		return fmt.Errorf("%w: %q", ErrName, name)
	}
	publishedMu.Lock()
	defer publishedMu.Unlock()
	if _, ok := published[name]; ok {
		return fmt.Errorf("%w: %q is taken", ErrName, name)
	}
	published[name] = p
	return nil
}

// Published returns every published Profile, by name.
func Published() []Named {
	publishedMu.Lock()
	defer publishedMu.Unlock()
	ps := make([]Named, 0, len(published))
	for name, p := range published {
		ps = append(ps, Named{name, p})
	}
	slices.SortFunc(ps, func(a, b Named) int { return strings.Compare(a.Name, b.Name) })
	return ps
}
