package arena

// SeedProfile makes a's sampling a function of seed.
func SeedProfile(a *Region, seed uint64) {
	a.prof.SetSeed(seed)
	a.sample.Init(&a.prof)
	a.restartSample()
}

// ProfileCounts returns how many allocations a has sampled since New, and
// how many of them are live.
func ProfileCounts(a *Region) (sampled, live int64) {
	live, _ = a.prof.Live()
	return a.prof.Sampled(), live
}

// ProfileLiveSet returns the address and size of every live sample of a.
func ProfileLiveSet(a *Region) map[uintptr]int64 { return a.prof.LiveSet() }
