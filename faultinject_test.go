package mmalloc_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mmalloc/mmalloc"
)

// faultRig is the state a fault-injection workload runs against: an
// Allocator, a Cache on it, and the live buffers with their patterns.
type faultRig struct {
	t    *testing.T
	a    *mmalloc.Allocator
	c    *mmalloc.Cache
	r    *rand.Rand
	live []faultBuf
	seed uint64
}

type faultBuf struct {
	b     []byte
	seed  uint64
	cache bool // allocated through the Cache (freed through it too)
}

// add records a fresh buffer and fills it with a pattern.
func (g *faultRig) add(b []byte, cache bool) {
	g.seed++
	fill(b[:len(b)&^7], g.seed)
	g.live = append(g.live, faultBuf{b, g.seed, cache})
}

// intact checks the pattern of every live buffer.
func (g *faultRig) intact() {
	for i, f := range g.live {
		require.Equal(g.t, -1, check(f.b[:len(f.b)&^7], f.seed), "live buffer %d (%d bytes) changed", i, len(f.b))
	}
}

// freeOne frees a random live buffer, through the way it came.
func (g *faultRig) freeOne() {
	if len(g.live) == 0 {
		return
	}
	k := g.r.IntN(len(g.live))
	f := g.live[k]
	require.Equal(g.t, -1, check(f.b[:len(f.b)&^7], f.seed))
	if f.cache {
		require.NoError(g.t, g.c.Free(f.b))
	} else {
		require.NoError(g.t, g.a.Free(f.b))
	}
	g.live[k] = g.live[len(g.live)-1]
	g.live = g.live[:len(g.live)-1]
}

// faultOp is one kind of step of the workload. do returns the error of
// the one call of the step that may map memory (nil if it maps nothing).
// Steps of other APIs (region arenas, Realloc) join this table.
type faultOp struct {
	name   string
	weight int
	do     func(g *faultRig) error
}

var faultOps = []faultOp{
	{"Alloc small", 30, func(g *faultRig) error {
		b, err := g.a.Alloc(1 + g.r.IntN(2048))
		if err == nil {
			g.add(b, false)
		}
		return err
	}},
	{"AllocUninit mid-size", 10, func(g *faultRig) error {
		b, err := g.a.AllocUninit(2048 + g.r.IntN(threshold-2048))
		if err == nil {
			g.add(b, false)
		}
		return err
	}},
	{"Alloc large", 8, func(g *faultRig) error {
		b, err := g.a.Alloc(threshold + 1 + g.r.IntN(mib))
		if err == nil {
			g.add(b, false)
		}
		return err
	}},
	{"Cache.Alloc", 20, func(g *faultRig) error {
		b, err := g.c.Alloc(1 + g.r.IntN(8192))
		if err == nil {
			g.add(b, true)
		}
		return err
	}},
	{"Free", 40, func(g *faultRig) error { g.freeOne(); return nil }},
	{"Trim", 2, func(g *faultRig) error {
		g.c.Flush()
		return g.a.Trim()
	}},
}

// TestFailMapEverywhere sweeps fault injection over every mapping call of
// a mixed workload (small classes, large mappings, a Cache, Trim; default
// options, no retention, guard mode): for N = 1, 2, … it runs the workload
// on a fresh Allocator with the N-th mapping call failing. The call that
// meets the failure returns ErrOutOfMemory (or absorbs it: a batch refill
// that got some objects succeeds); right after, the invariants hold and
// every live buffer is intact; the rest of the workload runs with
// injection disarmed and must succeed; and at the end everything frees
// and trims to nothing mapped. The sweep ends at the first N past the
// workload's last mapping call.
func TestFailMapEverywhere(t *testing.T) {
	steps := 600
	if testing.Short() {
		steps = 250
	}
	total := 0
	for _, o := range []mmalloc.Options{
		{},
		{ChunkSize: mib, RetainBytes: mmalloc.NoRetain},
		{Guard: true, ChunkSize: mib},
	} {
		name := fmt.Sprintf("guard=%v,chunk=%d,retain=%d", o.Guard, o.ChunkSize, o.RetainBytes)
		t.Run(name, func(t *testing.T) {
			surfaced, absorbed := 0, 0
			n := int64(1)
			for ; ; n++ {
				hit, err := runFaultWorkload(t, o, steps, n)
				if !hit {
					break
				}
				if err != nil {
					surfaced++
				} else {
					absorbed++
				}
			}
			t.Logf("%s: swept %d mapping calls: %d failures returned ErrOutOfMemory, %d absorbed by a partial batch", name, n-1, surfaced, absorbed)
			require.Positive(t, surfaced)
			total += int(n - 1)
		})
	}
	t.Logf("injection points swept: %d", total)
}

// runFaultWorkload runs the workload with the failAt-th mapping call
// failing. It reports whether the workload reached that call, and the
// error the failing step returned.
func runFaultWorkload(t *testing.T, o mmalloc.Options, steps int, failAt int64) (hit bool, failErr error) {
	a, err := mmalloc.New(o)
	require.NoError(t, err)
	defer a.Close()
	g := &faultRig{t: t, a: a, c: a.NewCache(), r: rand.New(rand.NewPCG(11, 13))}
	weights := 0
	for _, op := range faultOps {
		weights += op.weight
	}
	a.FailMapAfter(failAt)
	armed := true
	for range steps {
		k := g.r.IntN(weights)
		var op faultOp
		for _, op = range faultOps {
			if k -= op.weight; k < 0 {
				break
			}
		}
		err := op.do(g)
		if !armed {
			require.NoError(t, err, "%s after the injected failure", op.name)
			continue
		}
		if err != nil {
			require.ErrorIs(t, err, mmalloc.ErrOutOfMemory, op.name)
			require.Equal(t, failAt, a.MapRequests(), "%s failed, but not at the injected call", op.name)
		}
		if a.MapRequests() >= failAt { // the injected failure happened
			hit, failErr, armed = true, err, false
			a.FailMapAfter(0)
			g.c.Flush()
			require.NoError(t, a.Validate(), "after %s met the failure", op.name)
			g.intact()
		}
	}
	g.c.Flush()
	require.NoError(t, a.Validate())
	g.intact()
	for len(g.live) > 0 {
		g.freeOne()
	}
	g.c.Flush()
	require.NoError(t, a.Trim())
	require.NoError(t, a.Validate())
	require.Zero(t, a.Stats().Mapped)
	require.NoError(t, a.CheckGuards())
	return hit, failErr
}
