// Decay: freed memory beyond the retention budget, given back once it has
// gone unused for Options.DecayTime. See doc.go.

package mmalloc

import (
	"sync"
	"time"

	"github.com/mmalloc/mmalloc/internal/invariants"
	"github.com/mmalloc/mmalloc/internal/slabs"
)

// decaySteps is how many ticks one DecayTime spans. Memory that stayed
// retained through the last decaySteps ticks is given back, so it goes
// back between DecayTime and DecayTime + DecayTime/decaySteps after its
// last use.
const decaySteps = 4

// decay gives back the retained memory beyond the budget (RetainBytes)
// that has gone unused for a DecayTime. It runs on a timer that is armed
// only while retained memory passes the budget, so an idle Allocator
// within its budget has no timer and no goroutine; Close stops it.
//
// Every tick reads the least the retained bytes have been since the last
// tick (osmem.Source.TakeLow): bytes retained through a whole tick were
// taken by no allocation. The least of the last decaySteps such lows, less
// the budget, is memory unused for a whole DecayTime: it goes back.
type decay struct {
	a    *Allocator
	tick time.Duration // DecayTime / decaySteps; read-only

	mu     sync.Mutex // protects the fields below, and serialises ticks
	timer  *time.Timer
	lows   [decaySteps]int64 // the lows of the last ticks, a ring
	n      int               // ticks recorded since the decay was armed
	closed bool
}

// newDecay returns the decay of a, ticking every d/decaySteps.
func newDecay(a *Allocator, d time.Duration) *decay {
	return &decay{a: a, tick: max(d/decaySteps, time.Millisecond)}
}

// arm starts the ticks: the retained memory has just passed the budget.
// It runs on the goroutine whose free passed it, which may hold locks of
// the Allocator's layers: it takes none of them.
func (d *decay) arm() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	d.n = 0
	d.a.src.ResetLow()
	if d.timer == nil {
		d.timer = time.AfterFunc(d.tick, d.run)
	} else {
		d.timer.Reset(d.tick)
	}
}

// run is one tick, on the timer's goroutine. In invariants builds it
// counts as a call, so that no check reads the layers while it trims.
func (d *decay) run() {
	if invariants.Enabled {
		defer d.a.checkAfter("decay tick")()
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	src := d.a.src
	d.lows[d.n%decaySteps] = src.TakeLow()
	d.n++
	budget := src.RetainBytes()
	if d.n >= decaySteps {
		unused := d.lows[0]
		for _, l := range d.lows[1:] {
			unused = min(unused, l)
		}
		if excess := unused - budget; excess > 0 {
			gone := d.a.trimRetained(excess)
			src.ResetLow() // the trim's own moves are not a use
			for i := range d.lows {
				d.lows[i] = max(d.lows[i]-gone, 0)
			}
		}
	}
	over := src.Retained() > budget
	for _, l := range d.lows[:min(d.n, decaySteps)] {
		over = over || l > budget
	}
	if over || !src.Disarm() {
		d.timer.Reset(d.tick)
		return
	}
	d.n = 0 // disarmed: the next excess arms it afresh
}

// close stops the ticks for good.
func (d *decay) close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	if d.timer != nil {
		d.timer.Stop()
	}
}

// armed reports whether ticks are running, for tests.
func (d *decay) armed() bool {
	return d.a.src.Armed()
}

// trimRetained gives back at least n bytes of the retained memory, or all
// of it, and returns the bytes given back: kept large mappings first,
// oldest first (each is one munmap), then the free pages of the chunks,
// the kept empty slabs' among them (their slabs go back to their chunks
// first).
func (a *Allocator) trimRetained(n int64) int64 {
	done := a.large.TrimBytes(n)
	if done >= n {
		return done
	}
	for c := 1; c <= slabs.NumClasses; c++ {
		a.centrals[c].Trim()
	}
	return done + a.heap.TrimBytes(n-done)
}
