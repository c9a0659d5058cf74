//go:build race

package mmalloc_test

// raceEnabled scales the heaviest tests down under the race detector,
// which multiplies the cost of every memory access.
const raceEnabled = true
