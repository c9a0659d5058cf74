// Heap profiles of off-heap memory: sampling, pprof output, HTTP, leak
// checks. See doc.go for the overview and internal/heapprof for the design.

package mmalloc

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"unsafe"

	"github.com/mmalloc/mmalloc/internal/heapprof"
)

// DefaultProfileRate is the mean number of bytes allocated between two
// sampled allocations when Options.ProfileRate is 0: 512 KiB, the Go
// runtime's default runtime.MemProfileRate.
const DefaultProfileRate = heapprof.DefaultRate

// ErrProfileName: PublishProfile was given a name that is empty, holds a
// control character, is "default" (the Default Allocator's), or is taken.
var ErrProfileName = heapprof.ErrName

// WriteHeapProfile writes a's sampled allocations as a heap profile in the
// pprof format (gzipped protocol buffers), which go tool pprof reads:
//
//	go tool pprof -top heap.pb.gz
//	go tool pprof -sample_index=alloc_space -top heap.pb.gz
//
// Its sample types are those of the Go heap profile: alloc_objects and
// alloc_space count every allocation since New, inuse_objects and
// inuse_space those not yet freed (the default). Counts are scaled as
// runtime/pprof scales the Go heap profile: a sample of an allocation of
// size bytes stands for 1/(1 - exp(-size/ProfileRate)) allocations. Sizes
// are usable sizes (cap of the slice), as the runtime counts size classes,
// and each sample has a label bytes giving it.
//
// Each sample's call stack starts at the function that called mmalloc
// (Alloc, a Cache, Realloc, a Buffer, a typed helper): mmalloc's own frames
// are left out. A Realloc counts as a free of the old allocation and an
// allocation of the new one; Free, a Cache's Free and Buffer.Free free.
//
// With sampling off (Options.ProfileRate < 0) the profile has no samples.
// It is safe to call at any time, from any goroutine. After Close it
// returns ErrClosed, as every call does (ServeHeapProfile still serves a
// published Allocator's profile as it stood at Close); a nil or zero
// Allocator returns ErrUninitialized.
func (a *Allocator) WriteHeapProfile(w io.Writer) error {
	if err := a.usable(); err != nil {
		return err
	}
	return heapprof.Write(w, []heapprof.Named{{Profile: &a.prof}})
}

// PublishProfile makes a's heap profile served by ServeHeapProfile under
// name, beside the Default Allocator's ("default"). A name that is empty,
// holds a control character, is "default" or was published before (by any
// Allocator or Region) returns ErrProfileName. Names are never
// forgotten: a published Allocator stays reachable, and after Close its
// profile is served as it stood at Close.
func (a *Allocator) PublishProfile(name string) error {
	if err := a.usable(); err != nil {
		return err
	}
	return heapprof.Publish(name, &a.prof)
}

// ServeHeapProfile serves the heap profiles of the Default Allocator and
// of every Allocator (and Region) published with PublishProfile, as
// net/http/pprof serves the Go heap's. Register it beside those:
//
//	http.HandleFunc("/debug/pprof/mmalloc", mmalloc.ServeHeapProfile)
//
// and read it with
//
//	go tool pprof -top http://localhost:6060/debug/pprof/mmalloc
//
// It answers with one profile of them all (see WriteHeapProfile), each
// sample labelled allocator=<name>, so that go tool pprof -tagfocus
// allocator=cache shows one. The query parameter name=<name> (repeatable)
// serves only those named; an unknown name is 404 Not Found. With debug=1
// it writes text instead: per allocator, the call stacks holding the most
// live bytes. It creates the Default Allocator if it does not exist yet.
func ServeHeapProfile(w http.ResponseWriter, r *http.Request) {
	if w == nil {
		return
	}
	if r == nil || r.URL == nil {
		http.Error(w, "mmalloc: no request", http.StatusBadRequest)
		return
	}
	all := append([]heapprof.Named{{Name: heapprof.DefaultName, Profile: &Default().prof}}, heapprof.Published()...)
	ps := all
	if names := r.URL.Query()["name"]; len(names) > 0 {
		ps = nil
		for _, name := range names {
			i := -1
			for j, np := range all {
				if np.Name == name {
					i = j
				}
			}
			if i < 0 {
				http.Error(w, fmt.Sprintf("mmalloc: no profile named %q", name), http.StatusNotFound)
				return
			}
			ps = append(ps, all[i])
		}
	}
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if r.URL.Query().Get("debug") != "" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		for _, np := range ps {
			fmt.Fprintf(w, "== %s (ProfileRate %d)\n", np.Name, np.Profile.Rate())
			if _, _, err := np.Profile.WriteLive(w, 20); err != nil {
				return
			}
		}
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", `attachment; filename="mmalloc-heap.pb.gz"`)
	if err := heapprof.Write(w, ps); err != nil {
		// The body has begun: too late for a status code.
		fmt.Fprintf(w, "\nmmalloc: %v\n", err)
	}
}

// TestingT is what CheckLeaks needs of a test: *testing.T, *testing.B and
// *testing.F have it.
type TestingT interface {
	Helper()
	Errorf(format string, args ...any)
}

// leakReportSites is how many call stacks a leak report shows.
const leakReportSites = 10

