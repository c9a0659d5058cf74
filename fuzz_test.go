package mmalloc_test

// The fuzz targets (the Makefile's FUZZTARGETS); their corpora are in
// testdata/fuzz.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"

	"github.com/mmalloc/mmalloc"
)

// FuzzOps interprets the input as a program of operations on one Allocator:
// each 3-byte step is an opcode and a 16-bit argument. Every op must either
// succeed or return the error documented for it — the one error where the
// address tells which (ErrInvalidPointer inside a live object,
// ErrForeignPointer for the Go heap), one of the few possible where the
// allocator's history decides — and a refused call changes nothing. Alloc
// returns zeroed memory up to cap; live objects keep their patterns; Live
// equals the program's own count of live objects; the invariants hold; and
// after everything is freed and trimmed nothing is mapped. The top bit of
// the first byte (which the opcode ignores) turns guard mode on.
func FuzzOps(f *testing.F) {
	f.Add([]byte{0, 10, 0, 0, 0, 1, 1, 0, 0})
	f.Add([]byte{0, 255, 255, 0, 1, 0, 2, 0, 0, 1, 0, 0, 1, 0, 0})
	f.Add([]byte{3, 0, 2, 0, 16, 0, 4, 0, 0, 1, 1, 0, 5, 0, 0})
	f.Add([]byte{6, 3, 0, 0, 0, 0x80, 1, 0, 0, 7, 0, 0, 2, 0, 0})
	f.Add([]byte{0x80, 100, 0, 3, 0, 1, 1, 0, 0, 4, 0, 0, 2, 5, 0, 5, 0, 0})
	f.Fuzz(func(t *testing.T, prog []byte) {
		guard := len(prog) > 0 && prog[0]&0x80 != 0
		a, err := mmalloc.New(mmalloc.Options{Limit: 64 << 20, ChunkBytes: 1 << 20, Guard: guard})
		require.NoError(t, err)
		defer a.Close()
		type obj struct {
			b    []byte
			seed uint64
		}
		var live []obj
		var freed [][]byte               // freed slices, for double frees
		inside := func(p uintptr) bool { // strictly inside a live object
			for _, o := range live {
				if p > addr(o.b) && p < addr(o.b)+uintptr(cap(o.b)) {
					return true
				}
			}
			return false
		}
		// At most 1,000 steps, so that every execution stays cheap.
		for i := 0; i+2 < len(prog) && i < 3*1000; i += 3 {
			op, arg := prog[i]%8, int(prog[i+1])|int(prog[i+2])<<8
			switch op {
			case 0, 3: // Alloc: arg covers every class; op 3 goes past the threshold
				n := arg
				if op == 3 {
					n = 64<<10 + arg*16 // 64 KiB to about 1.1 MiB
				}
				b, err := a.Alloc(n)
				if err != nil {
					require.ErrorIs(t, err, mmalloc.ErrOutOfMemory)
					continue
				}
				require.Len(t, b, n)
				require.True(t, allZero(b), "Alloc(%d) is not zeroed up to cap", n)
				if n == 0 {
					continue
				}
				seed := uint64(i)
				fill(b, seed)
				live = append(live, obj{b, seed})
			case 1: // Free a live object
				if len(live) == 0 {
					continue
				}
				k := arg % len(live)
				o := live[k]
				require.Equal(t, -1, check(o.b, o.seed))
				require.NoError(t, a.Free(o.b))
				freed = append(freed, o.b)
				live[k] = live[len(live)-1]
				live = live[:len(live)-1]
			case 2: // Free an interior pointer
				if len(live) == 0 {
					continue
				}
				o := live[arg%len(live)]
				off := 1 + arg%cap(o.b)
				if off >= cap(o.b) {
					continue
				}
				st := a.Stats()
				err := a.Free(o.b[:cap(o.b)][off:])
				require.ErrorIs(t, err, mmalloc.ErrInvalidPointer)
				require.Equal(t, st, a.Stats(), "a refused Free changed the stats")
			case 4: // Free again something freed before: an error or, if
				// the slot was handed out again, a free of that live object.
				if len(freed) == 0 {
					continue
				}
				b := freed[arg%len(freed)]
				reused := -1
				for j, o := range live {
					if addr(o.b) == addr(b) {
						reused = j
					}
				}
				st := a.Stats()
				err := a.Free(b)
				switch {
				case reused >= 0:
					require.NoError(t, err)
					live[reused] = live[len(live)-1]
					live = live[:len(live)-1]
				case inside(addr(b)):
					require.ErrorIs(t, err, mmalloc.ErrInvalidPointer)
				default: // not allocated, unmapped, or not an object's start any more
					require.True(t, errors.Is(err, mmalloc.ErrDoubleFree) || errors.Is(err, mmalloc.ErrForeignPointer) ||
						errors.Is(err, mmalloc.ErrInvalidPointer), "%v", err)
				}
				if err != nil {
					require.Equal(t, st, a.Stats(), "a refused Free changed the stats")
				}
			case 5:
				require.NoError(t, a.Trim())
			case 6: // AllocUninit
				b, err := a.AllocUninit(arg)
				if err != nil {
					require.ErrorIs(t, err, mmalloc.ErrOutOfMemory)
					continue
				}
				if arg > 0 {
					fill(b, uint64(i))
					live = append(live, obj{b, uint64(i)})
				}
			case 7: // Free a foreign slice
				require.ErrorIs(t, a.Free(make([]byte, 1+arg%100)), mmalloc.ErrForeignPointer)
			}
		}
		for _, o := range live {
			require.Equal(t, -1, check(o.b, o.seed))
		}
		require.NoError(t, a.Validate())
		require.NoError(t, a.CheckGuards())
		require.Equal(t, int64(len(live)), a.Stats().Live, "Live counts the program's live objects")
		for _, o := range live {
			require.NoError(t, a.Free(o.b))
		}
		require.NoError(t, a.Trim())
		require.Zero(t, a.Stats().Live)
		require.Zero(t, a.Stats().Mapped)
	})
}

