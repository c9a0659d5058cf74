//go:build !goexperiment.arenas

// Without GOEXPERIMENT=arenas there is no Go arena adapter.

package main

// arenaHint tells the reader how to include Go arenas in the run.
const arenaHint = "go-arena: not built; include it with: GOEXPERIMENT=arenas go -C bench run ."
