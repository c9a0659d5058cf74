package mmalloc_test

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"testing/iotest"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mmalloc/mmalloc"
)

func randBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// TestBufferIORoundTrips copies data in with io.Copy (ReadFrom) and out with
// io.Copy (WriteTo), through readers that hand out a byte, half a request,
// or data with the error, and checks the Buffer as an io.Reader.
func TestBufferIORoundTrips(t *testing.T) {
	a := newAlloc(t, mmalloc.Options{RetainBytes: mmalloc.NoRetain})
	r := rand.New(rand.NewPCG(1, 2))
	readers := map[string]func(io.Reader) io.Reader{
		"plain":    func(r io.Reader) io.Reader { return r },
		"one byte": iotest.OneByteReader,
		"half":     iotest.HalfReader,
		"data+EOF": iotest.DataErrReader,
	}
	for _, n := range []int{0, 1, 63, 64, 65, 511, 512, 513, 4096, 100_000, threshold + 1, 3 * mib} {
		data := randBytes(r, n)
		for name, wrap := range readers {
			if name == "one byte" && n > 100_000 {
				continue
			}
			t.Run(fmt.Sprintf("%s/n=%d", name, n), func(t *testing.T) {
				buf := mmalloc.NewBuffer(a)
				defer buf.Free()
				got, err := io.Copy(buf, wrap(bytes.NewReader(data)))
				require.NoError(t, err)
				require.Equal(t, int64(n), got)
				require.Equal(t, n, buf.Len())
				require.True(t, bytes.Equal(data, buf.Bytes()))

				var out bytes.Buffer
				got, err = io.Copy(&out, buf)
				require.NoError(t, err)
				require.Equal(t, int64(n), got)
				require.True(t, bytes.Equal(data, out.Bytes()))
				assert.Zero(t, buf.Len())

				_, err = buf.Write(data)
				require.NoError(t, err)
				require.NoError(t, iotest.TestReader(buf, data))
			})
		}
	}
	require.NoError(t, a.Validate())
	assert.Zero(t, a.Stats().Live)
}

// bufOp is one step applied to a bytes.Buffer and a Buffer alike; it
// returns what the caller would observe.
type bufOp struct {
	name string
	std  func(*bytes.Buffer) string
	off  func(*mmalloc.Buffer) string
}

func op(name string, std func(*bytes.Buffer) string, off func(*mmalloc.Buffer) string) bufOp {
	return bufOp{name, std, off}
}

func show(n int, err error) string { return fmt.Sprintf("%d %v", n, err) }

