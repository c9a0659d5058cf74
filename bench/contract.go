// Like for like: what each row promises its caller, and which rows a ratio may compare.

package main

import (
	"math"
	"strings"
)

// A ratio compares two rows only when their contracts match: zeroed memory
// (as make gives) against zeroed, uninitialised against uninitialised. What
// separates mmalloc's zeroed Alloc from modernc's Malloc at 4 MiB is the
// memclr of 4 MiB, not the allocator. Goroutine-safety is compared too;
// where it differs, the summary says so.

// variantPrefix starts the name of every mmalloc variant.
const variantPrefix = "mmalloc"

// isVariant reports whether alloc is one of mmalloc's own variants.
func isVariant(alloc string) bool { return strings.HasPrefix(alloc, variantPrefix) }

// isPeer reports whether r is one of mmalloc's peers: neither an mmalloc
// variant nor a reference row.
func isPeer(r *Result) bool { return !r.Reference && !isVariant(r.Alloc) }

// zeroedOf reports whether alloc hands out zeroed memory. The C
// reference's malloc does not.
func zeroedOf(alloc string) bool {
	k, ok := kindOf(alloc)
	return ok && k.Zeroed
}

// contractName names a zeroing contract for headers and notes.
func contractName(zeroed bool) string {
	if zeroed {
		return "zeroed"
	}
	return "not zeroed"
}

// isMode reports whether alloc is a mode of another kind (guard mode),
// compared with that kind rather than with the peers.
func isMode(alloc string) bool {
	k, ok := kindOf(alloc)
	return ok && k.Versus != ""
}

// likePeer returns the fastest peer in case c whose memory is zeroed
// exactly when zeroed is, or nil if the case has none.
func (w *WorkloadReport) likePeer(c string, zeroed bool) *Result {
	var best *Result
	for _, r := range w.Results {
		if r.Case != c || !isPeer(r) || zeroedOf(r.Alloc) != zeroed || len(r.Runs) == 0 {
			continue
		}
		if best == nil || r.MedianNs() < best.MedianNs() {
			best = r
		}
	}
	return best
}

// LikeRatio returns r's median time per op over that of the fastest peer
// with r's contract in the same case: below 1, r is faster than every
// such peer. NaN when the case has no such peer.
func (w *WorkloadReport) LikeRatio(r *Result) float64 {
	p := w.likePeer(r.Case, zeroedOf(r.Alloc))
	if p == nil {
		return math.NaN()
	}
	return r.MedianNs() / p.MedianNs()
}

// safetyOf says in words how alloc is shared between goroutines in this
// workload: goroutine-safe, behind the workload's mutex, one handle per
// goroutine, or not at all.
func (w *WorkloadReport) safetyOf(alloc string) string {
	k, ok := kindOf(alloc)
	switch {
	case !ok: // the C reference
		return "C malloc"
	case k.Handle:
		return "a Cache per goroutine, no lock"
	case k.Concurrent:
		return "goroutine-safe"
	case w.Locked[alloc]:
		return "behind one mutex"
	default:
		return "not goroutine-safe, no lock"
	}
}

// safetyDiff says how the goroutine-safety of a and b compares in this
// workload: "same (…)" when they match, else what each is.
func (w *WorkloadReport) safetyDiff(a, b string) string {
	da, db := w.safetyOf(a), w.safetyOf(b)
	if da == db {
		return "same (" + da + ")"
	}
	return a + ": " + da + "; " + b + ": " + db
}

// Standing is one mmalloc variant against its fastest like-for-like peer
// in one case.
type Standing struct {
	Workload, Case string
	Variant        string  // the mmalloc variant
	VariantNs      float64 // its median time per op
	Peer           string  // the fastest peer with the same contract
	PeerNs         float64 // its median time per op
	Safety         string  // how their goroutine-safety compares
}

// Ratio is the variant's time over the peer's: below 1, mmalloc leads.
func (s Standing) Ratio() float64 { return s.VariantNs / s.PeerNs }

// standings returns every comparison of an mmalloc variant (modes aside)
// with its like-for-like peer in one workload, in table order.
func standings(rep *WorkloadReport) []Standing {
	var out []Standing
	for _, c := range rep.Cases() {
		for _, a := range rep.Allocs() {
			r := rep.Find(c, a)
			if r == nil || !isVariant(a) || isMode(a) || len(r.Runs) == 0 {
				continue
			}
			p := rep.likePeer(c, zeroedOf(a))
			if p == nil {
				continue
			}
			out = append(out, Standing{Workload: rep.Name, Case: c, Variant: a, VariantNs: r.MedianNs(),
				Peer: p.Alloc, PeerNs: p.MedianNs(), Safety: rep.safetyDiff(a, p.Alloc)})
		}
	}
	return out
}

// extremes returns the standing where mmalloc leads by the most (the
// lowest ratio) and where it trails by the most (the highest); ok is false
// when the workload has no comparison at all.
func extremes(rep *WorkloadReport) (best, worst Standing, ok bool) {
	ss := standings(rep)
	if len(ss) == 0 {
		return Standing{}, Standing{}, false
	}
	best, worst = ss[0], ss[0]
	for _, s := range ss[1:] {
		if s.Ratio() < best.Ratio() {
			best = s
		}
		if s.Ratio() > worst.Ratio() {
			worst = s
		}
	}
	return best, worst, true
}
