// Resident pages: how much of a mapping is in RAM. See osmem.go for the
// overview.

package osmem

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// residentVecPages is how many pages one mincore call asks about: a vector
// of 16 Ki bytes on the Go heap covers 64 MiB of 4 KiB pages, so that a
// chunk or a typical large mapping is one call.
const residentVecPages = 16 << 10

// Resident counts the resident pages of mappings with mincore(2). A
// Resident is not safe for concurrent use: its vector is scratch space
// for one caller at a time.
type Resident struct {
	vec []byte // one byte per page asked about; bit 0 set: resident
}

// Count returns how many bytes of the n bytes at base (page aligned, Ready
// or Guard) are resident in RAM: pages written (or read, which maps the
// kernel's shared zero page) and not swapped out. It reads the page table
// only, never the memory, and changes nothing. A range that is not mapped
// (it was unmapped meanwhile) returns an error wrapping unix.ENOMEM.
func (r *Resident) Count(base, n uintptr) (uintptr, error) {
	if r.vec == nil {
		r.vec = make([]byte, residentVecPages)
	}
	var resident uintptr
	for off := uintptr(0); off < n; {
		step := min(n-off, uintptr(len(r.vec))*PageBytes)
		pages := (step + PageBytes - 1) / PageBytes
		if _, _, errno := unix.Syscall(unix.SYS_MINCORE, base+off, step, uintptr(unsafe.Pointer(&r.vec[0]))); errno != 0 {
			return resident, fmt.Errorf("osmem: mincore of %d bytes at %#x: %w", step, base+off, errno)
		}
		for _, v := range r.vec[:pages] {
			resident += uintptr(v & 1)
		}
		off += step
	}
	return resident * PageBytes, nil
}