var (
	opState = op("state",
		func(b *bytes.Buffer) string { return fmt.Sprintf("len %d %q", b.Len(), b.String()) },
		func(b *mmalloc.Buffer) string { return fmt.Sprintf("len %d %q", b.Len(), b.String()) })
	opWriteHello = op("WriteString hello",
		func(b *bytes.Buffer) string { return show(b.WriteString("hello")) },
		func(b *mmalloc.Buffer) string { return show(b.WriteString("hello")) })
	opWriteBig = op("Write 5000 bytes",
		func(b *bytes.Buffer) string { return show(b.Write(bytes.Repeat([]byte("xyz"), 5000/3))) },
		func(b *mmalloc.Buffer) string { return show(b.Write(bytes.Repeat([]byte("xyz"), 5000/3))) })
	opWriteByte = op("WriteByte",
		func(b *bytes.Buffer) string { return fmt.Sprint(b.WriteByte('!')) },
		func(b *mmalloc.Buffer) string { return fmt.Sprint(b.WriteByte('!')) })
	opWriteRune = op("WriteRune",
		func(b *bytes.Buffer) string { return show(b.WriteRune('€')) },
		func(b *mmalloc.Buffer) string { return show(b.WriteRune('€')) })
	opRead3 = op("Read 3",
		func(b *bytes.Buffer) string {
			p := make([]byte, 3)
			n, err := b.Read(p)
			return show(n, err) + string(p[:n])
		},
		func(b *mmalloc.Buffer) string {
			p := make([]byte, 3)
			n, err := b.Read(p)
			return show(n, err) + string(p[:n])
		})
	opRead0 = op("Read into empty slice",
		func(b *bytes.Buffer) string { return show(b.Read(nil)) },
		func(b *mmalloc.Buffer) string { return show(b.Read(nil)) })
	opReadByte = op("ReadByte",
		func(b *bytes.Buffer) string { c, err := b.ReadByte(); return fmt.Sprint(c, err) },
		func(b *mmalloc.Buffer) string { c, err := b.ReadByte(); return fmt.Sprint(c, err) })
	opNext2 = op("Next 2",
		func(b *bytes.Buffer) string { return string(b.Next(2)) },
		func(b *mmalloc.Buffer) string { return string(b.Next(2)) })
	opNextAll = op("Next 1<<20",
		func(b *bytes.Buffer) string { return fmt.Sprint(len(b.Next(1 << 20))) },
		func(b *mmalloc.Buffer) string { return fmt.Sprint(len(b.Next(1 << 20))) })
	opTruncate2 = op("Truncate 2",
		func(b *bytes.Buffer) string { b.Truncate(2); return "" },
		func(b *mmalloc.Buffer) string { return errString(b.Truncate(2)) })
	opReset = op("Reset",
		func(b *bytes.Buffer) string { b.Reset(); return "" },
		func(b *mmalloc.Buffer) string { b.Reset(); return "" })
	opGrow = op("Grow 100 then no allocation for 100",
		func(b *bytes.Buffer) string { b.Grow(100); return fmt.Sprint(b.Available() >= 100) },
		func(b *mmalloc.Buffer) string {
			if err := b.Grow(100); err != nil {
				return err.Error()
			}
			return fmt.Sprint(b.Available() >= 100)
		})
	opWriteTo = op("WriteTo",
		func(b *bytes.Buffer) string {
			var s strings.Builder
			n, err := b.WriteTo(&s)
			return show(int(n), err) + s.String()
		},
		func(b *mmalloc.Buffer) string {
			var s strings.Builder
			n, err := b.WriteTo(&s)
			return show(int(n), err) + s.String()
		})
	opReadFrom = op("ReadFrom",
		func(b *bytes.Buffer) string { n, err := b.ReadFrom(strings.NewReader("abc")); return show(int(n), err) },
		func(b *mmalloc.Buffer) string {
			n, err := b.ReadFrom(strings.NewReader("abc"))
			return show(int(n), err)
		})
	opBytes = op("Bytes",
		func(b *bytes.Buffer) string { return fmt.Sprintf("%q", b.Bytes()) },
		func(b *mmalloc.Buffer) string { return fmt.Sprintf("%q", b.Bytes()) })
)

func errString(err error) string {
	if err != nil {
		return err.Error()
	}
	return ""
}

// TestBufferLikeBytesBuffer runs sequences of calls on a bytes.Buffer and a
// Buffer and requires the same observations after every step.
func TestBufferLikeBytesBuffer(t *testing.T) {
	cases := []struct {
		name string
		ops  []bufOp
	}{
		{"empty", []bufOp{opState, opBytes, opRead3, opReadByte, opNext2, opRead0}},
		{"write then read in pieces", []bufOp{opWriteHello, opRead3, opState, opRead3, opRead3, opState}},
		{"read on empty gives EOF, then writes work", []bufOp{opRead3, opWriteHello, opReadByte, opState}},
		{"read of 0 bytes with data", []bufOp{opWriteHello, opRead0, opState}},
		{"bytes and runes", []bufOp{opWriteByte, opWriteRune, opWriteHello, opBytes, opReadByte, opState}},
		{"next", []bufOp{opWriteHello, opNext2, opNext2, opNext2, opNext2, opState}},
		{"next past the end", []bufOp{opWriteHello, opNextAll, opState}},
		{"truncate after reading", []bufOp{opWriteHello, opReadByte, opTruncate2, opState, opWriteHello, opState}},
		{"reset keeps working", []bufOp{opWriteBig, opReset, opState, opWriteHello, opState}},
		{"grow", []bufOp{opGrow, opWriteHello, opState}},
		{"write to drains", []bufOp{opWriteHello, opReadByte, opWriteTo, opState, opWriteTo}},
		{"read from appends", []bufOp{opWriteHello, opReadFrom, opState, opReadFrom, opBytes}},
		{"growth after reads keeps unread bytes", []bufOp{opWriteHello, opRead3, opWriteBig, opRead3, opState, opWriteBig, opWriteTo}},
		{"many growths", []bufOp{opWriteBig, opWriteBig, opWriteBig, opNext2, opWriteBig, opWriteTo, opState}},
	}
	a := newAlloc(t, mmalloc.Options{})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var std bytes.Buffer
			off := mmalloc.NewBuffer(a)
			defer off.Free()
			for i, o := range c.ops {
				require.Equal(t, o.std(&std), o.off(off), "step %d: %s", i, o.name)
			}
		})
	}
}

