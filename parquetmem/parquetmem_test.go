package parquetmem_test

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"sync"
	"testing"
	"testing/iotest"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mmalloc/mmalloc"
	"github.com/mmalloc/mmalloc/parquetmem"
)

// bufferPool is parquet-go v0.32's BufferPool, spelled out: the package
// must satisfy it without importing parquet-go (the integration module
// checks it against parquet-go's own type).
type bufferPool interface {
	GetBuffer() io.ReadWriteSeeker
	PutBuffer(io.ReadWriteSeeker)
}

var _ bufferPool = (*parquetmem.BufferPool)(nil)

func newPool(t *testing.T, o mmalloc.Options) (*mmalloc.Allocator, *parquetmem.BufferPool) {
	t.Helper()
	a, err := mmalloc.New(o)
	require.NoError(t, err)
	t.Cleanup(func() { _ = a.Close() })
	return a, parquetmem.NewBufferPool(a)
}

func data(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 7))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// TestWriteReadSeek: what is written in pieces of every size, across
// chunk boundaries, reads back whole through Read, WriteTo and iotest's
// reader checks, from any position; overwrites in the middle keep the
// rest; every chunk goes back at PutBuffer.
func TestWriteReadSeek(t *testing.T) {
	for _, o := range []mmalloc.Options{{}, {Guard: true}} {
		a, pool := newPool(t, o)
		for _, total := range []int{0, 1, 4095, 4096, 4097, 12288, 100 << 10, 3<<20 + 17, 9 << 20} {
			want := data(total, uint64(total))
			buf := pool.GetBuffer()
			r := rand.New(rand.NewPCG(uint64(total), 1))
			for off := 0; off < total; {
				k := min(total-off, 1+r.IntN(70<<10))
				n, err := buf.Write(want[off : off+k])
				require.NoError(t, err)
				require.Equal(t, k, n)
				off += k
			}
			end, err := buf.Seek(0, io.SeekEnd)
			require.NoError(t, err)
			require.Equal(t, int64(total), end)
			_, err = buf.Seek(0, io.SeekStart)
			require.NoError(t, err)
			require.NoError(t, iotest.TestReader(buf, want), "%d bytes", total)
			var out bytes.Buffer
			_, err = buf.Seek(0, io.SeekStart)
			require.NoError(t, err)
			n, err := buf.(io.WriterTo).WriteTo(&out)
			require.NoError(t, err)
			require.Equal(t, int64(total), n)
			require.True(t, bytes.Equal(want, out.Bytes()))
			if total > 10 {
				// Overwrite across the middle, then extend past the end.
				mid := int64(total / 2)
				_, err = buf.Seek(mid-5, io.SeekStart)
				require.NoError(t, err)
				_, err = buf.Write([]byte("0123456789"))
				require.NoError(t, err)
				copy(want[mid-5:], "0123456789")
				_, err = buf.Seek(0, io.SeekEnd)
				require.NoError(t, err)
				_, err = buf.Write([]byte("tail"))
				require.NoError(t, err)
				want = append(want, "tail"...)
				_, err = buf.Seek(0, io.SeekStart)
				require.NoError(t, err)
				got, err := io.ReadAll(buf)
				require.NoError(t, err)
				require.True(t, bytes.Equal(want, got), "%d bytes after overwrites", total)
			}
			pool.PutBuffer(buf)
			assert.Zero(t, a.Stats().Live, "PutBuffer frees every chunk (%d bytes)", total)
		}
		require.NoError(t, a.CheckGuards())
	}
}

// TestGrowthDoesNotCopy: a chunk never moves once written: the first
// chunk stays at its address while the Buffer grows to 40 MiB, and the
// number of chunks is what the doubling-then-fixed geometry gives.
func TestGrowthDoesNotCopy(t *testing.T) {
	a, pool := newPool(t, mmalloc.Options{})
	buf := pool.GetBuffer().(*parquetmem.Buffer)
	_, err := buf.Write([]byte("first"))
	require.NoError(t, err)
	first := firstChunkAddr(t, buf)
	piece := make([]byte, 1<<20)
	for range 40 {
		_, err := buf.Write(piece)
		require.NoError(t, err)
	}
	assert.Equal(t, first, firstChunkAddr(t, buf), "the first chunk did not move")
	size := 40<<20 + 5
	assert.Equal(t, int64(size), buf.Len())
	// Chunks: 4 KiB doubling to 2 MiB (10 chunks, 4 MiB - 4 KiB), then 4 MiB each.
	wantChunks := 10 + (size-(parquetmem.MaxChunkBytes-parquetmem.MinChunkBytes)+parquetmem.MaxChunkBytes-1)/parquetmem.MaxChunkBytes
	assert.Equal(t, int64(wantChunks), a.Stats().Live)
	pool.PutBuffer(buf)
	assert.Zero(t, a.Stats().Live)
}

