//go:build race

package arena

// raceEnabled scales the heaviest tests down under the race detector,
// which multiplies the cost of every memory access.
const raceEnabled = true