func TestBufferErrors(t *testing.T) {
	a := newAlloc(t, mmalloc.Options{Limit: 8 * mib})
	buf := mmalloc.NewBuffer(a)
	_, err := buf.WriteString("keep")
	require.NoError(t, err)
	before := a.Stats()
	assert.ErrorIs(t, buf.Grow(-1), mmalloc.ErrInvalidSize)
	assert.ErrorIs(t, buf.Grow(int(^uint(0)>>1)), mmalloc.ErrInvalidSize)
	assert.ErrorIs(t, buf.Truncate(5), mmalloc.ErrInvalidSize)
	assert.ErrorIs(t, buf.Truncate(-1), mmalloc.ErrInvalidSize)
	n, err := buf.Write(make([]byte, 9*mib))
	assert.ErrorIs(t, err, mmalloc.ErrOutOfMemory)
	assert.Zero(t, n)
	assert.Equal(t, "keep", buf.String())
	assert.Equal(t, before, a.Stats())

	_, err = buf.ReadFrom(iotest.ErrReader(io.ErrUnexpectedEOF))
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
	_, err = buf.WriteTo(errWriter{})
	assert.ErrorIs(t, err, io.ErrClosedPipe)
	assert.Equal(t, "keep", buf.String())
	_, err = buf.WriteTo(shortWriter{})
	assert.ErrorIs(t, err, io.ErrShortWrite)
	assert.Equal(t, "eep", buf.String())

	require.NoError(t, buf.Free())
	require.NoError(t, buf.Free(), "a second Free has nothing to give back")
	require.NoError(t, a.Close())
	_, err = buf.WriteString("x")
	assert.ErrorIs(t, err, mmalloc.ErrClosed)
}

type errWriter struct{}

func (errWriter) Write([]byte) (int, error) { return 0, io.ErrClosedPipe }

type shortWriter struct{}

func (shortWriter) Write(p []byte) (int, error) { return min(1, len(p)), nil }

// TestBufferZeroValue uses the Default allocator.
func TestBufferZeroValue(t *testing.T) {
	var buf mmalloc.Buffer
	_, err := buf.WriteString("default")
	require.NoError(t, err)
	assert.Equal(t, "default", buf.String())
	require.NoError(t, buf.Free())
	assert.Zero(t, buf.Len())
}

// TestBufferGrowthNoCopy writes 1 GiB (64 MiB with -short or -race; the
// Makefile's fullsize target runs it at 1 GiB) into a Buffer in 1 MiB
// writes: once past the large threshold every doubling is an mremap, so
// the bytes copied by growth stay below the threshold instead of adding
// up to the buffer's size, as bytes.Buffer's do. Free gives it all back.
func TestBufferGrowthNoCopy(t *testing.T) {
	total := claimSize(t, 1<<30, 64<<20)
	a := newAlloc(t, mmalloc.Options{RetainBytes: mmalloc.NoRetain})
	chunk := bytes.Repeat([]byte{0xA5}, mib)
	buf := mmalloc.NewBuffer(a)
	copied, remaps := mmalloc.ReallocCopiedBytes(), a.Remaps()
	start := time.Now()
	_, err := buf.Write(chunk[:100]) // start small: one move from a size class
	require.NoError(t, err)
	for written := 0; written < total; written += len(chunk) {
		_, err := buf.Write(chunk)
		require.NoError(t, err)
	}
	took := time.Since(start)
	require.Equal(t, total+100, buf.Len())
	growthCopied := mmalloc.ReallocCopiedBytes() - copied
	t.Logf("Buffer to %d MiB: %v, %d mremaps, %d bytes copied by growth", total>>20, took, a.Remaps()-remaps, growthCopied)
	assert.Equal(t, int64(100), growthCopied, "growth copied only the first, small buffer")
	assert.LessOrEqual(t, a.Remaps()-remaps, uint64(14), "one mremap per doubling")
	b := buf.Bytes()
	assert.Equal(t, byte(0xA5), b[0])
	assert.Equal(t, byte(0xA5), b[len(b)-1])
	assert.GreaterOrEqual(t, a.Stats().Mapped, int64(total))

	require.NoError(t, buf.Free())
	st := a.Stats()
	assert.Zero(t, st.Live)
	assert.Zero(t, st.Large.InUse, "Free unmaps a large buffer at once")
	assert.LessOrEqual(t, st.Mapped, int64(mmalloc.DefaultChunkBytes), "at most the chunk of the first, small buffer")
	require.NoError(t, a.Trim())
	assert.Zero(t, a.Stats().Mapped, "all returned")

	if !testing.Short() && total <= 64<<20 { // a figure for the log; at 1 GiB it costs the Go heap 2 GiB
		var std bytes.Buffer
		start = time.Now()
		for written := 0; written < total; written += len(chunk) {
			std.Write(chunk)
		}
		t.Logf("bytes.Buffer to %d MiB: %v", total>>20, time.Since(start))
	}
}