// firstChunkAddr returns the address of the Buffer's first byte: the
// first slice WriteTo hands its writer.
func firstChunkAddr(t *testing.T, b *parquetmem.Buffer) uintptr {
	t.Helper()
	pos, err := b.Seek(0, io.SeekCurrent)
	require.NoError(t, err)
	_, err = b.Seek(0, io.SeekStart)
	require.NoError(t, err)
	var at uintptr
	_, err = b.WriteTo(writerFunc(func(p []byte) (int, error) {
		if at == 0 {
			at = uintptr(unsafe.Pointer(unsafe.SliceData(p)))
		}
		return len(p), nil
	}))
	require.NoError(t, err)
	_, err = b.Seek(pos, io.SeekStart)
	require.NoError(t, err)
	return at
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// TestSeek: positions past the end stop at the end, negative ones and
// unknown whences fail and change nothing.
func TestSeek(t *testing.T) {
	_, pool := newPool(t, mmalloc.Options{})
	buf := pool.GetBuffer()
	defer pool.PutBuffer(buf)
	_, err := buf.Write([]byte("0123456789ABCDEF"))
	require.NoError(t, err)
	for _, tc := range []struct {
		off    int64
		whence int
		want   int64
	}{{0, io.SeekStart, 0}, {5, io.SeekStart, 5}, {3, io.SeekCurrent, 8}, {100, io.SeekStart, 16}, {-4, io.SeekEnd, 12}, {7, io.SeekEnd, 16}} {
		got, err := buf.Seek(tc.off, tc.whence)
		require.NoError(t, err)
		assert.Equal(t, tc.want, got)
	}
	for _, tc := range []struct {
		off    int64
		whence int
	}{{-1, io.SeekStart}, {-17, io.SeekEnd}, {0, 42}} {
		_, err := buf.Seek(tc.off, tc.whence)
		assert.Error(t, err)
		pos, _ := buf.Seek(0, io.SeekCurrent)
		assert.Equal(t, int64(16), pos, "a refused Seek changes nothing")
	}
}

// TestAfterPut: a Buffer used after PutBuffer returns ErrReleased and
// touches nothing; a second PutBuffer and a foreign one change nothing.
func TestAfterPut(t *testing.T) {
	a, pool := newPool(t, mmalloc.Options{})
	buf := pool.GetBuffer()
	_, err := buf.Write(make([]byte, 10000))
	require.NoError(t, err)
	pool.PutBuffer(buf)
	pool.PutBuffer(buf)
	assert.Zero(t, a.Stats().Live)
	_, err = buf.Write([]byte("x"))
	assert.ErrorIs(t, err, parquetmem.ErrReleased)
	assert.ErrorIs(t, err, mmalloc.ErrClosed)
	_, err = buf.Read(make([]byte, 1))
	assert.ErrorIs(t, err, parquetmem.ErrReleased)
	_, err = buf.Seek(0, io.SeekStart)
	assert.ErrorIs(t, err, parquetmem.ErrReleased)
	_, err = buf.(io.ReaderFrom).ReadFrom(bytes.NewReader([]byte("x")))
	assert.ErrorIs(t, err, parquetmem.ErrReleased)
	assert.Zero(t, a.Stats().Live)

	other := parquetmem.NewBufferPool(a)
	pool.PutBuffer(other.GetBuffer())
	pool.PutBuffer(nil)
	assert.Equal(t, int64(2), pool.Foreign())
}

// TestOutOfMemory: a Write that mmalloc cannot give a chunk for writes
// what fits and returns ErrOutOfMemory; PutBuffer frees what it got.
func TestOutOfMemory(t *testing.T) {
	a, pool := newPool(t, mmalloc.Options{Limit: 8 << 20, ChunkSize: 1 << 20})
	buf := pool.GetBuffer()
	n, err := buf.Write(make([]byte, 64<<20))
	assert.ErrorIs(t, err, mmalloc.ErrOutOfMemory)
	assert.Positive(t, n)
	assert.Less(t, n, 8<<20)
	end, _ := buf.Seek(0, io.SeekEnd)
	assert.Equal(t, int64(n), end, "what was written is there")
	pool.PutBuffer(buf)
	assert.Zero(t, a.Stats().Live)

	var zero parquetmem.BufferPool
	_, err = zero.GetBuffer().Write([]byte("x"))
	assert.ErrorIs(t, err, mmalloc.ErrUninitialized)
}

// TestReadFrom: ReadFrom fills the chunks straight from a reader, across
// boundaries, and passes on the reader's error.
func TestReadFrom(t *testing.T) {
	a, pool := newPool(t, mmalloc.Options{})
	want := data(5<<20+3, 5)
	buf := pool.GetBuffer()
	n, err := buf.(io.ReaderFrom).ReadFrom(iotest.HalfReader(bytes.NewReader(want)))
	require.NoError(t, err)
	require.Equal(t, int64(len(want)), n)
	_, err = buf.Seek(0, io.SeekStart)
	require.NoError(t, err)
	got, err := io.ReadAll(buf)
	require.NoError(t, err)
	require.True(t, bytes.Equal(want, got))
	boom := errors.New("boom")
	_, err = buf.(io.ReaderFrom).ReadFrom(iotest.ErrReader(boom))
	assert.ErrorIs(t, err, boom)
	pool.PutBuffer(buf)
	assert.Zero(t, a.Stats().Live)
}

// TestConcurrentBuffers: goroutines each use their own Buffers of one pool.
func TestConcurrentBuffers(t *testing.T) {
	a, pool := newPool(t, mmalloc.Options{})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				want := data(1+(g*7919+i*104729)%(300<<10), uint64(g*100+i))
				buf := pool.GetBuffer()
				_, err := buf.Write(want)
				assert.NoError(t, err)
				_, _ = buf.Seek(0, io.SeekStart)
				got, err := io.ReadAll(buf)
				assert.NoError(t, err)
				assert.True(t, bytes.Equal(want, got))
				pool.PutBuffer(buf)
			}
		}()
	}
	wg.Wait()
	assert.Zero(t, a.Stats().Live)
}

// TestNil: a nil pool's PutBuffer does nothing, and a Buffer of no pool
// refuses to grow.
func TestNil(t *testing.T) {
	var p *parquetmem.BufferPool
	assert.NotPanics(t, func() { p.PutBuffer(nil) })
	assert.Zero(t, p.Foreign())
	_, err := new(parquetmem.Buffer).Write([]byte("x"))
	assert.ErrorIs(t, err, mmalloc.ErrUninitialized)
}
