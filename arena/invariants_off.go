//go:build !invariants

package arena

// invariants is false in normal builds: the checks it guards are compiled
// out.
const invariants = false