// BenchmarkBufferBuild builds a payload of each size in 4 KiB writes, per
// op: in a fresh buffer freed afterwards (mmalloc, bytes.Buffer: left to
// the GC; mmalloc-hugepages with Options.HugePages), and in one buffer
// reused with Reset (the -reset variants).
func BenchmarkBufferBuild(b *testing.B) {
	piece := bytes.Repeat([]byte{'x'}, 4*kib)
	a, err := mmalloc.New(mmalloc.Options{})
	require.NoError(b, err)
	defer a.Close()
	huge, err := mmalloc.New(mmalloc.Options{HugePages: true})
	require.NoError(b, err)
	defer huge.Close()
	write := func(w io.Writer, size int) {
		for n := 0; n < size; n += len(piece) {
			_, _ = w.Write(piece[:min(len(piece), size-n)])
		}
	}
	for _, size := range []int{1 * kib, 64 * kib, 1 * mib, 16 * mib, 64 * mib} {
		bench := func(name string, op func()) {
			b.Run(fmt.Sprintf("size=%s/%s", sizeName(size), name), func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(size))
				for b.Loop() {
					op()
				}
			})
		}
		bench("mmalloc", func() {
			buf := mmalloc.NewBuffer(a)
			write(buf, size)
			_ = buf.Free()
		})
		bench("mmalloc-hugepages", func() {
			buf := mmalloc.NewBuffer(huge)
			write(buf, size)
			_ = buf.Free()
		})
		bench("bytes.Buffer", func() {
			var buf bytes.Buffer
			write(&buf, size)
			benchSink = buf.Bytes()
		})
		reused := mmalloc.NewBuffer(a)
		bench("mmalloc-reset", func() {
			reused.Reset()
			write(reused, size)
		})
		_ = reused.Free()
		var std bytes.Buffer
		bench("bytes.Buffer-reset", func() {
			std.Reset()
			write(&std, size)
		})
	}
}

var benchSink []byte

func sizeName(n int) string {
	if n >= mib {
		return fmt.Sprintf("%dMiB", n/mib)
	}
	return fmt.Sprintf("%dKiB", n/kib)
}

// TestBufferRebuiltReusesMemory builds a large payload again and again, as
// a server does per request: after the first, no buffer maps memory, and
// every payload is intact.
func TestBufferRebuiltReusesMemory(t *testing.T) {
	a := newAlloc(t, mmalloc.Options{})
	chunk := bytes.Repeat([]byte("0123456789abcdef"), 256) // 4 KiB
	build := func(round int) {
		b := mmalloc.NewBuffer(a)
		for i := 0; i < 4096; i++ { // 16 MiB
			chunk[0] = byte(round + i)
			_, err := b.Write(chunk)
			require.NoError(t, err)
		}
		got := b.Bytes()
		require.Len(t, got, 16<<20)
		for i := 0; i < 4096; i++ {
			require.Equal(t, byte(round+i), got[i*4096], "round %d, write %d", round, i)
		}
		require.NoError(t, b.Free())
	}
	build(0)
	mm := a.Stats().Mmaps
	for round := 1; round < 4; round++ {
		build(round)
	}
	assert.Equal(t, mm, a.Stats().Mmaps, "later buffers refill the kept mapping")
	require.NoError(t, a.Trim())
	assert.Zero(t, a.Stats().Mapped)
}

