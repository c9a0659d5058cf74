//go:build !race

package mmalloc_test

// raceEnabled scales the heaviest tests down under the race detector.
const raceEnabled = false
