// Package parquetmem is a page buffer pool for parquet-go
// (github.com/parquet-go/parquet-go v0.32) whose buffers live outside the
// Go heap, in an mmalloc.Allocator. A parquet Writer buffers every page
// of every column before it writes them out; with this pool those bytes
// cost the garbage collector nothing, and each buffer's memory goes back
// to mmalloc the moment the Writer puts it back.
//
// A BufferPool has parquet-go's BufferPool methods — GetBuffer()
// io.ReadWriteSeeker and PutBuffer(io.ReadWriteSeeker) — so it satisfies
// that interface structurally, and this package imports nothing of
// parquet-go. To switch a writer:
//
//	w := parquet.NewGenericWriter[Row](f, parquet.ColumnPageBuffers(parquetmem.NewBufferPool(a)))
//
// # Buffers
//
// A Buffer grows in chunks and never copies what it holds: the first
// chunk is MinChunkBytes, each next one twice the last up to
// MaxChunkBytes, and every later one MaxChunkBytes, so that a small page
// costs 4 KiB and a large one a few chunks per 4 MiB. Chunks come from
// AllocUninit (the Buffer never reads a byte it has not written) and go
// back to mmalloc, all of them, when the Buffer is put back; a chunk of
// more than 128 KiB is a mapping of its own, whose untouched pages cost
// no memory. Read, Write, Seek, ReadFrom and WriteTo behave as parquet-go's
// own in-memory buffer: a Seek past the end stops at the end, a negative
// position is an error.
//
// A Buffer is for one goroutine at a time; the BufferPool is safe for
// concurrent use, as parquet-go requires. A Buffer used after PutBuffer
// returns ErrReleased from every call instead of touching freed memory,
// and a second PutBuffer of it does nothing.
package parquetmem

import (
	"errors"
	"fmt"
	"io"
	"math/bits"
	"sync/atomic"

	"github.com/mmalloc/mmalloc"
)

// Chunk sizes of a Buffer.
const (
	// MinChunkBytes is the first chunk of every Buffer: a page, the
	// smallest mmalloc slab object that is a whole page.
	MinChunkBytes = 4 << 10
	// MaxChunkBytes is where chunks stop doubling: a buffer of 100 MiB
	// takes 35 chunks, and its last one wastes at most 4 MiB of address
	// space (untouched, so no memory).
	MaxChunkBytes = 4 << 20

	// doublings is the index of the first MaxChunkBytes chunk.
	doublings = 10 // MinChunkBytes << doublings == MaxChunkBytes
	// doubledBytes is the room of the chunks before it.
	doubledBytes = MinChunkBytes * (1<<doublings - 1)
)

// ErrReleased: a Buffer was used after PutBuffer. It wraps mmalloc.ErrClosed.
var ErrReleased = fmt.Errorf("parquetmem: buffer was put back to its pool (%w)", mmalloc.ErrClosed)

// BufferPool hands out Buffers whose chunks come from one mmalloc
// Allocator. It keeps nothing itself: mmalloc keeps freed memory warm
// (Options.RetainBytes). It is safe for concurrent use. The zero
// BufferPool (and a nil one) is not usable: its Buffers' Writes return
// mmalloc.ErrUninitialized, and its PutBuffer does nothing. Make one with
// NewBufferPool.
type BufferPool struct {
	a *mmalloc.Allocator

	foreign atomic.Int64 // PutBuffer of a buffer this pool did not hand out
}

// NewBufferPool returns a BufferPool whose buffers' memory comes from a.
func NewBufferPool(a *mmalloc.Allocator) *BufferPool { return &BufferPool{a: a} }

// GetBuffer returns a new, empty Buffer, as an io.ReadWriteSeeker (its
// dynamic type is *Buffer). It allocates nothing off-heap until the
// first Write.
func (p *BufferPool) GetBuffer() io.ReadWriteSeeker { return &Buffer{pool: p} }

// PutBuffer frees every chunk of buf, a Buffer of this pool, and ends it.
// A buf that is not one of this pool's Buffers is ignored and counted
// (Foreign); a second PutBuffer of a Buffer does nothing.
func (p *BufferPool) PutBuffer(buf io.ReadWriteSeeker) {
	if p == nil {
		return
	}
	b, ok := buf.(*Buffer)
	if !ok || b == nil || b.pool != p {
		p.foreign.Add(1)
		return
	}
	b.release()
}

// Foreign returns how many PutBuffer calls passed a buffer this pool did
// not hand out.
func (p *BufferPool) Foreign() int64 {
	if p == nil {
		return 0
	}
	return p.foreign.Load()
}

// Buffer is a growable byte buffer in off-heap chunks, with a position
// for Read and Write. It is NOT safe for concurrent use.
type Buffer struct {
	pool   *BufferPool
	chunks [][]byte // chunk i has len chunkBytes(i)
	size   int64    // bytes written: the end
	off    int64    // position of the next Read or Write, <= size
	put    bool     // released by PutBuffer
}

// chunkBytes returns the size of chunk i.
func chunkBytes(i int) int {
	if i >= doublings {
		return MaxChunkBytes
	}
	return MinChunkBytes << i
}