// TestBufferAfterClose: once its Allocator is closed, a Buffer's memory
// is gone: every method that returns an error returns ErrClosed, the
// others report an empty Buffer, and nothing changes — in particular a
// Write into room the Buffer still has copies nothing into unmapped
// memory. It runs in a child process, since such a copy kills the process.
// TestEveryCallAtTheEdges covers methods added later.
func TestBufferAfterClose(t *testing.T) {
	inChild(t, func(t *testing.T) {
		a, err := mmalloc.New(mmalloc.Options{})
		require.NoError(t, err)
		withRoom := mmalloc.NewBuffer(a)
		_, err = withRoom.WriteString("some bytes, with room after them")
		require.NoError(t, err)
		require.Positive(t, withRoom.Available())
		large := mmalloc.NewBuffer(a)
		require.NoError(t, large.Grow(4*mib))
		_, err = large.Write(make([]byte, mib))
		require.NoError(t, err)
		unused := mmalloc.NewBuffer(a)
		require.NoError(t, a.Close())
		closed := a.Stats()

		for name, b := range map[string]*mmalloc.Buffer{"with room": withRoom, "large": large, "never written": unused} {
			t.Run(name, func(t *testing.T) {
				errCalls := map[string]func() error{
					"Write":       func() error { _, err := b.Write([]byte("x")); return err },
					"WriteString": func() error { _, err := b.WriteString("x"); return err },
					"WriteByte":   func() error { return b.WriteByte('x') },
					"WriteRune":   func() error { _, err := b.WriteRune('é'); return err },
					"Read":        func() error { _, err := b.Read(make([]byte, 4)); return err },
					"Read empty":  func() error { _, err := b.Read(nil); return err },
					"ReadByte":    func() error { _, err := b.ReadByte(); return err },
					"ReadFrom":    func() error { _, err := b.ReadFrom(strings.NewReader("abc")); return err },
					"WriteTo":     func() error { _, err := b.WriteTo(io.Discard); return err },
					"Grow":        func() error { return b.Grow(1) },
					"Grow 0":      func() error { return b.Grow(0) },
					"Grow -1":     func() error { return b.Grow(-1) },
					"Truncate":    func() error { return b.Truncate(0) },
					"Free":        b.Free,
				}
				for call, do := range errCalls {
					assert.ErrorIs(t, do(), mmalloc.ErrClosed, call)
				}
				b.Reset()
				assert.Zero(t, b.Len())
				assert.Zero(t, b.Cap())
				assert.Zero(t, b.Available())
				assert.Nil(t, b.Bytes())
				assert.Nil(t, b.Next(4))
				assert.Empty(t, b.String())
				assert.Equal(t, closed, a.Stats(), "nothing changed")
				assert.ErrorIs(t, b.Free(), mmalloc.ErrClosed, "still, after everything")
			})
		}
	})
}

type overReader struct{}

func (overReader) Read(p []byte) (int, error) { return len(p) + 1, nil }

type negWriter struct{}

func (negWriter) Write([]byte) (int, error) { return -1, nil }

// TestBufferImpossibleCountsAndRefusedGrowth: a reader or writer that
// reports a count it cannot have done gets ErrInvalidSize, and every
// writing method returns ErrOutOfMemory with nothing written when the
// Buffer cannot grow.
func TestBufferImpossibleCountsAndRefusedGrowth(t *testing.T) {
	// Limit bounds what is held: a slab's pages, 4 MiB of Buffer, not 8.
	a := newAlloc(t, mmalloc.Options{Limit: 8 * mib})
	buf := mmalloc.NewBuffer(a)
	_, err := buf.WriteString("keep")
	require.NoError(t, err)
	for name, r := range map[string]io.Reader{"negative": lyingReader{}, "more than offered": overReader{}} {
		_, err = buf.ReadFrom(r)
		assert.ErrorIs(t, err, mmalloc.ErrInvalidSize, name)
		assert.Equal(t, "keep", buf.String(), name)
	}
	_, err = buf.WriteTo(negWriter{})
	assert.ErrorIs(t, err, mmalloc.ErrInvalidSize)
	assert.Equal(t, "keep", buf.String())

	require.NoError(t, buf.Grow(4*mib)) // the next doubling passes the limit
	_, err = buf.Write(make([]byte, buf.Available()))
	require.NoError(t, err)
	full := buf.Len()
	before := a.Stats()
	for name, call := range map[string]func() error{
		"WriteString": func() error { _, err := buf.WriteString("x"); return err },
		"WriteByte":   func() error { return buf.WriteByte('x') },
		"WriteRune":   func() error { _, err := buf.WriteRune('x'); return err },
		"ReadFrom":    func() error { _, err := buf.ReadFrom(strings.NewReader("x")); return err },
	} {
		assert.ErrorIs(t, call(), mmalloc.ErrOutOfMemory, name)
		assert.Equal(t, full, buf.Len(), name)
	}
	// What the caller holds is unchanged; what is mapped may have
	// shrunk, since a refusal for Limit first gives back every byte held
	// beyond the live allocations (the per-P caches' slabs here).
	after := a.Stats()
	assert.Equal(t, before.Live, after.Live)
	assert.Equal(t, before.InUse, after.InUse)
	assert.Equal(t, before.Allocs, after.Allocs)
	assert.Equal(t, before.Frees, after.Frees)
	assert.Equal(t, before.Large, after.Large)
	assert.LessOrEqual(t, after.Held, before.Held)
	require.NoError(t, buf.Free())
}

