// Walking a Registry's mappings, for figures that read every mapping
// (resident bytes). See doc.go for the overview.

package mappings

// Walk calls f with the first address and the length of every mapping the
// Registry holds now (live, or freed and kept for reuse), with the
// Registry's lock held: no mapping is made, unmapped or remapped
// meanwhile, so f may hand the range to a system call that reads it
// (mincore). f must not call the Registry, and every large Alloc and Free
// waits for it.
func (r *Registry) Walk(f func(base, size uintptr)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for base, size := range r.spans {
		f(base, size)
	}
	for _, sp := range r.kept {
		f(sp.Base, sp.Size)
	}
}
