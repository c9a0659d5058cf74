// This file sorts after region_test.go so that the sweep, which grows the
// Go heap, runs after the tests that read /proc/self/maps: a mapping the
// runtime makes meanwhile can land where an unmapped chunk was.

package arena

import (
	"math/rand/v2"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"

	"github.com/mmalloc/mmalloc/internal/errs"
)

// regionBuf is a live allocation of the fault workload and its pattern.
type regionBuf struct {
	b    []byte
	seed byte
}

// regionSteps are the steps of the region fault workload; each returns
// the error of its one call that may map memory.
var regionSteps = []struct {
	name   string
	weight int
	do     func(a *Region, r *rand.Rand, live *[]regionBuf) error
}{
	{"Alloc small", 40, func(a *Region, r *rand.Rand, live *[]regionBuf) error {
		b, err := a.Alloc(1 + r.IntN(8<<10))
		if err == nil {
			*live = append(*live, fillRegion(b, r))
		}
		return err
	}},
	{"Alloc big (own mapping)", 10, func(a *Region, r *rand.Rand, live *[]regionBuf) error {
		b, err := a.Alloc(int(a.bigBytes) + 1 + r.IntN(1<<20))
		if err == nil {
			*live = append(*live, fillRegion(b, r))
		}
		return err
	}},
	{"NewValue", 10, func(a *Region, r *rand.Rand, live *[]regionBuf) error {
		p, err := NewValue[[200]byte](a)
		if err == nil {
			*live = append(*live, fillRegion(p[:], r))
		}
		return err
	}},
	{"MakeSlice", 10, func(a *Region, r *rand.Rand, live *[]regionBuf) error {
		k := 1 + r.IntN(20_000)
		s, err := MakeSlice[uint32](a, k, k)
		if err == nil {
			*live = append(*live, fillRegion(unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), 4*k), r))
		}
		return err
	}},
	{"Reset", 2, func(a *Region, _ *rand.Rand, live *[]regionBuf) error {
		*live = (*live)[:0] // the memory is forgotten
		return a.Reset()
	}},
}

// regionByte reports whether fillRegion and regionIntact visit byte i of
// n: every byte of the first and last 4 KiB, and one in every 64 KiB
// between, so that allocations that overlap share visited bytes while the
// workload's megabytes of fresh mappings cost a few page faults each.
func regionByte(i, n int) bool { return i < 4096 || i >= n-4096 || i%(64<<10) == 0 }

// fillRegion writes a pattern of a fresh seed at the visited bytes of b.
func fillRegion(b []byte, r *rand.Rand) regionBuf {
	seed := byte(r.Uint32())
	for i := range b {
		if regionByte(i, len(b)) {
			b[i] = seed + byte(i)
		}
	}
	return regionBuf{b, seed}
}

// regionIntact checks the pattern of every live allocation.
func regionIntact(t *testing.T, live []regionBuf) {
	t.Helper()
	for k, x := range live {
		for i, c := range x.b {
			if regionByte(i, len(x.b)) && c != x.seed+byte(i) {
				require.Equal(t, x.seed+byte(i), c, "live allocation %d, byte %d", k, i)
			}
		}
	}
}

// regionFaultModes are the two ways a mapping request is made to fail:
// before its reservation (as a passed Limit fails it), or by the kernel
// after it (from that request on, until disarmed).
var regionFaultModes = []struct {
	name string
	arm  func(a *Region, n int64)
}{
	{"refused before the reservation", func(a *Region, n int64) { a.src.FailAfter(n) }},
	{"refused by the kernel", func(a *Region, n int64) { a.src.FailSyscallsFrom(n) }},
}

