// Heap profiles of a Region's allocations. See doc.go.

package arena

import (
	"io"
	"unsafe"

	"github.com/mmalloc/mmalloc/internal/errs"
	"github.com/mmalloc/mmalloc/internal/heapprof"
)

// Sampling in a region costs its fast path nothing. The fast path compares
// the bump pointer with limit instead of the chunk's end: limit is the end,
// or the address where the bytes allocated since the last sample reach
// the next sample, whichever comes first. Only an allocation that passes
// it takes the slow path, which counts the bytes bumped since the last
// count on the Sampler (sampleFrom marks where that was) and records a
// sample. The bytes counted, and recorded as a sample's size, include
// the alignment padding in front of an allocation.
//
// Why sampling is off by default here, and on for mmalloc's Allocator: a
// region cannot leak one allocation (Reset forgets them all), and its
// allocations are a bump of a pointer each, beside which even a cheap
// sample (a walk of the call stack and a lock) is not free. Turn it on to
// see which call sites fill a Region.

// WriteHeapProfile writes a's sampled allocations as a pprof heap profile,
// as mmalloc.Allocator.WriteHeapProfile does: Reset and Release count
// every live sample as freed. With sampling off the profile has no
// samples. Unlike every other method it may be called from any goroutine
// while the Region is in use (for an HTTP handler, say).
func (a *Region) WriteHeapProfile(w io.Writer) error {
	if err := a.profileUsable(); err != nil {
		return err
	}
	return heapprof.Write(w, []heapprof.Named{{Profile: &a.prof}})
}

// PublishProfile makes a's heap profile served by
// mmalloc.ServeHeapProfile under name, beside the Allocators'. A name that
// is empty, holds a control character, is "default" or was published
// before returns mmalloc.ErrProfileName. The Region stays reachable for good.
func (a *Region) PublishProfile(name string) error {
	if err := a.profileUsable(); err != nil {
		return err
	}
	return heapprof.Publish(name, &a.prof)
}

// profileUsable returns mmalloc.ErrUninitialized for a nil Region and ErrReleased
// after Release; a zero Region is ready with the default RegionOptions.
func (a *Region) profileUsable() error {
	switch {
	case a == nil:
		return errs.ErrUninitialized
	case a.released:
		return ErrReleased
	}
	a.ready()
	return nil
}

// initProfile starts sampling at rate if it is positive.
func (a *Region) initProfile(rate int) {
	if rate <= 0 {
		rate = -1
	}
	a.prof.Init(rate)
	a.sample.Init(&a.prof)
	a.restartSample()
}

// syncSample counts the bytes bumped since the last count and reports
// whether they reached a sample; the fast path's limit moves to the next.
func (a *Region) syncSample() bool {
	sampled := a.sample.Take(int(a.next - a.sampleFrom))
	a.restartSample()
	return sampled
}

// restartSample counts from the bump pointer on, as after a chunk change:
// limit is the end of the chunk or, before it, the next sample.
func (a *Region) restartSample() {
	a.sampleFrom, a.limit = a.next, a.end
	if left := a.sample.Left(); uint64(left) < uint64(a.end-a.next) {
		a.limit = a.next + uintptr(left)
	}
}

// allocSampled serves a request that fits the current chunk but passes
// limit: by the fast path, with limit lifted, and then the sample.
func (a *Region) allocSampled(n, align uintptr) (unsafe.Pointer, error) {
	before := a.next
	a.limit = a.end
	p, err := a.alloc(n, align)
	if err == nil && a.syncSample() {
		a.prof.Record(uintptr(p), int(a.next-before))
	}
	return p, err
}

// sampleBig counts a big request of n bytes, mapped on its own at p, after
// the bytes bumped before it.
func (a *Region) sampleBig(p unsafe.Pointer, n uintptr) {
	a.syncSample() // they stopped short of limit: never a sample
	if a.sample.Take(int(n)) {
		a.prof.Record(uintptr(p), int(n))
	}
	a.restartSample()
}

// forgetSamples counts every live sample as freed, for Reset.
func (a *Region) forgetSamples() {
	if a.prof.On() {
		a.syncSample()
		a.prof.DropAll()
	}
}
