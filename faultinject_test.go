package mmalloc_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"

	"github.com/mmalloc/mmalloc"
)

// faultRig is the state a fault-injection workload runs against: an
// Allocator, a Cache on it, and the live buffers with their patterns.
type faultRig struct {
	t     *testing.T
	a     *mmalloc.Allocator
	c     *mmalloc.Cache
	r     *rand.Rand
	live  []faultBuf
	seed  uint64
	buf   *mmalloc.Buffer // written to by its own steps; byte i holds byte(i)
	path  string          // set by a step to name the path it took, for the tally
	guard bool
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

// intact checks the pattern of every live buffer, and the Buffer's bytes.
func (g *faultRig) intact() {
	for i, f := range g.live {
		require.Equal(g.t, -1, check(f.b[:len(f.b)&^7], f.seed), "live buffer %d (%d bytes) changed", i, len(f.b))
	}
	for i, c := range g.buf.Bytes() {
		if c != byte(i) {
			require.Equal(g.t, byte(i), c, "Buffer byte %d of %d changed", i, g.buf.Len())
		}
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
	{"Realloc", 12, func(g *faultRig) error {
		if len(g.live) == 0 {
			return nil
		}
		k := g.r.IntN(len(g.live))
		f := g.live[k]
		n := 1 + g.r.IntN(4096)
		if g.r.IntN(3) == 0 { // across the threshold, and large to large by mremap
			n = threshold/2 + g.r.IntN(mib)
		}
		if len(f.b) > threshold && n > threshold && !g.guard {
			g.path = " large to large (mremap)"
		}
		nb, err := g.a.Realloc(f.b, n)
		if err != nil {
			return err // f stays live and intact
		}
		keep := min(len(f.b), n) &^ 7
		require.Equal(g.t, -1, check(nb[:keep:keep], f.seed), "Realloc lost kept bytes")
		g.live[k] = g.live[len(g.live)-1]
		g.live = g.live[:len(g.live)-1]
		g.add(nb, false)
		return nil
	}},
	{"Realloc large growth", 6, func(g *faultRig) error {
		for k, f := range g.live {
			if len(f.b) <= threshold || len(f.b) > 2*mib {
				continue
			}
			if !g.guard {
				g.path = " (mremap)"
			}
			nb, err := g.a.Realloc(f.b, 2*len(f.b))
			if err != nil {
				return err
			}
			require.Equal(g.t, -1, check(nb[:len(f.b)&^7:len(f.b)&^7], f.seed), "Realloc lost kept bytes")
			g.live[k] = g.live[len(g.live)-1]
			g.live = g.live[:len(g.live)-1]
			g.add(nb, false)
			return nil
		}
		return nil
	}},
	{"MakeSlice", 5, func(g *faultRig) error {
		k := 1 + g.r.IntN(40_000)
		s, err := mmalloc.MakeSlice[uint64](g.a, k, k)
		if err == nil {
			g.add(unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), 8*k), false)
		}
		return err
	}},
	{"Buffer.Write", 5, func(g *faultRig) error {
		if g.buf.Len() > 4*mib {
			g.buf.Reset()
		}
		p := make([]byte, 1+g.r.IntN(200_000))
		for i := range p {
			p[i] = byte(g.buf.Len() + i)
		}
		before := g.buf.Len()
		_, err := g.buf.Write(p)
		if err != nil {
			require.Equal(g.t, before, g.buf.Len(), "a failed Write changed the Buffer")
		}
		return err
	}},
	{"Trim", 2, func(g *faultRig) error {
		g.c.Flush()
		return g.a.Trim()
	}},
}

// TestFailMapEverywhere sweeps fault injection over every mapping call of
// a mixed workload (small classes, large mappings, a Cache, Realloc with
// its mremap, typed slices, a Buffer, Trim; default options, no
// retention, guard mode): for N = 1, 2, … it runs the workload
// on a fresh Allocator with the N-th mapping call failing. The call that
// meets the failure returns ErrOutOfMemory (or absorbs it: a batch refill
// that got some objects succeeds); right after, the invariants hold and
// every live buffer is intact; the rest of the workload runs with
// injection disarmed and must succeed; and at the end everything frees
// and trims to nothing mapped. The sweep ends at the first N past the
// workload's last mapping call.
func TestFailMapEverywhere(t *testing.T) {
	steps := 300
	if testing.Short() {
		steps = 150
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
			byOp := map[string]int{}
			n := int64(1)
			for ; ; n++ {
				op, err := runFaultWorkload(t, o, steps, n)
				if op == "" {
					break
				}
				byOp[op]++
				if err != nil {
					surfaced++
				} else {
					absorbed++
				}
			}
			t.Logf("%s: swept %d mapping calls: %d failures returned ErrOutOfMemory, %d absorbed by a partial batch; met by %v",
				name, n-1, surfaced, absorbed, byOp)
			require.Positive(t, surfaced)
			total += int(n - 1)
		})
	}
	t.Logf("injection points swept: %d", total)
}

// runFaultWorkload runs the workload with the failAt-th mapping call
// failing. It returns the step that met the failure ("" if the workload
// never reached it) and the error that step returned.
func runFaultWorkload(t *testing.T, o mmalloc.Options, steps int, failAt int64) (hit string, failErr error) {
	a, err := mmalloc.New(o)
	require.NoError(t, err)
	defer a.Close()
	g := &faultRig{t: t, a: a, c: a.NewCache(), r: rand.New(rand.NewPCG(11, 13)), buf: mmalloc.NewBuffer(a), guard: o.Guard}
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
		g.path = ""
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
			hit, failErr, armed = op.name+g.path, err, false
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
	require.NoError(t, g.buf.Release())
	g.c.Flush()
	require.NoError(t, a.Trim())
	require.NoError(t, a.Validate())
	require.Zero(t, a.Stats().Mapped)
	require.NoError(t, a.CheckGuards())
	return hit, failErr
}
