//go:build !race

package arena

// raceEnabled scales the heaviest tests down under the race detector.
const raceEnabled = false
