// The lock-free filter Free checks before looking for a sample. See doc.go.

package heapprof

import (
	"math/bits"
	"sync/atomic"
	"unsafe"
)

const (
	// minFilterBits is the smallest filter: 8 KiB of bits, which stays in
	// the L1 cache of the core that frees.
	minFilterBits = 1 << 16

	// slotsPerSample bounds the filter's load: with at least 256 slots per
	// live sample, fewer than 1 in 256 frees of unsampled memory find their
	// bit set and take the lock for nothing.
	slotsPerSample = 256

	// granuleShift: addresses are hashed by 16-byte granule, the alignment
	// of every object of 16 bytes or more.
	granuleShift = 4
)

// filter is a bit per slot; slot(addr) hashes an address to one. Bits are
// read with atomic loads, without a lock, and set and cleared under
// Profile.mu; shift and words are read-only.
type filter struct {
	shift uint // 64 - log2(number of slots)
	words []atomic.Uint64
}

// newFilter returns an empty filter of n slots, a power of two of at least
// 64.
func newFilter(n int) *filter {
	return &filter{shift: uint(64 - bits.TrailingZeros(uint(n))), words: make([]atomic.Uint64, n/64)}
}

func (f *filter) bits() int { return len(f.words) * 64 }

// slot hashes addr's granule with a Fibonacci multiply, so that objects at
// the same offset of different slabs or chunks land in different slots.
// (The shifts are masked to 63, which they never pass, so that the
// compiler need not handle larger ones.)
func (f *filter) slot(addr uintptr) uint64 {
	return (uint64(addr>>granuleShift) * 0x9E3779B97F4A7C15) >> (f.shift & 63)
}

// has reports whether addr's slot bit is set. It is on every Free's path
// while samples are live, so it spares the bounds check: slot is below
// 64 × len(words) by construction.
func (f *filter) has(addr uintptr) bool {
	i := f.slot(addr)
	w := (*atomic.Uint64)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(f.words)), i/64*8))
	return w.Load()&(1<<(i&63)) != 0
}

// set sets bit i and reports whether it was clear.
func (f *filter) set(i uint64) bool {
	bit := uint64(1) << (i % 64)
	return f.words[i/64].Or(bit)&bit == 0
}

func (f *filter) clear(i uint64) { f.words[i/64].And(^uint64(1 << (i % 64))) }
