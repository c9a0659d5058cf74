package heapprof

import (
	"bytes"
	"testing"
	"unsafe"

	"github.com/google/pprof/profile"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestFPCallersStops walks chains of frames laid out by hand: [fp] the
// next frame pointer, [fp+8] the return PC. Each walk stops where the
// chain goes wrong, keeping the PCs before.
func TestFPCallersStops(t *testing.T) {
	mem := make([]uintptr, 64)
	at := func(i int) unsafe.Pointer { return unsafe.Pointer(&mem[i]) }
	// frame sets the frame at word i: the next frame pointer and the PC.
	frame := func(i int, next unsafe.Pointer, pc uintptr) {
		*(*unsafe.Pointer)(at(i)) = next
		mem[i+1] = pc
	}
	walk := func(skip int, n int, limit uintptr) []uintptr {
		pcs := make([]uintptr, n)
		return pcs[:fpCallers(at(0), skip, pcs, limit)]
	}
	reset := func() {
		clear(mem)
		frame(0, at(4), 0x100)
		frame(4, at(10), 0x200)
		frame(10, at(20), 0x300)
		frame(20, nil, 0x400) // the root: no caller
	}

	reset()
	assert.Equal(t, []uintptr{0x100, 0x200, 0x300, 0x400}, walk(0, 64, maxStackBytes), "to the root")
	assert.Equal(t, []uintptr{0x300, 0x400}, walk(2, 64, maxStackBytes), "skip")
	assert.Equal(t, []uintptr{0x100, 0x200}, walk(0, 2, maxStackBytes), "depth limit")
	assert.Equal(t, []uintptr{0x100, 0x200}, walk(0, 64, 10*ptrBytes), "frames at 10 words or more above the first are past the limit")

	reset()
	frame(10, at(2), 0x300)
	assert.Equal(t, []uintptr{0x100, 0x200, 0x300}, walk(0, 64, maxStackBytes), "a frame pointer leading down the stack")
	frame(10, at(10), 0x300)
	assert.Equal(t, []uintptr{0x100, 0x200, 0x300}, walk(0, 64, maxStackBytes), "a frame pointer to itself")

	reset()
	frame(4, unsafe.Add(at(10), 1), 0x200)
	assert.Equal(t, []uintptr{0x100, 0x200}, walk(0, 64, maxStackBytes), "a misaligned frame pointer")

	reset()
	frame(10, at(20), 0)
	assert.Equal(t, []uintptr{0x100, 0x200}, walk(0, 64, maxStackBytes), "a return PC of 0")

	assert.Zero(t, fpCallers(nil, 0, make([]uintptr, 4), maxStackBytes), "no frame pointer")
}

// recordOuter calls recordInlined, which the compiler inlines into it:
// one physical frame, two logical ones.
//
//go:noinline
func recordOuter(p *Profile, addr uintptr) { recordInlined(p, addr) }

func recordInlined(p *Profile, addr uintptr) { p.Record(addr, 16) }

// recordBoth records one sample from the same call site into a Profile
// by each unwinder, frame pointers first.
func recordBoth(t *testing.T) (fp, callers *Profile) {
	t.Helper()
	ps := [2]*Profile{newProfile(t, 1, 1), newProfile(t, 1, 1)}
	for i, on := range []bool{true, false} {
		was := SetFramePointers(on)
		recordOuter(ps[i], 0x1000)
		SetFramePointers(was)
	}
	return ps[0], ps[1]
}

func onlyBucket(t *testing.T, p *Profile) *bucket {
	t.Helper()
	rs := p.records()
	require.Len(t, rs, 1)
	for _, b := range p.buckets {
		return b
	}
	return nil
}

// TestFramePointerStacks: a stack taken by frame pointers, once expanded,
// is the one runtime.Callers gives at the same call site, PC for PC, an
// inlined call included; and the two write the same profile.
func TestFramePointerStacks(t *testing.T) {
	if !fpAvailable {
		t.Skip("this build takes every stack with runtime.Callers")
	}
	fp, callers := recordBoth(t)
	phys, logi := onlyBucket(t, fp), onlyBucket(t, callers)
	require.True(t, phys.physical)
	require.False(t, logi.physical)
	var sym symbolizer
	assert.Equal(t, logi.stk, sym.logical(phys.stk), "the expanded stack is runtime.Callers'")
	var inner []string
	for _, pc := range sym.logical(phys.stk[:1]) {
		inner = append(inner, sym.frames(pc)[0].function)
	}
	assert.Equal(t, []string{modulePath + "/internal/heapprof.recordInlined", modulePath + "/internal/heapprof.recordOuter"}, inner,
		"the first frame, expanded: recordInlined, inlined into recordOuter")

	var names []string
	for _, s := range sym.trim(logi.stk, false) {
		for _, f := range s.frames {
			names = append(names, f.function)
		}
	}
	require.GreaterOrEqual(t, len(names), 1)
	assert.Equal(t, "testing.tRunner", names[0], "this package's frames are trimmed")

	write := func(p *Profile) []string {
		var buf bytes.Buffer
		require.NoError(t, Write(&buf, []Named{{Profile: p}}))
		pp, err := profile.Parse(&buf)
		require.NoError(t, err)
		require.Len(t, pp.Sample, 1)
		var stack []string
		for _, loc := range pp.Sample[0].Location {
			for _, l := range loc.Line {
				stack = append(stack, l.Function.Name+" "+l.Function.Filename+":"+itoa(l.Line))
			}
		}
		return stack
	}
	assert.Equal(t, write(callers), write(fp), "the same stack in both profiles")

	var a, b bytes.Buffer
	_, _, err := fp.WriteLive(&a, 10)
	require.NoError(t, err)
	_, _, err = callers.WriteLive(&b, 10)
	require.NoError(t, err)
	assert.Equal(t, b.String(), a.String(), "the same leak report")
}

// TestFramePointersSwitch: SetFramePointers reports the setting it
// replaces, and off means runtime.Callers.
func TestFramePointersSwitch(t *testing.T) {
	was := SetFramePointers(false)
	defer SetFramePointers(was)
	assert.Equal(t, fpAvailable, was, "on by default where available")
	assert.False(t, SetFramePointers(true))
	assert.Equal(t, fpAvailable, SetFramePointers(false), "on only where available")
	p := newProfile(t, 1, 1)
	recordOuter(p, 0x1000)
	assert.False(t, onlyBucket(t, p).physical)
}

func itoa(n int64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}

// BenchmarkRecord measures one sample and its free, Record and Drop, from
// a shallow stack, by each unwinder.
func BenchmarkRecord(b *testing.B) {
	for _, fp := range []bool{true, false} {
		if fp && !fpAvailable {
			continue
		}
		name := "unwind=callers"
		if fp {
			name = "unwind=fp"
		}
		b.Run(name, func(b *testing.B) {
			was := SetFramePointers(fp)
			defer SetFramePointers(was)
			var p Profile
			p.Init(1)
			b.ReportAllocs()
			for b.Loop() {
				recordOuter(&p, 0x1000)
				p.Drop(0x1000)
			}
		})
	}
}
