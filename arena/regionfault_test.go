// This file sorts after region_test.go so that the sweep, which grows the
// Go heap, runs after the tests that read /proc/self/maps: a mapping the
// runtime makes meanwhile can land where a released chunk was.

package arena

import (
	"math/rand/v2"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
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
	do     func(a *Arena, r *rand.Rand, live *[]regionBuf) error
}{
	{"Alloc small", 40, func(a *Arena, r *rand.Rand, live *[]regionBuf) error {
		b, err := a.Alloc(1 + r.IntN(8<<10))
		if err == nil {
			*live = append(*live, fillRegion(b, r))
		}
		return err
	}},
	{"Alloc big (own mapping)", 10, func(a *Arena, r *rand.Rand, live *[]regionBuf) error {
		b, err := a.Alloc(int(a.bigBytes) + 1 + r.IntN(1<<20))
		if err == nil {
			*live = append(*live, fillRegion(b, r))
		}
		return err
	}},
	{"NewValue", 10, func(a *Arena, r *rand.Rand, live *[]regionBuf) error {
		p, err := NewValue[[200]byte](a)
		if err == nil {
			*live = append(*live, fillRegion(p[:], r))
		}
		return err
	}},
	{"MakeSlice", 10, func(a *Arena, r *rand.Rand, live *[]regionBuf) error {
		k := 1 + r.IntN(20_000)
		s, err := MakeSlice[uint32](a, k, k)
		if err == nil {
			*live = append(*live, fillRegion(unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), 4*k), r))
		}
		return err
	}},
	{"Reset", 2, func(a *Arena, _ *rand.Rand, live *[]regionBuf) error {
		*live = (*live)[:0] // the memory is forgotten
		return a.Reset()
	}},
}

func fillRegion(b []byte, r *rand.Rand) regionBuf {
	seed := byte(r.Uint32())
	for i := range b {
		b[i] = seed + byte(i)
	}
	return regionBuf{b, seed}
}

func regionIntact(t *testing.T, live []regionBuf) {
	t.Helper()
	for k, x := range live {
		for i, c := range x.b {
			if c != x.seed+byte(i) {
				require.Equal(t, x.seed+byte(i), c, "live allocation %d, byte %d", k, i)
			}
		}
	}
}

// TestRegionFailMapEverywhere sweeps fault injection over every mapping
// call of a mixed region workload (chunks, own mappings of big requests,
// typed values and slices, Resets with and without retention): for N = 1,
// 2, … the N-th mapping call fails. The step that meets it returns
// ErrOutOfMemory, the arena's invariants hold and every live allocation
// keeps its bytes; the rest runs with injection disarmed and succeeds; and
// Release unmaps everything.
func TestRegionFailMapEverywhere(t *testing.T) {
	steps := 400
	if testing.Short() {
		steps = 200
	}
	total := 0
	for _, o := range []Options{{ChunkBytes: 256 << 10}, {ChunkBytes: 64 << 10, RetainBytes: -1}} {
		swept := 0
		for n := int64(1); ; n++ {
			if !runRegionFaults(t, o, steps, n) {
				break
			}
			swept++
		}
		t.Logf("chunk %d, retain %d: swept %d mapping calls", o.ChunkBytes, o.RetainBytes, swept)
		require.Positive(t, swept)
		total += swept
	}
	t.Logf("region injection points swept: %d", total)
}

// runRegionFaults runs the workload with the failAt-th mapping call
// failing, and reports whether the workload reached it.
func runRegionFaults(t *testing.T, o Options, steps int, failAt int64) (hit bool) {
	a, err := New(o)
	require.NoError(t, err)
	defer func() { _ = a.Release() }()
	r := rand.New(rand.NewPCG(21, 23))
	var live []regionBuf
	weights := 0
	for _, s := range regionSteps {
		weights += s.weight
	}
	a.src.FailAfter(failAt)
	armed := true
	for range steps {
		k := r.IntN(weights)
		i := 0
		for ; k >= regionSteps[i].weight; i++ {
			k -= regionSteps[i].weight
		}
		step := regionSteps[i]
		before := a.Stats()
		err := step.do(a, r, &live)
		if !armed {
			require.NoError(t, err, "%s after the injected failure", step.name)
			continue
		}
		if err != nil {
			require.ErrorIs(t, err, ErrOutOfMemory, step.name)
			require.Equal(t, failAt, a.src.Requests(), "%s failed, but not at the injected call", step.name)
			after := a.Stats()
			require.Equal(t, before.Mapped, after.Mapped, "%s: a failed call changed Mapped", step.name)
			require.Equal(t, before.Allocs, after.Allocs, "%s: a failed call counted an allocation", step.name)
		}
		if a.src.Requests() >= failAt {
			hit, armed = true, false
			a.src.FailAfter(0)
			require.NoError(t, a.validate(), "after %s met the failure", step.name)
			regionIntact(t, live)
		}
	}
	require.NoError(t, a.validate())
	regionIntact(t, live)
	require.NoError(t, a.Release())
	require.Zero(t, a.Stats().Mapped)
	return hit
}
