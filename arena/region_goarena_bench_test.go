//go:build goexperiment.arenas

package arena

import goarena "arena"

// Go's experimental arenas, for BenchmarkRegionRound's goarena variant:
// GOEXPERIMENT=arenas go test -run '^$' -bench '^BenchmarkRegionRound$' ./arena
func init() {
	goArenaRound = func(sink [][]byte, size int) {
		ar := goarena.NewArena()
		for i := range sink {
			s := goarena.MakeSlice[byte](ar, size, size)
			s[0] = 1
			sink[i] = s
		}
		clear(sink)
		ar.Free()
	}
}
