package mmalloc_test

import (
	"bytes"
	"math/rand/v2"
	"os"
	"runtime/metrics"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"

	"github.com/mmalloc/mmalloc"
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

// rssBytes returns the process's resident set from /proc/self/statm.
func rssBytes(t testing.TB) int64 {
	t.Helper()
	data, err := os.ReadFile("/proc/self/statm")
	require.NoError(t, err)
	f := strings.Fields(string(data))
	pages, err := strconv.ParseInt(f[1], 10, 64)
	require.NoError(t, err)
	return pages * int64(os.Getpagesize())
}

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
// two readings of it, never two readings of rssBytes: the test's own
// Go-heap data (an index of a million slices is 23 MiB) would count as
// mmalloc's. A difference of offHeapRSS is off from mmalloc's growth only
// by how much the runtime's mapped but untouched pages changed; a lower
// bound (memory really touched) uses Allocator.Resident.
func offHeapRSS(t testing.TB) int64 {
	t.Helper()
	return rssBytes(t) - goRuntimeBytes()
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

func splitLines(s string) []string { return strings.Split(s, "\n") }

// scanField parses "Name:   123 kB" lines.
func scanField(line, name string) (int64, bool) {
	if !strings.HasPrefix(line, name) {
		return 0, false
	}
	f := strings.Fields(line[len(name):])
	if len(f) == 0 {
		return 0, false
	}
	n, err := strconv.ParseInt(f[0], 10, 64)
	return n, err == nil
}

// skipWithInvariants skips a test that measures what the invariants
// build's checks disturb (Go heap allocations, RSS).
func skipWithInvariants(t *testing.T, why string) {
	t.Helper()
	if mmalloc.Invariants {
		t.Skip("invariants build: " + why)
	}
}
