//go:build invariants

package mmalloc

// invariants is true in builds with the invariants tag: every public call
// is followed by validate (see invariants.go).
const invariants = true
