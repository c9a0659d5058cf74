package mmalloc

import "github.com/mmalloc/mmalloc/internal/heapprof"

// SeedProfile makes the sampling of a, and of the Caches made after it, a
// function of seed: every P's sampler draws again from the seeded source.
// No other call on a may be in progress.
func SeedProfile(a *Allocator, seed uint64) {
	a.prof.SetSeed(seed)
	ls := a.locals.Load()
	for i := range ls.l {
		ls.l[i].sample.Init(&a.prof)
	}
}

// ProfileCounts returns how many allocations a has sampled since New, and
// how many of them are live.
func ProfileCounts(a *Allocator) (sampled, live int64) {
	live, _ = a.prof.Live()
	return a.prof.Sampled(), live
}

// ProfileLiveBytes returns the bytes of a's live samples.
func ProfileLiveBytes(a *Allocator) int64 {
	_, bytes := a.prof.Live()
	return bytes
}

// ProfileLiveSet returns the address and size of every live sample of a.
func ProfileLiveSet(a *Allocator) map[uintptr]int64 { return a.prof.LiveSet() }

// SetFramePointers makes samples take their call stacks by frame pointers
// (on) or by runtime.Callers (off), and returns the setting it replaced.
func SetFramePointers(on bool) bool { return heapprof.SetFramePointers(on) }