// TestRegionFailMapEverywhere sweeps fault injection over every mapping
// call of a mixed region workload (chunks, own mappings of big requests,
// typed values and slices, Resets with and without retention), in both
// ways regionFaultModes fails a call. A dry run counts the workload's
// mapping requests; then for N = 1 … that count the N-th one fails, and
// the workload must reach it: the sweep covers every request counted.
// The step that meets the failure returns ErrOutOfMemory (a region
// allocation has nothing to fall back on) and changes nothing: not
// Mapped, not the count of allocations. The arena's invariants hold and
// every live allocation keeps its bytes; the rest runs with injection
// disarmed and succeeds (for regionTailSteps steps); and Close unmaps
// everything.
func TestRegionFailMapEverywhere(t *testing.T) {
	steps := 400
	if testing.Short() || raceEnabled { // the race detector multiplies its cost by ten
		steps = 200
	}
	total := 0
	for _, o := range []RegionOptions{{ChunkBytes: 256 << 10}, {ChunkBytes: 64 << 10, RetainBytes: -1}} {
		for _, mode := range regionFaultModes {
			requests := int64(0)
			runRegionSteps(t, o, steps, func(a *Region) { a.src.FailAfter(1 << 62) }, func(a *Region, _ string, err error) bool {
				require.NoError(t, err)
				requests = a.src.Requests()
				return true
			})
			require.Positive(t, requests)
			for n := int64(1); n <= requests; n++ {
				require.True(t, runRegionFaults(t, o, steps, func(a *Region) { mode.arm(a, n) }, n),
					"%s: request %d of %d (counted in the dry run) was never made", mode.name, n, requests)
			}
			t.Logf("chunk %d, retain %d, %s: swept all %d mapping requests", o.ChunkBytes, o.RetainBytes, mode.name, requests)
			total += int(requests)
		}
	}
	t.Logf("region injection points swept: %d", total)
}

// regionTailSteps is how many steps run after the one that met the
// failure: enough to show that the arena goes on.
const regionTailSteps = 40

// runRegionFaults runs the workload armed to fail at the failAt-th
// mapping request, and reports whether the workload reached it.
func runRegionFaults(t *testing.T, o RegionOptions, steps int, arm func(*Region), failAt int64) (hit bool) {
	armed, tail := true, 0
	var before RegionStats
	runRegionSteps(t, o, steps, func(a *Region) { arm(a); before = a.Stats() }, func(a *Region, step string, err error) bool {
		defer func() { before = a.Stats() }()
		if !armed {
			require.NoError(t, err, "%s after the injected failure", step)
			tail++
			return tail < regionTailSteps
		}
		if a.src.Requests() < failAt {
			require.NoError(t, err, step)
			return true
		}
		require.ErrorIs(t, err, errs.ErrOutOfMemory, "%s met the failure of request %d", step, failAt)
		after := a.Stats()
		require.Equal(t, before.Mapped, after.Mapped, "%s: a failed call changed Mapped", step)
		require.Equal(t, before.Allocs, after.Allocs, "%s: a failed call counted an allocation", step)
		require.Equal(t, before.PeakMapped, after.PeakMapped, "%s: a failed call moved the peak", step)
		hit, armed = true, false
		a.src.FailAfter(0)
		require.NoError(t, a.validate(), "after %s met the failure", step)
		return true
	})
	return hit
}

// runRegionSteps runs the workload on a fresh Region armed by arm, calling
// after with each step's result (false ends the workload), then checks the
// live allocations and that Close unmaps everything.
func runRegionSteps(t *testing.T, o RegionOptions, steps int, arm func(*Region), after func(a *Region, step string, err error) bool) {
	a, err := NewRegion(o)
	require.NoError(t, err)
	defer func() { _ = a.Close() }()
	r := rand.New(rand.NewPCG(21, 23))
	var live []regionBuf
	weights := 0
	for _, s := range regionSteps {
		weights += s.weight
	}
	arm(a)
	for range steps {
		k := r.IntN(weights)
		i := 0
		for ; k >= regionSteps[i].weight; i++ {
			k -= regionSteps[i].weight
		}
		step := regionSteps[i]
		err := step.do(a, r, &live)
		goOn := after(a, step.name, err)
		if err != nil {
			regionIntact(t, live)
		}
		if !goOn {
			break
		}
	}
	a.src.FailAfter(0)
	require.NoError(t, a.validate())
	regionIntact(t, live)
	require.NoError(t, a.Close())
	require.Zero(t, a.Stats().Mapped)
}
