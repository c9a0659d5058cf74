// Package invariants is the module's one switch for its invariant checks:
// Enabled is true in builds with the invariants tag (go test -tags
// invariants) and false otherwise, so that a check written as
//
//	if invariants.Enabled { defer check() }
//
// costs nothing in normal builds. The packages that check themselves
// (mmalloc, after every public call, and arena, after every call that
// changes a Region) read it; none defines a build-tagged constant of its
// own.
package invariants