// FuzzFree frees hostile slices: addresses at fuzzed offsets (up to ±4 MiB)
// from live, freed and foreign objects, in default or guard mode. Free
// must succeed exactly at a live object's first byte and otherwise return
// the documented error, changing nothing: the stats stay, live buffers
// keep their bytes, the invariants hold. Where the address says which
// error, it must be that one: ErrInvalidPointer inside a live object,
// ErrDoubleFree at a freed object's first byte, ErrForeignPointer for the
// Go heap and at another Allocator's object; elsewhere (free pages, other
// chunks, unmapped memory) it is one of the three. Alloc's memory is
// zeroed, and Live counts the live objects at the end.
//
// The input is a mode and a program of 5-byte steps: a base (which object)
// and a 32-bit signed offset from it.
func FuzzFree(f *testing.F) {
	f.Add(false, []byte{0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 2, 0xff, 0xff, 0xff, 0xff})
	f.Add(true, []byte{0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 2, 0xff, 0xff, 0xff, 0xff})
	f.Add(false, []byte{9, 0, 0, 0, 0, 10, 16, 0, 0, 0, 11, 0, 0, 2, 0, 12, 0, 0, 0, 0})
	f.Add(true, []byte{7, 0, 0, 0, 0, 7, 0, 0, 0, 0, 8, 0, 16, 0, 0, 13, 5, 0, 0, 0})
	f.Add(false, []byte{5, 0, 0, 0, 0, 6, 1, 0, 0, 0, 6, 0, 16, 0, 0, 14, 0, 0, 0x40, 0})
	f.Fuzz(func(t *testing.T, guard bool, prog []byte) {
		o := mmalloc.Options{Guard: guard, ChunkBytes: mib}
		a, err := mmalloc.New(o)
		require.NoError(t, err)
		defer a.Close()
		other, err := mmalloc.New(o)
		require.NoError(t, err)
		defer other.Close()

		type obj struct {
			b    []byte
			live bool
		}
		f := newBuffers(t, a, other,
			[]int{8, 16, 100, 1000, 4096, 40_000, threshold, threshold + 1, mib},
			[]int{100, 5000, 2 * mib}, // freed, slots not reused
			[]int{100, 2 * mib})       // another allocator's
		var objs []obj
		for _, b := range f.live {
			objs = append(objs, obj{b, true})
		}
		freedFrom := len(objs)
		for _, b := range f.freed {
			objs = append(objs, obj{b, false})
		}
		otherFrom := len(objs)
		for _, b := range f.foreign {
			objs = append(objs, obj{b, false})
		}
		// want returns the error Free must return at p, where the address
		// alone decides it, else nil.
		want := func(sel int, off int64, p uintptr) error {
			for _, x := range objs[:freedFrom] {
				if x.live && p > addr(x.b) && p < addr(x.b)+uintptr(cap(x.b)) {
					return mmalloc.ErrInvalidPointer
				}
			}
			switch {
			case sel == len(objs):
				return mmalloc.ErrForeignPointer
			case off == 0 && sel >= otherFrom:
				return mmalloc.ErrForeignPointer
			case off == 0 && sel >= freedFrom:
				return mmalloc.ErrDoubleFree
			}
			return nil
		}
		heapBuf := make([]byte, 4096)

		for i := 0; i+4 < len(prog) && i < 5*200; i += 5 {
			sel := int(prog[i]) % (len(objs) + 1)
			off := int64(int32(binary.LittleEndian.Uint32(prog[i+1:]))) % (4 << 20)
			var b []byte
			if sel == len(objs) { // the Go heap: stay inside the buffer
				k := int(uint64(off) % uint64(len(heapBuf)))
				b = heapBuf[k:]
			} else {
				p := int64(addr(objs[sel].b)) + off
				if p < 1<<20 {
					continue
				}
				b = unsafe.Slice((*byte)(addrToPointer(uintptr(p))), 1+i%64)
			}
			target := -1
			for k, x := range objs {
				if x.live && addr(x.b) == addr(b) {
					target = k
				}
			}
			before := a.Stats()
			var err error
			require.NotPanics(t, func() { err = a.Free(b) })
			if target >= 0 {
				require.NoError(t, err, "Free at a live object's start")
				objs[target].live = false
				continue
			}
			require.Error(t, err)
			if w := want(sel, off, addr(b)); w != nil {
				require.ErrorIs(t, err, w, "object %d%+d", sel, off)
			} else {
				require.True(t, errors.Is(err, mmalloc.ErrInvalidPointer) || errors.Is(err, mmalloc.ErrDoubleFree) ||
					errors.Is(err, mmalloc.ErrForeignPointer), "unexpected error %v", err)
			}
			require.Equal(t, before, a.Stats(), "a rejected Free changed the stats")
		}
		for i, x := range objs {
			if x.live {
				require.Equal(t, -1, check(x.b[:len(x.b)&^7], uint64(i)), "live object %d changed", i)
			}
		}
		require.NoError(t, a.Validate())
		require.NoError(t, a.CheckGuards())
		nlive := 0
		for _, x := range objs[:freedFrom] {
			if x.live {
				nlive++
			}
		}
		require.Equal(t, int64(nlive), a.Stats().Live, "Live counts the live objects")
	})
}