// ownBuffer is what bytes.Buffer and Buffer share, for calls that hand a
// buffer its own memory.
type ownBuffer interface {
	io.ReadWriter
	io.StringWriter
	io.ReaderFrom
	io.WriterTo
	Bytes() []byte
	Next(n int) []byte
	Len() int
}

// ownMemoryCalls each give a buffer an argument that lies in its own
// memory, and return what the caller sees. Where a bytes.Buffer gets it
// wrong, std is the call it is given instead: the same, with a copy of
// the argument made at the call.
var ownMemoryCalls = []struct {
	name string
	do   func(b ownBuffer) string
	std  func(b ownBuffer) string
}{
	{name: "Write(Bytes())", do: func(b ownBuffer) string { return show(b.Write(b.Bytes())) }},
	{name: "Write(Bytes()) twice", do: func(b ownBuffer) string {
		n, err := b.Write(b.Bytes())
		return show(n, err) + "; " + show(b.Write(b.Bytes()))
	}},
	{name: "Write of the unread bytes' second half", do: func(b ownBuffer) string {
		p := b.Bytes()
		return show(b.Write(p[len(p)/2:]))
	}},
	{name: "Write of bytes just read (Next)", do: func(b ownBuffer) string { return show(b.Write(b.Next(b.Len() / 3))) }},
	{name: "Write of read and unread bytes together", do: func(b ownBuffer) string {
		p := b.Next(b.Len() / 4)
		return show(b.Write(p[:len(p)+b.Len()]))
	}},
	{name: "WriteString over Bytes()", do: func(b ownBuffer) string {
		p := b.Bytes()
		return show(b.WriteString(unsafe.String(unsafe.SliceData(p), len(p))))
	}},
	{name: "io.Copy(b, b)", do: func(b ownBuffer) string { n, err := io.Copy(b, b); return show(int(n), err) }},
	{name: "ReadFrom a reader over Bytes()", do: func(b ownBuffer) string {
		n, err := b.ReadFrom(bytes.NewReader(b.Bytes()))
		return show(int(n), err)
	}},
	{name: "ReadFrom a slow reader over Bytes()", do: func(b ownBuffer) string {
		r := iotest.HalfReader(bytes.NewReader(b.Bytes()))
		if b.Len() <= 64*kib {
			r = iotest.OneByteReader(bytes.NewReader(b.Bytes()))
		}
		n, err := b.ReadFrom(r)
		return show(int(n), err)
	}},
	{name: "ReadFrom a reader over bytes just read (Next)", do: func(b ownBuffer) string {
		n, err := b.ReadFrom(bytes.NewReader(b.Next(b.Len() / 2)))
		return show(int(n), err)
	}, std: func(b ownBuffer) string {
		// bytes.Buffer may slide its unread bytes over the ones read
		// before the reader has read them.
		n, err := b.ReadFrom(bytes.NewReader(bytes.Clone(b.Next(b.Len() / 2))))
		return show(int(n), err)
	}},
	{name: "ReadFrom the buffer itself, for 1.5 times its length", do: func(b ownBuffer) string {
		n, err := b.ReadFrom(io.LimitReader(b, int64(b.Len()+b.Len()/2)))
		return show(int(n), err)
	}},
	{name: "ReadFrom the buffer itself, read to its end", do: func(b ownBuffer) string {
		b.Next(b.Len())
		n, err := b.ReadFrom(io.LimitReader(b, 10))
		return show(int(n), err)
	}},
	{name: "Read into the unread bytes' second half", do: func(b ownBuffer) string {
		p := b.Bytes()
		n, err := b.Read(p[len(p)/2:])
		return show(n, err)
	}},
	{name: "Read into bytes just read (Next)", do: func(b ownBuffer) string {
		n, err := b.Read(b.Next(b.Len() / 3))
		return show(n, err)
	}},
}

