package mmalloc_test

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

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

// kernelMappings returns how many mappings (VMAs) the process has now,
// the lines of /proc/self/maps.
func kernelMappings(t *testing.T) int64 {
	t.Helper()
	data, err := os.ReadFile("/proc/self/maps")
	require.NoError(t, err)
	return int64(bytes.Count(data, []byte("\n")))
}

// vma is one line of /proc/self/maps.
type vma struct {
	lo, hi uintptr
	perms  string
	line   string
}

// vmasIn returns the mappings of /proc/self/maps that overlap [lo, hi).
func vmasIn(t *testing.T, lo, hi uintptr) []vma {
	t.Helper()
	data, err := os.ReadFile("/proc/self/maps")
	require.NoError(t, err)
	var out []vma
	for _, line := range strings.Split(string(data), "\n") {
		var m vma
		if _, err := fmt.Sscanf(line, "%x-%x %s", &m.lo, &m.hi, &m.perms); err != nil {
			continue
		}
		if m.lo < hi && lo < m.hi {
			m.line = line
			out = append(out, m)
		}
	}
	return out
}
