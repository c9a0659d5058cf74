// Registry of live chunks: address → *Chunk in O(1) without a lock.
// See doc.go for the overview.

package chunk

import (
	"sync"
	"sync/atomic"
)

const (
	// granuleShift is log2 of the registry's unit of address space. Chunks
	// are multiples of it and aligned to their own size, so one chunk owns
	// whole granules and a granule belongs to at most one chunk.
	granuleShift = 20 // 1 MiB
	// GranuleBytes is the smallest chunk size the registry can index.
	GranuleBytes = 1 << granuleShift

	// addrBits is the user address space the registry covers: x86-64 and
	// arm64 Linux hand out addresses below 2^47 unless asked for more.
	addrBits = 48
	l2Bits   = 14 // one leaf covers 2^(14+20) = 16 GiB of address space
	l1Bits   = addrBits - granuleShift - l2Bits

	l1Entries = 1 << l1Bits // 16384 roots: 128 KiB of pointers
	l2Entries = 1 << l2Bits // 16384 entries per leaf: 128 KiB, made on first use
)

type leaf [l2Entries]atomic.Pointer[Chunk]

// registry is process-wide so that any address can be classified, whichever
// allocator mapped it. Reads are atomic loads; writes happen with the owning
// Heap's lock held, and leaves are created under growMu.
var (
	registry [l1Entries]atomic.Pointer[leaf]
	growMu   sync.Mutex
)

// Lookup returns the live chunk that contains addr, or nil. It takes no lock.
// The result may be stale by the time it is used: callers confirm ownership
// under their own lock.
func Lookup(addr uintptr) *Chunk {
	if addr>>addrBits != 0 {
		return nil
	}
	l := registry[addr>>(granuleShift+l2Bits)].Load()
	if l == nil {
		return nil
	}
	return l[(addr>>granuleShift)&(l2Entries-1)].Load()
}

// register publishes c for every granule it covers. It reports false when
// the chunk lies outside the indexed address space.
func register(c *Chunk) bool {
	if (c.base+c.bytes-1)>>addrBits != 0 {
		return false
	}
	for g := c.base; g < c.base+c.bytes; g += GranuleBytes {
		i := g >> (granuleShift + l2Bits)
		l := registry[i].Load()
		if l == nil {
			growMu.Lock()
			if l = registry[i].Load(); l == nil {
				l = new(leaf)
				registry[i].Store(l)
			}
			growMu.Unlock()
		}
		l[(g>>granuleShift)&(l2Entries-1)].Store(c)
	}
	return true
}

// deregister removes c before its memory is unmapped.
func deregister(c *Chunk) {
	for g := c.base; g < c.base+c.bytes; g += GranuleBytes {
		l := registry[g>>(granuleShift+l2Bits)].Load()
		l[(g>>granuleShift)&(l2Entries-1)].CompareAndSwap(c, nil)
	}
}
