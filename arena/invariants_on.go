//go:build invariants

package arena

// invariants is true in builds with the invariants tag: every call that
// changes a Region runs validate when it returns (see checkAfter).
const invariants = true
