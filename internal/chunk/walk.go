// Walking a Heap's chunks, for figures that read every mapping (resident
// bytes). See doc.go for the overview.

package chunk

// Walk calls f with the first address and the length of every chunk the
// Heap has mapped now (in use or kept empty), with the Heap's lock held:
// no chunk is mapped or unmapped meanwhile, so f may hand the range to a
// system call that reads it (mincore). f must not call the Heap, and
// every allocation that needs a new slab waits for it.
func (h *Heap) Walk(f func(base, bytes uintptr)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range h.inuse {
		f(c.base, c.bytes)
	}
	for _, c := range h.empty {
		f(c.base, c.bytes)
	}
}
