package mmalloc_test

import (
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/mmalloc/mmalloc"
)

// TestMemoryReturnsToOS allocates 256 MiB of mixed sizes, touches every
// byte, frees it all and trims: nothing stays mapped and the RSS is back.
func TestMemoryReturnsToOS(t *testing.T) {
	skipWithInvariants(t, "every call runs validate, whose garbage counts in the RSS")
	const total = 256 * mib
	// Metadata of the objects below lives on the Go heap; settle it first.
	objs := make([][]byte, 0, 400_000)
	runtime.GC()
	debug.FreeOSMemory()
	start := offHeapRSS(t)

	a := newAlloc(t, mmalloc.Options{})
	r := rand.New(rand.NewPCG(7, 7))
	sum := 0
	for sum < total {
		b, err := a.Alloc(randSize(r))
		require.NoError(t, err)
		bb := b[:cap(b)]
		for i := 0; i < len(bb); i += 512 {
			bb[i] = 1 // touch every page (and then some)
		}
		sum += cap(b)
		objs = append(objs, b)
	}
	peak := offHeapRSS(t)
	require.Greater(t, a.Resident(), int64(total*9/10), "the memory was really touched")
	for _, b := range objs {
		require.NoError(t, a.Free(b))
	}
	require.NoError(t, a.Trim())
	s := a.Stats()
	assert.Zero(t, s.Mapped, "Mapped after free and Trim")
	assert.GreaterOrEqual(t, s.Munmaps, s.Mmaps)
	runtime.GC()
	debug.FreeOSMemory()
	end := offHeapRSS(t)
	t.Logf("off-heap RSS start %d MiB, peak %d MiB, end %d MiB (%d objects)", start>>20, peak>>20, end>>20, len(objs))
	assert.Zero(t, a.Resident(), "nothing of the Allocator's is resident")
	assert.Less(t, end-start, int64(16*mib), "off-heap RSS back within 16 MiB of the start")
	runtime.KeepAlive(objs)
}

// TestLimit checks that Mapped never passes Limit, that the allocation that
// would pass it fails with ErrOutOfMemory, and that frees make room again.
func TestLimit(t *testing.T) {
	const limit = 16 * mib
	a := newAlloc(t, mmalloc.Options{Limit: limit, ChunkBytes: mib})
	var held [][]byte
	r := rand.New(rand.NewPCG(3, 3))
	fails := 0
	for range 5000 {
		b, err := a.Alloc(randSize(r))
		s := a.Stats()
		require.LessOrEqual(t, s.Held, int64(limit), "Limit bounds what is held: mapped and not released")
		require.LessOrEqual(t, s.PeakHeld, int64(limit))
		if err != nil {
			require.ErrorIs(t, err, mmalloc.ErrOutOfMemory)
			fails++
			// Free a few to make room and carry on.
			for i := 0; i < 3 && len(held) > 0; i++ {
				require.NoError(t, a.Free(held[len(held)-1]))
				held = held[:len(held)-1]
			}
			continue
		}
		held = append(held, b)
	}
	require.Greater(t, fails, 0, "the limit was reached")
	require.NoError(t, a.Validate())

	// Exactly at the limit: a large mapping of all that is left fits, one
	// page more does not.
	for _, b := range held {
		require.NoError(t, a.Free(b))
	}
	require.NoError(t, a.Trim())
	require.Zero(t, a.Stats().Mapped)
	_, err := a.Alloc(limit + 1)
	require.ErrorIs(t, err, mmalloc.ErrOutOfMemory)
	b, err := a.Alloc(limit)
	require.NoError(t, err, "an allocation of exactly the limit fits")
	assert.Equal(t, int64(limit), a.Stats().Mapped)
	_, err = a.Alloc(1)
	require.ErrorIs(t, err, mmalloc.ErrOutOfMemory, "a chunk would pass the limit")
	require.NoError(t, a.Free(b))
	b, err = a.Alloc(1)
	require.NoError(t, err, "room again after the free")
	require.NoError(t, a.Free(b))
}

// TestLimitReclaimsEmptySlabs checks that empty slabs kept for reuse (up
// to the retention budget) do not cost a refusal under Limit: memory that
// one size class freed serves another class, and a large allocation. It
// goes through a Cache and flushes it, so that every freed object is back
// in its slab: objects resting in per-P caches (wherever the scheduler ran
// the test) are not kept slabs, and no reclaim touches them.
func TestLimitReclaimsEmptySlabs(t *testing.T) {
	const limit = 8 * mib
	for _, next := range []struct {
		name string
		size int
		n    int
	}{{"other class", 1 << 10, 6 * mib / (1 << 10)}, {"large", 6 * mib, 1}} {
		t.Run(next.name, func(t *testing.T) {
			a := newAlloc(t, mmalloc.Options{Limit: limit, ChunkBytes: mib})
			c := a.NewCache()
			var held [][]byte
			for {
				b, err := c.Alloc(4 << 10)
				if err != nil {
					require.ErrorIs(t, err, mmalloc.ErrOutOfMemory)
					break
				}
				held = append(held, b)
			}
			require.Greater(t, len(held), (limit-mib)/(4<<10), "4 KiB objects filled the limit")
			for _, b := range held {
				require.NoError(t, c.Free(b))
			}
			c.Flush()
			require.Greater(t, a.Stats().Retained, int64(mib), "the freed slabs are kept")
			held = held[:0]
			for range next.n {
				b, err := c.Alloc(next.size)
				require.NoError(t, err, "kept slabs are given back before a refusal")
				held = append(held, b)
			}
			require.LessOrEqual(t, a.Stats().PeakHeld, int64(limit))
			c.Flush()
			require.NoError(t, a.Validate())
			for _, b := range held {
				require.NoError(t, c.Free(b))
			}
			c.Flush()
		})
	}
}

// TestKernelENOMEM runs a child process with a lowered RLIMIT_AS, where the
// kernel refuses a mapping: the error must be ErrOutOfMemory wrapping ENOMEM,
// and the allocator must go on serving what fits.
func TestKernelENOMEM(t *testing.T) {
	if os.Getenv("MMALLOC_ENOMEM_CHILD") == "1" {
		enomemChild(t)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestKernelENOMEM$", "-test.v")
	cmd.Env = append(os.Environ(), "MMALLOC_ENOMEM_CHILD=1")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "child failed:\n%s", out)
	assert.Contains(t, string(out), "child: ENOMEM surfaced and the allocator went on")
}

func enomemChild(t *testing.T) {
	a := newAlloc(t, mmalloc.Options{})
	keep, err := a.Alloc(100)
	require.NoError(t, err)
	fill(keep, 5)

	var lim unix.Rlimit
	require.NoError(t, unix.Getrlimit(unix.RLIMIT_AS, &lim))
	status, err := os.ReadFile("/proc/self/status")
	require.NoError(t, err)
	vm := parseVmSize(t, string(status))
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

func parseVmSize(t *testing.T, status string) int64 {
	var kb int64
	for _, line := range splitLines(status) {
		if n, _ := scanField(line, "VmSize:"); n > 0 {
			kb = n
		}
	}
	require.Positive(t, kb)
	return kb << 10
}
