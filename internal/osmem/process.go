// The process-wide count of held bytes and the one watcher of it.
// See osmem.go for the overview.

package osmem

import (
	"sync"
	"sync/atomic"
)

// processHeld is the sum of Held (Mapped - Released) over every Source
// of the process. It moves wherever held does: when a mapping is
// accounted before it is made (so it may run ahead of the kernel by the
// mappings in flight), when pages are released or held again, and when a
// mapping is unmapped.
var processHeld atomic.Int64

// ProcessHeld returns the bytes held now (mapped and not released) by
// every Source of the process: every Allocator and every Region.
func ProcessHeld() int64 { return processHeld.Load() }

// watch is an installed watcher: fn runs whenever ProcessHeld has moved
// by at least step bytes since it last ran.
type watch struct {
	step int64
	fn   func(held int64)

	last atomic.Int64 // ProcessHeld when fn last ran; written under mu
	mu   sync.Mutex   // serialises calls of fn; protects dead
	dead bool         // replaced: fn must not run again
}

// watcher is the installed watch, or nil. At most one exists per process.
var watcher atomic.Pointer[watch]

// Watch installs fn as the process's watcher of ProcessHeld (replacing
// any other) and calls it once at once. Afterwards fn runs, on the
// goroutine whose mapping, unmapping or release moved it, each time
// ProcessHeld has moved by at least stepBytes (at least 1) since its
// last call; the calls are serialised. fn runs while the allocator may
// hold its own locks: it must be quick and must not allocate from mmalloc.
// Watch(0, nil) removes the watcher. When Watch returns, the replaced fn
// has finished and will not run again.
func Watch(stepBytes int64, fn func(held int64)) {
	var w *watch
	if fn != nil {
		w = &watch{step: max(stepBytes, 1), fn: fn}
		w.mu.Lock() // hold calls back until the first one below has run
		defer w.mu.Unlock()
	}
	if old := watcher.Swap(w); old != nil {
		old.mu.Lock()
		old.dead = true
		old.mu.Unlock()
	}
	if w != nil {
		t := processHeld.Load()
		w.last.Store(t)
		w.fn(t)
	}
}

// processAdd moves the process count by d bytes and calls the watcher when
// it has moved far enough. The common case is one atomic add and two loads.
func processAdd(d int64) {
	t := processHeld.Add(d)
	w := watcher.Load()
	if w == nil {
		return
	}
	if diff := t - w.last.Load(); diff < w.step && diff > -w.step {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	// Another goroutine may have called fn since the check: look again.
	t = processHeld.Load()
	if diff := t - w.last.Load(); !w.dead && (diff >= w.step || diff <= -w.step) {
		w.last.Store(t)
		w.fn(t)
	}
}