// TestBufferOwnMemoryArguments hands a Buffer its own memory in every call
// that takes a slice, a string, a reader or a writer, and requires what a
// bytes.Buffer does with the same calls: the same results and the same
// bytes, at sizes from a slab's to past 1 MiB (where growth is an
// mremap), with read bytes in front or not, in every mode. Growing while
// reading the argument must not read memory already freed or unmapped: it
// runs in a child process, since reading unmapped memory kills the process.
func TestBufferOwnMemoryArguments(t *testing.T) {
	modes := []struct {
		name string
		o    mmalloc.Options
	}{
		{"default", mmalloc.Options{}},
		{"NoRetain", mmalloc.Options{RetainBytes: mmalloc.NoRetain}},
		{"Guard", mmalloc.Options{Guard: true}},
		{"Shared", mmalloc.Options{Shared: true}},
	}
	inChild(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(3, 4))
		for _, mode := range modes {
			t.Run(mode.name, func(t *testing.T) {
				a := newAlloc(t, mode.o)
				for _, n := range []int{100, 5000, 100 * kib, mib + 5} {
					data := randBytes(r, n+n/4)
					for _, readFirst := range []int{0, n / 4} {
						for _, call := range ownMemoryCalls {
							what := fmt.Sprintf("%s, %d bytes, %d read first", call.name, n, readFirst)
							var std bytes.Buffer
							off := mmalloc.NewBuffer(a)
							for _, b := range []ownBuffer{&std, off} {
								_, err := b.Write(data[:n+readFirst])
								require.NoError(t, err, what)
								b.Next(readFirst)
							}
							stdCall := call.do
							if call.std != nil {
								stdCall = call.std
							}
							require.Equal(t, stdCall(&std), call.do(off), what)
							require.Equal(t, std.Len(), off.Len(), what)
							require.True(t, bytes.Equal(std.Bytes(), off.Bytes()), what)
							// The buffer goes on working.
							_, err := off.Write(data[:10])
							require.NoError(t, err, what)
							std.Write(data[:10])
							require.True(t, bytes.Equal(std.Bytes(), off.Bytes()), what)
							require.NoError(t, off.Free(), what)
						}
					}
					require.NoError(t, a.Validate())
				}
				assert.Zero(t, a.Stats().Live)
				assert.NoError(t, a.CheckGuards())
			})
		}
	})
}

// TestBufferWriteReachingPastItsBytes: a Write of a slice that starts in
// the unread bytes and reaches into the free capacity after them (which
// only slicing past len can give) appends what that memory held at the
// call, though growing frees it.
func TestBufferWriteReachingPastItsBytes(t *testing.T) {
	inChild(t, func(t *testing.T) {
		for _, o := range []mmalloc.Options{{}, {Guard: true}} {
			a := newAlloc(t, o)
			for _, n := range []int{100, 100 * kib, 3 * mib} {
				buf := mmalloc.NewBuffer(a)
				require.NoError(t, buf.Grow(2*n))
				_, err := buf.Write(bytes.Repeat([]byte{'a'}, n))
				require.NoError(t, err)
				p := buf.Bytes()
				p = p[n/2 : cap(p)]
				for i := n / 2; i < len(p); i++ {
					p[i] = byte(i)
				}
				want := append(bytes.Clone(buf.Bytes()), p...)
				_, err = buf.Write(p)
				require.NoError(t, err)
				require.True(t, bytes.Equal(want, buf.Bytes()), "n=%d", n)
				require.NoError(t, buf.Free())
			}
			require.NoError(t, a.Validate())
			assert.Zero(t, a.Stats().Live)
		}
	})
}
