package mmalloc_test

import (
	"bufio"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// procMapping is one line of /proc/self/maps: [lo, hi) and its name.
type procMapping struct {
	lo, hi uintptr
	name   string
}

// procMaps reads the process's mappings, in address order.
func procMaps(t testing.TB) []procMapping {
	f, err := os.Open("/proc/self/maps")
	require.NoError(t, err)
	defer f.Close()
	var ms []procMapping
	s := bufio.NewScanner(f)
	for s.Scan() {
		var m procMapping
		_, err := fmt.Sscanf(s.Text(), "%x-%x", &m.lo, &m.hi)
		require.NoError(t, err)
		if f := strings.Fields(s.Text()); len(f) >= 6 {
			m.name = f[5]
		}
		ms = append(ms, m)
	}
	require.NoError(t, s.Err())
	slices.SortFunc(ms, func(x, y procMapping) int {
		if x.lo < y.lo {
			return -1
		}
		return 1
	})
	return ms
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
	ms := procMaps(t)
	for _, m := range ms {
		if m.lo < base+chunk+pad && m.hi > base {
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
		lo, hi := max(ms[i].hi, base+chunk+pad), ms[i+1].lo
		if hi <= lo || hi-lo >= topGap || ms[i+1].name == "[stack]" {
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
