package mmalloc_test

// Faults: mapping calls made to fail on purpose (FailMapAfter), and
// child processes whose kernel refuses memory (a lowered RLIMIT_AS).

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/mmalloc/mmalloc"
	"github.com/mmalloc/mmalloc/internal/testutil"
)

// TestKernelENOMEM runs a child process with a lowered RLIMIT_AS, where the
// kernel refuses a mapping: the error must be ErrOutOfMemory wrapping ENOMEM,
// and the allocator must go on serving what fits.
func TestKernelENOMEM(t *testing.T) {
	out := inChild(t, enomemChild)
	if !isChild(t) {
		assert.Contains(t, out, "child: ENOMEM surfaced and the allocator went on")
	}
}

func enomemChild(t *testing.T) {
	a := newAlloc(t, mmalloc.Options{})
	keep, err := a.Alloc(100)
	require.NoError(t, err)
	fill(keep, 5)

	var lim unix.Rlimit
	require.NoError(t, unix.Getrlimit(unix.RLIMIT_AS, &lim))
	vm := testutil.Status(t, "VmSize")
	// Room for the Go runtime to carry on, not for a 1 GiB mapping.
	require.NoError(t, unix.Setrlimit(unix.RLIMIT_AS, &unix.Rlimit{Cur: uint64(vm + 256*mib), Max: lim.Max}))

	before := a.Stats()
	_, err = a.Alloc(1 << 30)
	require.Error(t, err)
	require.ErrorIs(t, err, mmalloc.ErrOutOfMemory)
	require.True(t, errors.Is(err, unix.ENOMEM), "errno wrapped: %v", err)
	assert.Equal(t, before, a.Stats(), "a refused mapping changes nothing")

	b, err := a.Alloc(64)
	require.NoError(t, err, "small allocations still work")
	require.NoError(t, a.Free(b))
	require.Equal(t, -1, check(keep, 5))
	require.NoError(t, a.Validate())
	t.Log("child: ENOMEM surfaced and the allocator went on")
}

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
	small bool            // set by a step whose mapping call is a small refill (see absorbs)
	guard bool
}

// rigWord reports whether fill and check visit word i of n: every word of
// the first and last 4 KiB, and one word in every 64 KiB between. Objects
// that overlap share such words, and the workload's megabytes of fresh
// buffers cost a few page faults each, not one per page.
func rigWord(i, n int) bool { return i < 512 || i >= n-512 || i%8192 == 0 }

// rigFill writes the pattern of seed (as fill's) at the visited words of b,
// up to its capacity.
func rigFill(b []byte, seed uint64) {
	for i, w := 0, words(b); i < len(w); i++ {
		if rigWord(i, len(w)) {
			w[i] = seed + uint64(i)*0x9E3779B97F4A7C15
		}
	}
}

// rigCheck returns the offset of the first visited word of b that lost
// rigFill's pattern, or -1. b may be a prefix of what rigFill wrote over
// filled bytes (a Realloc's kept bytes).
func rigCheck(b []byte, seed uint64, filled int) int {
	for i, w := 0, words(b); i < len(w); i++ {
		if rigWord(i, filled/8) && w[i] != seed+uint64(i)*0x9E3779B97F4A7C15 {
			return i * 8
		}
	}
	return -1
}

// bufPattern is what the rig's Buffer holds: byte i is byte(i). The
// Buffer is reset past 4 MiB, and a write adds at most 200,000 bytes.
var bufPattern = func() []byte {
	p := make([]byte, 4*mib+200_000)
	for i := range p {
		p[i] = byte(i)
	}
	return p
}()

// faultBuf is a live buffer of the workload and the seed of its pattern.
type faultBuf struct {
	b     []byte
	seed  uint64
	cache bool // allocated through the Cache (freed through it too)
}

// add records a fresh buffer and fills it with a pattern.
func (g *faultRig) add(b []byte, cache bool) {
	g.seed++
	rigFill(b[:len(b)&^7], g.seed)
	g.live = append(g.live, faultBuf{b, g.seed, cache})
}

