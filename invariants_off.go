//go:build !invariants

package mmalloc

// invariants is false in normal builds: every check it guards is compiled
// out (see invariants.go).
const invariants = false
