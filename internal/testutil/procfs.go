// Package testutil holds what the tests of several packages share and
// cannot import from one another's test files: the process's own figures
// as Linux reports them under /proc/self. Only tests import it.
package testutil

import (
	"cmp"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Mapping is one line of /proc/self/maps: the range [Lo, Hi), its
// protection as the kernel prints it ("rw-p", "---p"), its name (a path,
// "[heap]", "[stack]"; empty for an anonymous mapping) and the whole line.
type Mapping struct {
	Lo, Hi uintptr
	Perms  string
	Name   string
	Line   string
}

// Maps returns every mapping of the process, in address order. A line it
// cannot read fails the test.
func Maps(t testing.TB) []Mapping {
	t.Helper()
	data, err := os.ReadFile("/proc/self/maps")
	require.NoError(t, err)
	var ms []Mapping
	for _, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		m := Mapping{Line: line}
		_, err := fmt.Sscanf(line, "%x-%x %s", &m.Lo, &m.Hi, &m.Perms)
		require.NoError(t, err, "a line of /proc/self/maps: %q", line)
		if f := strings.Fields(line); len(f) >= 6 {
			m.Name = f[5]
		}
		ms = append(ms, m)
	}
	slices.SortFunc(ms, func(x, y Mapping) int { return cmp.Compare(x.Lo, y.Lo) })
	return ms
}

// MapsIn returns the mappings that overlap [lo, hi), in address order.
func MapsIn(t testing.TB, lo, hi uintptr) []Mapping {
	t.Helper()
	var out []Mapping
	for _, m := range Maps(t) {
		if m.Lo < hi && lo < m.Hi {
			out = append(out, m)
		}
	}
	return out
}

// Mapped reports whether some mapping of ms holds addr.
func Mapped(ms []Mapping, addr uintptr) bool {
	for _, m := range ms {
		if m.Lo <= addr && addr < m.Hi {
			return true
		}
	}
	return false
}

// Status returns a field of /proc/self/status that the kernel gives in kB
// (the process's virtual size, its resident set, their peaks), in bytes. A
// field that is missing or not a positive count of kB fails the test.
func Status(t testing.TB, field string) int64 {
	t.Helper()
	data, err := os.ReadFile("/proc/self/status")
	require.NoError(t, err)
	for _, line := range strings.Split(string(data), "\n") {
		name, value, ok := strings.Cut(line, ":")
		if !ok || name != field {
			continue
		}
		f := strings.Fields(value)
		require.Len(t, f, 2, "/proc/self/status: %q", line)
		require.Equal(t, "kB", f[1], "/proc/self/status: %q", line)
		kb, err := strconv.ParseInt(f[0], 10, 64)
		require.NoError(t, err, "/proc/self/status: %q", line)
		require.Positive(t, kb, "/proc/self/status: %q", line)
		return kb << 10
	}
	require.FailNow(t, "no field "+field+" in /proc/self/status")
	return 0
}

// RSS returns the process's resident set in bytes, from /proc/self/statm.
func RSS(t testing.TB) int64 {
	t.Helper()
	data, err := os.ReadFile("/proc/self/statm")
	require.NoError(t, err)
	f := strings.Fields(string(data))
	require.GreaterOrEqual(t, len(f), 2, "/proc/self/statm: %q", data)
	pages, err := strconv.ParseInt(f[1], 10, 64)
	require.NoError(t, err)
	return pages * int64(os.Getpagesize())
}