// FuzzRealloc interprets the input as a program of Alloc, Realloc and Free
// on one Allocator, each step an opcode and a 16-bit size or index. After
// every Realloc the kept bytes must hold the buffer's pattern, the rest
// read as zero, and cap is UsableSize. A Realloc of a freed slice is
// judged by its address, as FuzzOps judges a second Free: at a live
// object's first byte (its memory was handed out again) it resizes that
// object; strictly inside one it returns ErrInvalidPointer; elsewhere
// ErrDoubleFree, ErrForeignPointer or ErrInvalidPointer (the slot's page
// may now start objects elsewhere) — and a refusal changes nothing. Every
// input is interpreted, none skipped. At the end Live equals the
// program's count, the invariants hold, and everything frees to nothing
// mapped.
func FuzzRealloc(f *testing.F) {
	f.Add([]byte{0, 100, 0, 1, 0, 0x20, 1, 0, 0xF0, 2, 0, 0})
	f.Add([]byte{0, 0, 0x10, 1, 0, 0x90, 1, 0, 0x01, 3, 0, 0, 1, 0, 0})
	f.Add([]byte{0, 7, 0, 2, 0, 0, 1, 0, 0, 4, 0, 0, 1, 255, 255})
	f.Fuzz(func(t *testing.T, prog []byte) {
		a, err := mmalloc.New(mmalloc.Options{Limit: 256 << 20, ChunkBytes: 1 << 20})
		require.NoError(t, err)
		defer a.Close()
		type obj struct {
			b    []byte // len: the bytes that hold the pattern
			seed byte
		}
		var live []obj
		var freed [][]byte
		size := func(arg int) int { // 0..64 KiB, or up to 4 MiB past 0x8000
			if arg >= 0x8000 {
				return (arg - 0x8000) * 128
			}
			return arg * 2
		}
		// Byte i of an object of seed s holds s+7i, which is sevens[j+i]
		// for j = s·183 (183 is 7's inverse mod 256): copy and bytes.Equal
		// then do the work, fast even under coverage instrumentation.
		want := func(seed byte, n int) []byte { j := int(seed * 183); return sevens[j : j+n] }
		pattern := func(b []byte, seed byte) { copy(b, want(seed, len(b))) }
		holds := func(b []byte, seed byte) bool { return bytes.Equal(b, want(seed, len(b))) }
		for i := 0; i+2 < len(prog) && i < 3*300; i += 3 {
			op, arg := prog[i]%5, int(prog[i+1])|int(prog[i+2])<<8
			switch op {
			case 0: // Alloc
				b, err := a.Alloc(size(arg))
				if err != nil {
					require.ErrorIs(t, err, mmalloc.ErrOutOfMemory)
					continue
				}
				pattern(b, byte(i))
				live = append(live, obj{b, byte(i)})
			case 1: // Realloc a live object
				if len(live) == 0 {
					continue
				}
				k := int(prog[i+1]) % len(live)
				o := live[k]
				n := size(arg)
				r, err := a.Realloc(o.b, n)
				if err != nil {
					require.ErrorIs(t, err, mmalloc.ErrOutOfMemory)
					require.True(t, holds(o.b, o.seed), "a failed Realloc changed the bytes")
					continue
				}
				keep := min(len(o.b), n)
				require.Len(t, r, n)
				require.Equal(t, a.UsableSize(n), cap(r), "the one cap rule")
				require.True(t, holds(r[:keep], o.seed), "kept bytes")
				require.True(t, allZero(r[keep:n:n]), "new bytes")
				if cap(o.b) > 0 && n == 0 || cap(o.b) > 0 && addr(r) != addr(o.b) {
					freed = append(freed, o.b)
				}
				pattern(r, o.seed)
				live[k] = obj{r, o.seed}
			case 2: // Free a live object
				if len(live) == 0 {
					continue
				}
				k := arg % len(live)
				require.NoError(t, a.Free(live[k].b))
				if cap(live[k].b) > 0 {
					freed = append(freed, live[k].b)
				}
				live[k] = live[len(live)-1]
				live = live[:len(live)-1]
			case 3: // Realloc a freed slice: judged by its address
				if len(freed) == 0 {
					continue
				}
				b, n := freed[arg%len(freed)], size(arg)
				at, in := -1, false
				for j, o := range live {
					switch p := addr(b); {
					case cap(o.b) > 0 && p == addr(o.b):
						at = j
					case p > addr(o.b) && p < addr(o.b)+uintptr(cap(o.b)):
						in = true
					}
				}
				st := a.Stats()
				r, err := a.Realloc(b, n)
				switch {
				case at >= 0 && errors.Is(err, mmalloc.ErrOutOfMemory):
					continue
				case at >= 0: // b's memory is live[at]'s now: b is that object, of len(b)
					require.NoError(t, err, "Realloc at a live object's first byte")
					o := live[at]
					require.Len(t, r, n)
					require.True(t, holds(r[:min(len(o.b), len(b), n)], o.seed), "kept bytes")
					require.True(t, allZero(r[min(len(b), n):n:n]), "bytes past len(b) read as zero")
					if addr(r) != addr(b) || n == 0 {
						freed = append(freed, o.b)
					}
					pattern(r, o.seed)
					live[at] = obj{r, o.seed}
				case in:
					require.ErrorIs(t, err, mmalloc.ErrInvalidPointer)
				default:
					require.True(t, errors.Is(err, mmalloc.ErrDoubleFree) || errors.Is(err, mmalloc.ErrForeignPointer) ||
						errors.Is(err, mmalloc.ErrInvalidPointer), "%v", err)
				}
				if err != nil {
					require.Equal(t, st, a.Stats(), "a refused Realloc changed the stats")
				}
			case 4: // Realloc an interior slice
				if len(live) == 0 || len(live[arg%len(live)].b) < 2 {
					continue
				}
				st := a.Stats()
				_, err := a.Realloc(live[arg%len(live)].b[1:], 10)
				require.ErrorIs(t, err, mmalloc.ErrInvalidPointer)
				require.Equal(t, st, a.Stats())
			}
		}
		nlive := int64(0)
		for _, o := range live {
			require.True(t, holds(o.b, o.seed))
			if cap(o.b) > 0 {
				nlive++
			}
		}
		require.NoError(t, a.Validate())
		require.Equal(t, nlive, a.Stats().Live, "Live counts the program's live objects")
		for _, o := range live {
			require.NoError(t, a.Free(o.b))
		}
		require.NoError(t, a.Trim())
		require.Zero(t, a.Stats().Live)
		require.Zero(t, a.Stats().Mapped, "everything freed, nothing mapped")
	})
}