// intact checks the pattern of every live buffer, and the Buffer's bytes.
func (g *faultRig) intact() {
	for i, f := range g.live {
		require.Equal(g.t, -1, rigCheck(f.b[:len(f.b)&^7], f.seed, cap(f.b[:len(f.b)&^7])), "live buffer %d (%d bytes) changed", i, len(f.b))
	}
	if got := g.buf.Bytes(); !bytes.Equal(got, bufPattern[:len(got)]) {
		i := 0
		for got[i] == bufPattern[i] {
			i++
		}
		require.Equal(g.t, bufPattern[i], got[i], "Buffer byte %d of %d changed", i, len(got))
	}
}

// freeOne frees a random live buffer, through the way it came.
func (g *faultRig) freeOne() {
	if len(g.live) == 0 {
		return
	}
	k := g.r.IntN(len(g.live))
	f := g.live[k]
	require.Equal(g.t, -1, rigCheck(f.b[:len(f.b)&^7], f.seed, cap(f.b[:len(f.b)&^7])))
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
// Steps of other APIs (Regions, Realloc) join this table.
type faultOp struct {
	name   string
	weight int
	do     func(g *faultRig) error
}

var faultOps = []faultOp{
	{"Alloc small", 30, func(g *faultRig) error {
		g.small = true
		b, err := g.a.Alloc(1 + g.r.IntN(2048))
		if err == nil {
			g.add(b, false)
		}
		return err
	}},
	{"AllocUninit mid-size", 10, func(g *faultRig) error {
		g.small = true
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
	{"Alloc burst", 8, func(g *faultRig) error {
		// Many mid-size objects at once: slabs of many pages, and chunks,
		// run out, so that chunk mappings meet the failure too.
		g.small = true
		for range 48 {
			b, err := g.a.Alloc(4096 + g.r.IntN(12*kib))
			if err != nil {
				return err
			}
			g.add(b, false)
		}
		return nil
	}},
	{"Churn burst", 6, func(g *faultRig) error {
		// Some 2 MiB of mid-size objects through the Cache, freed at once:
		// chunks are mapped for them and, without retention, unmapped
		// after, so that every churn maps again.
		g.small = true
		var got [][]byte
		defer func() {
			for _, b := range got {
				require.NoError(g.t, g.c.Free(b))
			}
			g.c.Flush()
		}()
		for range 256 {
			b, err := g.c.Alloc(4096 + g.r.IntN(4*kib))
			if err != nil {
				return err
			}
			got = append(got, b)
		}
		return nil
	}},
	{"Cache.Alloc", 20, func(g *faultRig) error {
		g.small = true
		b, err := g.c.Alloc(1 + g.r.IntN(8192))
		if err == nil {
			g.add(b, true)
		}
		return err
	}},
	{"Free", 40, func(g *faultRig) error { g.freeOne(); return nil }},
	{"Free burst", 3, func(g *faultRig) error {
		// Half of everything: slabs and chunks empty, and without
		// retention they are unmapped, to be mapped again later.
		for range len(g.live) / 2 {
			g.freeOne()
		}
		return nil
	}},
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
		g.small = n <= threshold
		nb, err := g.a.Realloc(f.b, n)
		if err != nil {
			return err // f stays live and intact
		}
		keep := min(len(f.b), n) &^ 7
		require.Equal(g.t, -1, rigCheck(nb[:keep:keep], f.seed, cap(f.b[:len(f.b)&^7])), "Realloc lost kept bytes")
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
			require.Equal(g.t, -1, rigCheck(nb[:len(f.b)&^7:len(f.b)&^7], f.seed, cap(f.b[:len(f.b)&^7])), "Realloc lost kept bytes")
			g.live[k] = g.live[len(g.live)-1]
			g.live = g.live[:len(g.live)-1]
			g.add(nb, false)
			return nil
		}
		return nil
	}},
	{"MakeSlice", 5, func(g *faultRig) error {
		k := 1 + g.r.IntN(40_000)
		g.small = 8*k <= threshold
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
		before := g.buf.Len()
		p := bufPattern[before : before+1+g.r.IntN(200_000)]
		if g.buf.Available() < len(p) { // grows: as Buffer.grow sizes it (nothing is read, so nothing moves down)
			g.small = max(2*g.buf.Cap(), before+len(p), 64) <= threshold
		}
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

// Where an injected failure is made: before the request's reservation
// (as a passed Limit fails it), or by the kernel after it.
type faultMode struct {
	name string
	arm  func(a *mmalloc.Allocator, n int64)
}

var faultModes = []faultMode{
	{"refused before the reservation", (*mmalloc.Allocator).FailMapAfter},
	{"refused by the kernel", (*mmalloc.Allocator).FailKernelFrom},
}

// TestFailMapEverywhere sweeps fault injection over every mapping call of
// a mixed workload (small classes, bursts that map chunks, large mappings,
// a Cache, Realloc with its mremap, typed slices, a Buffer, Trim; default
// options, no retention, guard mode), failing each call in both ways
// faultModes makes it fail.
//
// A dry run counts the workload's mapping requests; then for N = 1 … that
// count the workload runs on a fresh Allocator with the N-th request
// failing, and must reach it: the sweep covers every request the dry run
// counted. The step that meets the failure returns ErrOutOfMemory and
// changes nothing, save one case the Allocator's contract allows: a small
// refill that got its object anyway (from a slab with room, or from room
// that reclaiming retained memory made) succeeds — see absorbs. Right
// after the step the invariants hold and every live buffer is intact; the
// rest of the workload runs with injection disarmed and must succeed; at
// the end everything frees and trims to nothing mapped.
//
// The workload runs on one P (GOMAXPROCS 1), so that no run meets its
// caches in another order than the dry run did. After the failure, the
// workload goes on for faultTailSteps more steps: enough to show that the
// Allocator recovers, without running the whole workload once per request.
func TestFailMapEverywhere(t *testing.T) {
	steps := 300
	if testing.Short() || raceEnabled { // the race detector multiplies its cost by ten
		steps = 150
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	total := 0
	for _, o := range []mmalloc.Options{
		{},
		{ChunkBytes: mib, RetainBytes: mmalloc.NoRetain},
		{Guard: true, ChunkBytes: mib},
	} {
		for _, mode := range faultModes {
			name := fmt.Sprintf("guard=%v,chunk=%d,retain=%d,%s", o.Guard, o.ChunkBytes, o.RetainBytes, mode.name)
			t.Run(name, func(t *testing.T) {
				requests := countFaultRequests(t, o, steps)
				require.Positive(t, requests)
				surfaced, absorbed := 0, 0
				byOp := map[string]int{}
				for n := int64(1); n <= requests; n++ {
					r := runFaultWorkload(t, o, steps, mode, n)
					require.NotEmpty(t, r.hit, "request %d of %d (counted in the dry run) was never made", n, requests)
					byOp[r.hit]++
					if r.err != nil {
						surfaced++
					} else {
						absorbed++
					}
				}
				t.Logf("%s: swept all %d mapping requests: %d failures returned ErrOutOfMemory, %d absorbed by a small refill; met by %v",
					name, requests, surfaced, absorbed, byOp)
				assert.Greater(t, surfaced, absorbed, "most failures surface")
				total += int(requests)
			})
		}
	}
	t.Logf("injection points swept: %d", total)
}

// countFaultRequests runs the workload once without failing anything and
// returns how many mapping requests it made.
func countFaultRequests(t *testing.T, o mmalloc.Options, steps int) int64 {
	var n int64
	runFaultSteps(t, o, steps, func(a *mmalloc.Allocator) { a.FailMapAfter(1 << 62) }, func(g *faultRig, _ faultOp, err error) bool {
		require.NoError(t, err)
		n = g.a.MapRequests()
		return true
	})
	return n
}

// faultRun is what one run of the sweep saw: the step that met the
// failure ("" if none did) and the error it returned.
type faultRun struct {
	hit string
	err error
}

// faultTailSteps is how many steps run after the one that met the failure.
const faultTailSteps = 40

// runFaultWorkload runs the workload with the failAt-th mapping request
// failing the way mode makes it fail.
func runFaultWorkload(t *testing.T, o mmalloc.Options, steps int, mode faultMode, failAt int64) (r faultRun) {
	armed, tail := true, 0
	runFaultSteps(t, o, steps, func(a *mmalloc.Allocator) { mode.arm(a, failAt) }, func(g *faultRig, op faultOp, err error) bool {
		if !armed {
			require.NoError(t, err, "%s after the injected failure", op.name)
			tail++
			return tail < faultTailSteps
		}
		met := g.a.MapRequests() >= failAt
		if err != nil {
			require.ErrorIs(t, err, mmalloc.ErrOutOfMemory, op.name)
			require.True(t, met, "%s failed before the injected request", op.name)
		}
		if !met {
			return true
		}
		if err == nil {
			require.True(t, absorbs(g), "%s met the failure of request %d and returned no error", op.name+g.path, failAt)
		}
		r, armed = faultRun{op.name + g.path, err}, false
		g.a.FailMapAfter(0)
		g.c.Flush()
		require.NoError(t, g.a.Validate(), "after %s met the failure", op.name)
		g.intact()
		return true
	})
	return r
}

// absorbs reports whether the step just run may meet an injected failure
// and still succeed, as the Allocator's contract allows: only a small
// refill may, when it got objects before its chunk mapping failed (a batch
// takes what slabs have, and a failure ends it short), or found room in
// a chunk after the failure made it give retained empty slabs back (the
// Heap reclaims and tries once more). Every other step must return the
// failure.
func absorbs(g *faultRig) bool { return g.small }

// runFaultSteps runs the workload on a fresh Allocator armed by arm,
// calling after with each step's result (false ends the workload), then
// frees everything and checks that nothing is left mapped.
func runFaultSteps(t *testing.T, o mmalloc.Options, steps int, arm func(*mmalloc.Allocator), after func(*faultRig, faultOp, error) bool) {
	a, err := mmalloc.New(o)
	require.NoError(t, err)
	defer a.Close()
	g := &faultRig{t: t, a: a, c: a.NewCache(), r: rand.New(rand.NewPCG(11, 13)), buf: mmalloc.NewBuffer(a), guard: o.Guard}
	weights := 0
	for _, op := range faultOps {
		weights += op.weight
	}
	arm(a)
	for range steps {
		k := g.r.IntN(weights)
		var op faultOp
		for _, op = range faultOps {
			if k -= op.weight; k < 0 {
				break
			}
		}
		g.path, g.small = "", false
		if !after(g, op, op.do(g)) {
			break
		}
	}
	a.FailMapAfter(0)
	g.c.Flush()
	require.NoError(t, a.Validate())
	g.intact()
	for len(g.live) > 0 {
		g.freeOne()
	}
	require.NoError(t, g.buf.Free())
	g.c.Flush()
	require.NoError(t, a.Trim())
	require.NoError(t, a.Validate())
	require.Zero(t, a.Stats().Mapped)
	require.NoError(t, a.CheckGuards())
}

// TestReserveRefused runs a child with a lowered RLIMIT_AS, where the
// kernel refuses the reservation: New returns ErrOutOfMemory wrapping
// ENOMEM.
func TestReserveRefused(t *testing.T) {
	out := inChild(t, func(t *testing.T) {
		var lim unix.Rlimit
		require.NoError(t, unix.Getrlimit(unix.RLIMIT_AS, &lim))
		vm := testutil.Status(t, "VmSize")
		require.NoError(t, unix.Setrlimit(unix.RLIMIT_AS, &unix.Rlimit{Cur: uint64(vm + 256*mib), Max: lim.Max}))
		for _, o := range []mmalloc.Options{{Reserve: 1 << 40}, {Shared: true}} {
			a, err := mmalloc.New(o)
			require.ErrorIs(t, err, mmalloc.ErrOutOfMemory)
			require.True(t, errors.Is(err, unix.ENOMEM), "errno wrapped: %v", err)
			require.Nil(t, a)
		}
		t.Log("child: the reservation was refused")
	})
	if !isChild(t) {
		assert.Contains(t, out, "child: the reservation was refused")
	}
}
