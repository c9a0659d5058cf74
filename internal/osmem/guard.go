// Guard pages: ranges made inaccessible so that a stray access faults.

package osmem

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Guard moves n bytes at p (page aligned, inside a mapping of this Source)
// from Ready to Guard: mprotect(PROT_NONE), so that any access faults. The
// bytes stay mapped and counted in Mapped. It may fail with ENOMEM (the
// kernel splits the mapping and may refuse a new one), wrapped in
// ErrNoMemory; test fault injection counts it as a mapping request.
func (s *Source) Guard(p unsafe.Pointer, n uintptr) error {
	if s.injected() {
		return fmt.Errorf("%w: mprotect of %d bytes: %w", ErrNoMemory, n, unix.ENOMEM)
	}
	_, err := s.refusal()
	if err == nil {
		err = unix.Mprotect(unsafe.Slice((*byte)(p), n), unix.PROT_NONE)
	}
	if err != nil {
		return fmt.Errorf("%w: mprotect of %d bytes: %w", ErrNoMemory, n, err)
	}
	return nil
}

// Retire moves a whole mapping of n bytes at p from Ready to Retired: its
// physical pages go back to the kernel (MADV_DONTNEED) and it becomes
// PROT_NONE, so that any access faults, while the address range stays
// reserved and no later mapping can land on it. It no longer counts in
// Mapped (it holds no memory); Drop unmaps it. If the kernel refuses the
// protection change, the range is unmapped at once instead and Retire
// reports false.
func (s *Source) Retire(p unsafe.Pointer, n uintptr) bool {
	s.Release(p, n)
	if err := unix.Mprotect(unsafe.Slice((*byte)(p), n), unix.PROT_NONE); err != nil {
		s.Unmap(p, n)
		return false
	}
	s.unaccount(n)
	return true
}

// Drop moves a Retired range from Retired to None with one munmap call.
func (s *Source) Drop(p unsafe.Pointer, n uintptr) {
	if s.space == nil || !s.unmapSpace(p, n) {
		s.munmap(p, n)
	}
}
