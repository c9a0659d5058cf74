package mmalloc_test

import (
	"encoding/binary"
	"errors"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"

	"github.com/mmalloc/mmalloc"
)

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
		var objs []obj
		for i, n := range []int{8, 16, 100, 1000, 4096, 40_000, threshold, threshold + 1, mib} {
			b, err := a.Alloc(n)
			require.NoError(t, err)
			require.True(t, allZero(b), "Alloc(%d) is not zeroed", n)
			fill(b[:n&^7], uint64(i))
			objs = append(objs, obj{b, true})
		}
		freedFrom, otherFrom := len(objs), len(objs)+3
		for _, n := range []int{100, 5000, 2 * mib} { // freed, slots not reused
			b, err := a.Alloc(n)
			require.NoError(t, err)
			require.NoError(t, a.Free(b))
			objs = append(objs, obj{b, false})
		}
		for _, n := range []int{100, 2 * mib} { // another allocator's
			b, err := other.Alloc(n)
			require.NoError(t, err)
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

// addrToPointer turns an address of mapped memory (never of the Go heap)
// into a pointer without the conversion vet warns about.
func addrToPointer(p uintptr) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(&p)) }
