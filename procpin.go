// Pinning a goroutine to its P. See doc.go.

package mmalloc

import _ "unsafe" // for go:linkname

// procPin disables preemption and returns the id of the current P; until
// procUnpin, no other goroutine runs on this P, so the P's cache needs no
// lock. The goroutine must not block, and must not take a lock that may
// block, while pinned. These are the runtime calls sync.Pool is built on;
// the runtime keeps them reachable by linkname for packages outside it.
//
//go:linkname procPin runtime.procPin
func procPin() int

//go:linkname procUnpin runtime.procUnpin
func procUnpin()
