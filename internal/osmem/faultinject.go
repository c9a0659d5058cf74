// Test-only fault injection: mapping requests made to fail on purpose, as
// the kernel or a limit would make them fail. See osmem.go.

package osmem

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// A mapping request is one call that can meet ENOMEM: Map, MapAligned, a
// growing Remap, or Guard. Requests are counted from the moment injection
// is armed, so that a test can count a workload's requests in a dry run
// (FailAfter(1<<62) fails none) and then fail each one in turn. Two
// injection points exist, so that both kinds of undo run:
//
//   - FailAfter(n): the n-th request fails before it accounts its bytes
//     against the limit, as a passed Limit makes it fail.
//   - FailSyscallsFrom(n): the n-th request accounts its bytes, and then
//     its kernel calls (mmap, mremap, mprotect), and every one after it,
//     are refused with ENOMEM until injection is disarmed, as a kernel out
//     of memory refuses them: the request must give its reservation back.
//     A request that tries again elsewhere (MapAligned's second mmap, a
//     retry after reclaiming) is refused again.

// FailAfter arms the first injection point: the n-th mapping request from
// now fails with ENOMEM before its reservation (n >= 1); n == 0 disarms
// either point. For tests only.
func (s *Source) FailAfter(n int64) {
	s.refusing.Store(false)
	s.failCount.Store(0)
	s.failAt.Store(n)
}

// FailSyscallsFrom arms the second injection point: from the n-th mapping
// request on (n >= 1), every kernel call that maps is refused with ENOMEM
// after the request's reservation, until FailAfter(0) disarms it. For
// tests only.
func (s *Source) FailSyscallsFrom(n int64) {
	s.FailAfter(-n)
}

// Requests returns how many mapping requests were counted since injection
// was armed (none while it is disarmed). For tests only.
func (s *Source) Requests() int64 { return s.failCount.Load() }

// injected counts a mapping request and reports whether it must fail
// before its reservation. The request FailSyscallsFrom chose turns the
// refusal of kernel calls on instead.
func (s *Source) injected() bool {
	at := s.failAt.Load()
	if at == 0 {
		return false
	}
	k := s.failCount.Add(1)
	if at < 0 {
		if k >= -at {
			s.refusing.Store(true)
		}
		return false
	}
	return k == at
}

// refusal returns ENOMEM, as the kernel would, when FailSyscallsFrom's
// request has been reached; the caller makes its kernel call only when
// it returns nil.
func (s *Source) refusal() (unsafe.Pointer, error) {
	if s.refusing.Load() {
		return nil, unix.ENOMEM
	}
	return nil, nil
}
