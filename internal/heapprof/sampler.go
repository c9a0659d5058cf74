// The per-cache countdown to the next sample. See doc.go.

package heapprof

import (
	"math"
	"math/rand/v2"
)

// DefaultRate is the mean number of bytes between samples when the user
// gives 0, the Go runtime's default MemProfileRate.
const DefaultRate = 512 << 10

// maxIntervalBytes caps one drawn interval, so that a huge rate cannot
// overflow the countdown.
const maxIntervalBytes = 1 << 62

// off is the countdown of a Sampler that never samples: at 1 TiB a
// second, it would take more than 100 days to reach zero, and reaching it
// only puts it back.
const off = math.MaxInt64

// Sampler decides which allocations of one cache are sampled. The zero
// Sampler never samples; Init ties it to a Profile.
//
// A Sampler is NOT safe for concurrent use: its owner (a P while pinned, the
// goroutine using a Cache or a Region) serialises every call.
type Sampler struct {
	left int64    // bytes to allocate before the next sample
	p    *Profile // nil: never samples; read-only after Init
	rng  rand.PCG // draws the intervals
}

// Init ties s to p and draws its first interval. A nil p, or one with
// sampling off, makes s never sample.
func (s *Sampler) Init(p *Profile) {
	s.p = p
	s.left = off
	if p == nil || p.rate < 0 {
		return
	}
	s.rng.Seed(p.seed())
	s.left = s.interval()
}

// Take counts an allocation of n bytes and reports whether it is sampled:
// then the caller records it with Profile.Record. Unsampled, it costs one
// subtraction and one branch.
func (s *Sampler) Take(n int) bool {
	s.left -= int64(n)
	if s.left >= 0 {
		return false
	}
	return s.cross()
}

// Left returns the bytes still to allocate before the next sample. A bump
// allocator bounds its fast path by it, and calls Take only when it would
// pass it (see package arena).
func (s *Sampler) Left() int64 { return s.left }

// cross starts the next interval after a sample; for a Sampler that never
// samples it only puts the countdown back.
func (s *Sampler) cross() bool {
	if s.p == nil || s.p.rate < 0 {
		s.left = off
		return false
	}
	s.left = s.interval()
	return true
}

// interval draws the bytes to the next sample: exponential with mean
// rate, so that sampling is a Poisson process over the bytes allocated. A
// rate of 1 samples every allocation.
func (s *Sampler) interval() int64 {
	rate := s.p.rate
	if rate <= 1 {
		return 0
	}
	// u is uniform in (0, 1]: 53 random bits, plus one.
	u := float64(s.rng.Uint64()>>11+1) / (1 << 53)
	x := -math.Log(u) * float64(rate)
	if x >= maxIntervalBytes {
		return maxIntervalBytes
	}
	return int64(x)
}
