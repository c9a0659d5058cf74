// Package httpmem is a buffer pool for net/http/httputil.ReverseProxy
// whose buffers live outside the Go heap, in an mmalloc.Allocator. A
// proxy copies every response body through one such buffer per request;
// with this pool those buffers cost the garbage collector nothing.
//
// A BufferPool has httputil.BufferPool's methods, Get() []byte and
// Put([]byte), so it satisfies that interface structurally. To switch a
// proxy:
//
//	proxy.BufferPool = httpmem.NewBufferPool(a, 32<<10)
//
// Get allocates and Put frees: mmalloc's slabs and per-P caches are the
// pool, so nothing is kept on the Go heap and every buffer not in use is
// mmalloc's to reuse or give back.
package httpmem

import (
	"sync/atomic"

	"github.com/mmalloc/mmalloc"
)

// DefaultBufferBytes is the size of a buffer when NewBufferPool is given
// 0: 32 KiB, the size ReverseProxy allocates when it has no pool.
const DefaultBufferBytes = 32 << 10

// BufferPool hands out byte buffers of one size from an mmalloc
// Allocator. It is safe for concurrent use. The zero BufferPool is not
// usable (nor a nil one): its Get returns nil, which ReverseProxy replaces
// with a buffer of its own, and its Put does nothing. Make one with
// NewBufferPool.
type BufferPool struct {
	a    *mmalloc.Allocator
	size int

	failed atomic.Int64 // Gets that mmalloc refused
	bad    atomic.Int64 // Puts that mmalloc refused
}

// NewBufferPool returns a BufferPool of buffers of size bytes (0 or less
// means DefaultBufferBytes) from a.
func NewBufferPool(a *mmalloc.Allocator, size int) *BufferPool {
	if size <= 0 {
		size = DefaultBufferBytes
	}
	return &BufferPool{a: a, size: size}
}

// Get returns a buffer of the pool's size (len; cap is mmalloc's usable
// size), whose contents are unspecified, as a reused buffer's are. It
// MUST go back with Put. When mmalloc refuses (out of memory, closed),
// Get returns nil, which ReverseProxy replaces with a buffer of its own
// on the Go heap; Failed counts those.
func (p *BufferPool) Get() []byte {
	if p == nil {
		return nil
	}
	b, err := p.a.AllocUninit(p.size)
	if err != nil {
		p.failed.Add(1)
		return nil
	}
	return b
}

// Put frees b, a buffer Get returned. A b with cap 0 is ignored; one that
// mmalloc refuses (not from Get, or put back twice) changes nothing and
// is counted (BadPuts).
func (p *BufferPool) Put(b []byte) {
	if p == nil || cap(b) == 0 {
		return
	}
	if err := p.a.Free(b); err != nil {
		p.bad.Add(1)
	}
}

// Failed returns how many Gets mmalloc refused.
func (p *BufferPool) Failed() int64 {
	if p == nil {
		return 0
	}
	return p.failed.Load()
}

// BadPuts returns how many Puts mmalloc refused.
func (p *BufferPool) BadPuts() int64 {
	if p == nil {
		return 0
	}
	return p.bad.Load()
}