// CheckLeaks fails t, with Errorf, if a still holds live allocations, and
// reports where they were allocated, the most bytes first; it returns
// whether a held none. Call it at the end of a test, before Close:
//
//	a, _ := mmalloc.New(mmalloc.Options{ProfileRate: 1})
//	defer a.Close()
//	defer mmalloc.CheckLeaks(t, a)
//
// With Options.ProfileRate 1 every allocation is sampled: the count, the
// bytes and the call stacks are exact. With any other rate the count comes
// from Stats (exact, every live Cache included) and the call stacks are
// those sampled, their figures estimates; with sampling off there are
// none. A nil t makes it return false.
//
// It lives in package mmalloc rather than in a test-helper package of its
// own (as httptest and fstest are) because it reads the Allocator's
// profile, which such a package could reach only through a hook exported
// for it alone.
func CheckLeaks(t TestingT, a *Allocator) bool {
	if t == nil {
		return false // nowhere to report: the check cannot pass
	}
	t.Helper()
	if a == nil || a.heap == nil {
		t.Errorf("mmalloc: CheckLeaks needs an Allocator made by New")
		return false
	}
	rate := a.prof.Rate()
	var objects, bytes int64
	if rate == 1 {
		objects, bytes = a.prof.Live()
	} else {
		s := a.Stats()
		objects, bytes = s.Live, s.InUse
	}
	if objects == 0 {
		return true
	}
	var report strings.Builder
	fmt.Fprintf(&report, "mmalloc: %s (%d bytes) still live", heapprof.Count(objects, "allocation"), bytes)
	switch {
	case rate == 1:
		report.WriteString("; allocated at:\n")
	case rate < 0:
		report.WriteString("; sampling is off (Options.ProfileRate < 0): set ProfileRate to 1 to see where they were allocated\n")
	default:
		fmt.Fprintf(&report, "; of those sampled (ProfileRate %d: estimates; set ProfileRate to 1 for every allocation), allocated at:\n", rate)
	}
	if rate >= 0 {
		_, _, _ = a.prof.WriteLive(&report, leakReportSites) // a strings.Builder does not fail
	}
	t.Errorf("%s", report.String())
	return false
}

// Hooks: the one or two lines every path that hands out or takes back
// memory calls. A new path (a free by Ref, say) calls them likewise:
//
//   - Alloc's fast paths count on their cache's sampler, which they hold
//     already: if l.sample.Take(size) { ... return a.sampled(b) }.
//   - Any other allocation, once it succeeded: a.counted(b, err), or
//     a.profileAlloc(addr, size) given an address. It counts on the P's
//     sampler (pinning for it) and records a sample if it is one.
//   - Every free, before the memory can be handed out again (so that a
//     new sample at the same address cannot be lost to it):
//     a.profileFree(addr). Unless a sample may be live at addr it costs
//     one or two loads; it is a no-op after Close. profileFree is too big
//     to inline, so the slow path of Free and Cache.Free (freeSlow)
//     spells it out: if cap(b) != 0 && a.prof.MaybeLive(addr) {
//     a.dropSample(addr) }, and the fast path (free) leaves an address
//     where a sample may be live to it. A free that does not happen drops nothing:
//     an empty slice is ignored, whatever its address (hence the cap
//     test), and a refusal leaves the sample at addr alone because only
//     the start of a live allocation has one, and that is refused only
//     after Close, when dropSample drops nothing.
//
// Sizes are usable sizes (cap), on both sides. mmalloc's own frames are
// trimmed from the stacks when the profile is written, so no hook needs to
// know how deep it is called.

// sampled records b, which a fast path's sampler chose, and returns it.
func (a *Allocator) sampled(b []byte) ([]byte, error) {
	a.prof.Record(sliceAddr(b), cap(b))
	return b, nil
}

// counted passes on an allocation's result, having counted it (when it
// succeeded) on the P's sampler.
func (a *Allocator) counted(b []byte, err error) ([]byte, error) {
	if err == nil && cap(b) > 0 {
		a.profileAlloc(sliceAddr(b), cap(b))
	}
	return b, err
}

// profileAlloc counts an allocation of size bytes at addr, made outside
// the fast paths, on the sampler of the caller's P (or, on a P without a
// cache, the Profile's own), and records it if it is sampled.
func (a *Allocator) profileAlloc(addr uintptr, size int) {
	if !a.prof.On() {
		return
	}
	var take bool
	l := a.pin()
	if l != nil {
		take = l.sample.Take(size)
	}
	a.unpin(l)
	if l == nil {
		take = a.prof.TakeShared(size)
	}
	if take {
		a.prof.Record(addr, size)
	}
}

// profileFree drops the sample of the allocation at addr, if it has one.
// Call it before the memory is given back.
func (a *Allocator) profileFree(addr uintptr) {
	if a.prof.MaybeLive(addr) {
		a.dropSample(addr)
	}
}

// dropSample is profileFree's slow path. After Close nothing is dropped:
// the profile stays as it was at Close.
func (a *Allocator) dropSample(addr uintptr) {
	if !a.closed.Load() {
		a.prof.Drop(addr)
	}
}

// initProfile starts sampling at rate (Options.ProfileRate). New calls it
// before making the P's caches, whose samplers newLocalSet starts.
func (a *Allocator) initProfile(rate int) { a.prof.Init(rate) }

// countedBy is counted on the sampler of the cache that served the
// allocation: the P's (st nil) or the Cache's of st.
func (a *Allocator) countedBy(st *cacheState, b []byte, err error) ([]byte, error) {
	if st == nil {
		return a.counted(b, err)
	}
	if err == nil && cap(b) > 0 && st.l.sample.Take(cap(b)) {
		a.prof.Record(sliceAddr(b), cap(b))
	}
	return b, err
}

func sliceAddr(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }
