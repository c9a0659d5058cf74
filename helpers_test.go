package mmalloc_test

// What the tests of package mmalloc share: Allocators that close with
// the test, patterns, the fixture of live, freed and foreign buffers, the
// test binary re-executed as a child, and memory figures. /proc/self is
// read by internal/testutil.

import (
	"bytes"
	"math/rand/v2"
	"os"
	"os/exec"
	"regexp"
	"runtime/metrics"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/mmalloc/mmalloc"
	"github.com/mmalloc/mmalloc/internal/testutil"
)

// newAlloc returns an Allocator closed at the end of the test.
func newAlloc(t testing.TB, o mmalloc.Options) *mmalloc.Allocator {
	t.Helper()
	a, err := mmalloc.New(o)
	require.NoError(t, err)
	t.Cleanup(func() { _ = a.Close() })
	return a
}

// words views b up to its capacity (always a multiple of 8) as words.
func words(b []byte) []uint64 {
	return unsafe.Slice((*uint64)(unsafe.Pointer(unsafe.SliceData(b))), cap(b)/8)
}

// fill writes the pattern of seed over b up to its capacity: word i holds
// seed+i*k, different for every seed, so overlapping objects show.
func fill(b []byte, seed uint64) {
	for i, w := 0, words(b); i < len(w); i++ {
		w[i] = seed + uint64(i)*0x9E3779B97F4A7C15
	}
}

// check returns the byte offset of the first word of b (up to cap) that
// differs from seed's pattern, or -1.
func check(b []byte, seed uint64) int {
	for i, w := 0, words(b); i < len(w); i++ {
		if w[i] != seed+uint64(i)*0x9E3779B97F4A7C15 {
			return i * 8
		}
	}
	return -1
}

// zeros is what allZero compares against, a block at a time.
var zeros [64 << 10]byte

// allZero reports whether b is zero up to its capacity. It compares with
// bytes.Equal rather than a loop of its own, so that the fuzz targets,
// which check megabytes per execution, stay fast under coverage
// instrumentation.
func allZero(b []byte) bool {
	for b = b[:cap(b)]; len(b) > 0; {
		n := min(len(b), len(zeros))
		if !bytes.Equal(b[:n], zeros[:n]) {
			return false
		}
		b = b[n:]
	}
	return true
}

func addr(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }

// goRuntimeBytes returns the memory the Go runtime has mapped and not
// released (heap, stacks, metadata), from runtime/metrics: its share of
// the RSS, but for the few pages it has mapped and not touched yet (fresh
// heap memory counts as released until used).
func goRuntimeBytes() int64 {
	sample := []metrics.Sample{
		{Name: "/memory/classes/total:bytes"},
		{Name: "/memory/classes/heap/released:bytes"},
	}
	metrics.Read(sample)
	return int64(sample[0].Value.Uint64()) - int64(sample[1].Value.Uint64())
}

// offHeapRSS returns the process's RSS less goRuntimeBytes: what is
// resident outside the Go runtime's own memory, mmalloc's mappings and
// the program's text. A test that bounds the RSS mmalloc costs compares
// two readings of it, never two readings of testutil.RSS: the test's own
// Go-heap data (an index of a million slices is 23 MiB) would count as
// mmalloc's. A difference of offHeapRSS is off from mmalloc's growth only
// by how much the runtime's mapped but untouched pages changed; a lower
// bound (memory really touched) uses Allocator.Resident.
func offHeapRSS(t testing.TB) int64 {
	t.Helper()
	return testutil.RSS(t) - goRuntimeBytes()
}

// randSize draws a size that exercises every layer: mostly small classes,
// some sizes near the large threshold, some large mappings.
func randSize(r *rand.Rand) int {
	switch k := r.IntN(100); {
	case k < 70:
		return 1 + r.IntN(1024)
	case k < 93:
		return 1 + r.IntN(32<<10)
	case k < 98:
		return 32<<10 + r.IntN(128<<10) // across the large threshold
	default:
		return 128<<10 + r.IntN(1<<20)
	}
}

// skipWithInvariants skips a test that measures what the invariants
// build's checks disturb (Go heap allocations, RSS).
func skipWithInvariants(t *testing.T, why string) {
	t.Helper()
	if mmalloc.Invariants {
		t.Skip("invariants build: " + why)
	}
}

// placeholder maps n bytes at p, inaccessible and without memory, only if
// the whole range is free, and reports whether it did.
func placeholder(p, n uintptr) bool {
	_, err := unix.MmapPtr(-1, 0, addrToPointer(p), n, unix.PROT_NONE,
		unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE|unix.MAP_FIXED_NOREPLACE)
	return err == nil
}

// steerNextMapping arranges the address space so that the next mapping of
// chunk bytes the kernel places on its own lands at base, a free range.
// The kernel searches top-down, taking the highest free range that fits
// (some kernels first pad a request of whole 2 MiB huge pages by one more,
// and align the result up to 2 MiB). So every free range above
// base+chunk+pad (below the big gap under the stack, where the search
// starts) is filled with an inaccessible placeholder, [base, base+chunk+pad)
// is left free — pad is 0, or 2 MiB for a padding kernel — and so is
// filled [hint, hint+chunk), the range a Heap tries first (just below the
// last chunk it mapped). It returns the function that unmaps the
// placeholders, or nil if [base, base+chunk+pad) is not free. Another
// thread of the process may still map there first: callers check where
// their mapping landed.
func steerNextMapping(t testing.TB, base, chunk, pad, hint uintptr) (undo func()) {
	const topGap = 1 << 40 // the gap under the stack, where mmap_base lies
	ms := testutil.Maps(t)
	for _, m := range ms {
		if m.Lo < base+chunk+pad && m.Hi > base {
			return nil
		}
	}
	var placed [][2]uintptr
	undo = func() {
		for _, r := range placed {
			require.NoError(t, unix.MunmapPtr(addrToPointer(r[0]), r[1]))
		}
	}
	for i := 0; i+1 < len(ms); i++ {
		lo, hi := max(ms[i].Hi, base+chunk+pad), ms[i+1].Lo
		if hi <= lo || hi-lo >= topGap || ms[i+1].Name == "[stack]" {
			continue
		}
		if placeholder(lo, hi-lo) {
			placed = append(placed, [2]uintptr{lo, hi - lo})
		}
	}
	if hint != 0 && placeholder(hint, chunk) {
		placed = append(placed, [2]uintptr{hint, chunk})
	}
	return undo
}

// childTestEnv names the variable that makes a re-executed test binary run the
// body of one test: its value is the test's full name.
const childTestEnv = "MMALLOC_CHILD"

// isChild reports whether this process is the test binary re-executed by
// childCommand to run t.
func isChild(t *testing.T) bool { return os.Getenv(childTestEnv) == t.Name() }

// childCommand is the one way the tests re-execute their own binary: it
// returns the command that runs only the test of the given full name
// (subtests joined by "/"), verbose, once, within 5 minutes, with childTestEnv
// set so that isChild is true there, and env added to the environment.
// The caller starts it, giving it files or pipes if it needs them.
func childCommand(name string, env ...string) *exec.Cmd {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	cmd := exec.Command(os.Args[0], "-test.run="+strings.Join(parts, "/"), "-test.v", "-test.count=1", "-test.timeout=5m")
	cmd.Env = append(append(os.Environ(), childTestEnv+"="+name), env...)
	return cmd
}

// inChild runs body in a child process — the test binary re-executed with
// only this test selected — so that a fault or a fatal error in body fails
// the test instead of killing the suite. It returns the child's output.
// In the child itself it runs body and returns "".
func inChild(t *testing.T, body func(t *testing.T), env ...string) string {
	t.Helper()
	if isChild(t) {
		body(t)
		return ""
	}
	out, err := runChild(t, env...)
	require.NoError(t, err, "the child process failed or died:\n%s", out)
	require.Contains(t, out, "--- PASS: "+t.Name()+" ", "the child did not run the test:\n%s", out)
	return out
}

// runChild runs t in a child process (childCommand) and returns its
// combined output and exit error.
func runChild(t *testing.T, env ...string) (string, error) {
	out, err := childCommand(t.Name(), env...).CombinedOutput()
	return string(out), err
}

// buffers is the fixture of the tests of bad frees: buffers live in an
// Allocator, each filled with the pattern of its index; buffers it
// allocated and freed, whose slots are not handed out again (a small one
// keeps live neighbours in its slab, a large one is unmapped or retired);
// and buffers of another Allocator, live there.
type buffers struct {
	live, freed, foreign [][]byte
}

// newBuffers allocates the fixture, in this order: live buffers of the
// sizes in live from a, each checked to be zeroed; buffers of the sizes
// in freed, allocated from a and freed; buffers of the sizes in foreign
// from other.
func newBuffers(t testing.TB, a, other *mmalloc.Allocator, live, freed, foreign []int) buffers {
	t.Helper()
	var f buffers
	for i, n := range live {
		b, err := a.Alloc(n)
		require.NoError(t, err)
		require.True(t, allZero(b), "Alloc(%d) is not zeroed", n)
		fill(b, uint64(i))
		f.live = append(f.live, b)
	}
	for _, n := range freed {
		b, err := a.Alloc(n)
		require.NoError(t, err)
		require.NoError(t, a.Free(b))
		f.freed = append(f.freed, b)
	}
	for _, n := range foreign {
		b, err := other.Alloc(n)
		require.NoError(t, err)
		f.foreign = append(f.foreign, b)
	}
	return f
}

// requireIntact fails the test if a live buffer of the fixture lost its
// pattern.
func (f buffers) requireIntact(t testing.TB) {
	t.Helper()
	for i, b := range f.live {
		require.Equal(t, -1, check(b, uint64(i)), "live buffer %d changed", i)
	}
}

// addrToPointer turns an address of mapped memory (never of the Go heap)
// into a pointer without the conversion vet warns about.
func addrToPointer(p uintptr) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(&p)) }

// verifyNoOverlap checks that no two live objects share a byte, up to cap.
func verifyNoOverlap(t *testing.T, objs []liveObj) {
	t.Helper()
	spans := make([][2]uintptr, len(objs))
	for i, o := range objs {
		spans[i] = [2]uintptr{addr(o.b), addr(o.b) + uintptr(cap(o.b))}
	}
	slices.SortFunc(spans, func(x, y [2]uintptr) int {
		switch {
		case x[0] < y[0]:
			return -1
		case x[0] > y[0]:
			return 1
		}
		return 0
	})
	for i := 1; i < len(spans); i++ {
		require.LessOrEqual(t, spans[i-1][1], spans[i][0], "live objects overlap")
	}
}
