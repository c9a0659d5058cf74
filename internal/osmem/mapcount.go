// The kernel's bound on the number of a process's mappings. See osmem.go
// for the overview.

package osmem

import (
	"os"
	"strconv"
	"strings"
	"sync"
)

// DefaultMaxMapCount is the kernel's default vm.max_map_count: the most
// mappings (VMAs) one process may have. Past it every mmap, and every
// mprotect or munmap that splits a mapping, fails with ENOMEM, the Go
// runtime's included, which then dies of a fatal error.
const DefaultMaxMapCount = 65530

// maxMapCountPath is where the kernel publishes vm.max_map_count.
const maxMapCountPath = "/proc/sys/vm/max_map_count"

// MaxMapCount returns vm.max_map_count, read once from
// /proc/sys/vm/max_map_count; DefaultMaxMapCount if it cannot be read.
var MaxMapCount = sync.OnceValue(func() int64 { return readMaxMapCount(maxMapCountPath) })

// readMaxMapCount parses the file at path, which holds one positive
// number, or returns DefaultMaxMapCount.
func readMaxMapCount(path string) int64 {
	data, err := os.ReadFile(path)
	if err != nil {
		return DefaultMaxMapCount
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
	if err != nil || n <= 0 {
		return DefaultMaxMapCount
	}
	return n
}