// locate returns the chunk holding byte pos and the offset in it.
func locate(pos int64) (int, int) {
	if pos < doubledBytes {
		i := bits.Len64(uint64(pos/MinChunkBytes+1)) - 1
		return i, int(pos - MinChunkBytes*(1<<i-1))
	}
	q := pos - doubledBytes
	return doublings + int(q/MaxChunkBytes), int(q % MaxChunkBytes)
}

// Len returns the bytes written to the Buffer: the end Seek(0, io.SeekEnd)
// goes to.
func (b *Buffer) Len() int64 { return b.size }

// Write writes p at the position, growing the Buffer by whole chunks as
// needed, and moves the position past it. It fails only when mmalloc
// cannot give a chunk (mmalloc.ErrOutOfMemory, or the Allocator's
// ErrClosed), having written what fitted, or after PutBuffer
// (ErrReleased).
func (b *Buffer) Write(p []byte) (int, error) {
	if b.put {
		return 0, ErrReleased
	}
	n := 0
	for n < len(p) {
		c, err := b.room()
		if err != nil {
			return n, err
		}
		k := copy(c, p[n:])
		n += k
		b.advance(k)
	}
	return n, nil
}

// room returns the bytes of the chunk at the position, from it on,
// allocating the chunk if it is the next one.
func (b *Buffer) room() ([]byte, error) {
	i, o := locate(b.off)
	if i == len(b.chunks) {
		if b.pool == nil {
			return nil, mmalloc.ErrUninitialized
		}
		c, err := b.pool.a.AllocUninit(chunkBytes(i))
		if err != nil {
			return nil, fmt.Errorf("parquetmem: growing a buffer of %d bytes: %w", b.size, err)
		}
		b.chunks = append(b.chunks, c[:chunkBytes(i)])
	}
	return b.chunks[i][o:], nil
}

// advance moves the position k bytes on, past the end if it writes there.
func (b *Buffer) advance(k int) {
	b.off += int64(k)
	b.size = max(b.size, b.off)
}

// ReadFrom reads r until io.EOF straight into the Buffer's chunks at the
// position, as Write would, and returns the bytes read; io.EOF is not an
// error.
func (b *Buffer) ReadFrom(r io.Reader) (int64, error) {
	if b.put {
		return 0, ErrReleased
	}
	var total int64
	for {
		c, err := b.room()
		if err != nil {
			return total, err
		}
		k, err := r.Read(c)
		if k < 0 || k > len(c) {
			return total, fmt.Errorf("parquetmem: reader returned %d bytes for a read of %d", k, len(c))
		}
		total += int64(k)
		b.advance(k)
		if errors.Is(err, io.EOF) {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// Read reads from the position up to the end, at most one chunk's bytes
// per call, and moves the position on; at the end it returns io.EOF.
func (b *Buffer) Read(p []byte) (int, error) {
	if b.put {
		return 0, ErrReleased
	}
	if len(p) == 0 {
		return 0, nil
	}
	if b.off >= b.size {
		return 0, io.EOF
	}
	k := copy(p, b.readable())
	b.off += int64(k)
	return k, nil
}

// readable returns the written bytes of the chunk at the position, from
// it on; b.off < b.size.
func (b *Buffer) readable() []byte {
	i, o := locate(b.off)
	c := b.chunks[i][o:]
	if rest := b.size - b.off; int64(len(c)) > rest {
		c = c[:rest]
	}
	return c
}

// WriteTo writes the bytes from the position to the end to w, a chunk at
// a time, and moves the position on.
func (b *Buffer) WriteTo(w io.Writer) (int64, error) {
	if b.put {
		return 0, ErrReleased
	}
	var total int64
	for b.off < b.size {
		k, err := w.Write(b.readable())
		if k < 0 {
			k = 0
		}
		b.off += int64(k)
		total += int64(k)
		if err != nil {
			return total, err
		}
		if k == 0 {
			return total, io.ErrShortWrite
		}
	}
	return total, nil
}

// Seek sets the position, as parquet-go's in-memory buffer does: a
// position past the end stops at the end; a negative one, or an unknown
// whence, is an error and changes nothing.
func (b *Buffer) Seek(offset int64, whence int) (int64, error) {
	if b.put {
		return 0, ErrReleased
	}
	var pos int64
	switch whence {
	case io.SeekStart:
		pos = offset
	case io.SeekCurrent:
		pos = b.off + offset
	case io.SeekEnd:
		pos = b.size + offset
	default:
		return 0, fmt.Errorf("parquetmem: seek: invalid whence %d", whence)
	}
	if pos < 0 {
		return 0, fmt.Errorf("parquetmem: seek: negative position %d", pos)
	}
	b.off = min(pos, b.size)
	return b.off, nil
}

// release frees every chunk and ends the Buffer.
func (b *Buffer) release() {
	if b.put {
		return
	}
	b.put = true
	for i, c := range b.chunks {
		_ = b.pool.a.Free(c) // cannot fail: each chunk is live and this Buffer's alone
		b.chunks[i] = nil
	}
	b.chunks = nil
	b.size, b.off = 0, 0
}
