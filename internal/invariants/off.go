//go:build !invariants

package invariants

// Enabled is false in normal builds: every check it guards is compiled
// out.
const Enabled = false
