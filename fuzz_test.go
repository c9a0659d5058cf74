package mmalloc_test

import (
	"errors"
	"testing"

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
