// Buffer: a growable byte buffer off the Go heap. See doc.go.

package mmalloc

import (
	"fmt"
	"io"
	"unicode/utf8"
	"unsafe"
)

// MinRead is the smallest free space Buffer.ReadFrom offers each Read, as
// bytes.MinRead.
const MinRead = 512

// minBufferBytes is the first allocation of a Buffer that grows from
// nothing: one cache line's worth of small size class.
const minBufferBytes = 64

// Buffer is a variable-sized byte buffer whose bytes live outside the Go
// heap, with the everyday surface of bytes.Buffer: Write, WriteString,
// WriteByte, WriteRune, Read, ReadByte, Next, ReadFrom, WriteTo, Bytes,
// String, Len, Cap, Available, Grow, Truncate, Reset. It grows through
// Realloc, so a large buffer doubles with mremap and no byte is copied.
//
// Unlike bytes.Buffer it never panics: a negative or oversized count returns
// ErrInvalidSize, a refused mapping ErrOutOfMemory. Its memory MUST be given
// back to its Allocator with Free (the garbage collector does not see it),
// after which the Buffer is empty and may be used again.
//
// The zero value is an empty Buffer allocating from the Default Allocator;
// NewBuffer chooses another. A Buffer is not safe for concurrent use and
// must not be copied. A slice returned by Bytes or Next is valid only until
// the next call that writes, grows, truncates, resets or frees.
//
// As with bytes.Buffer, an argument may be the Buffer's own memory: Write
// of a slice of Bytes or Next, WriteString of a string over them, Read
// into them, ReadFrom of a reader over them, WriteTo the Buffer itself
// (io.Copy(b, b)). Each does what it would do with a copy of those bytes
// made at the call. When such a write must grow the buffer, its bytes go
// to new memory and the old is freed once read: a copy where a Write from
// elsewhere would mremap.
//
// Once its Allocator is closed, the Buffer's memory is gone and the Buffer
// changes no more: every method that returns an error returns ErrClosed,
// Len, Cap and Available return 0, Bytes and Next nil, String "", and
// Reset does nothing. A nil *Buffer is the same but with ErrUninitialized
// (and String "<nil>", as bytes.Buffer's), and so is a Buffer of a nil or
// zero Allocator (NewBuffer of one) once it would allocate.
type Buffer struct {
	_ noCopy

	a   *Allocator // nil: Default()
	buf []byte     // an allocation of a (cap > 0) or nil; bytes are buf[off:]
	off int        // read position
}

// NewBuffer returns an empty Buffer that allocates from a (nil: Default).
func NewBuffer(a *Allocator) *Buffer { return &Buffer{a: a} }

// live returns nil if b may touch its memory, ErrUninitialized for a nil
// b (or one whose Allocator is not made by New), ErrClosed once b's
// Allocator is closed. Every method asks it first. A Buffer that has not
// allocated yet may have no Allocator: it has no memory to lose, and its
// first allocation reports the Default Allocator's state.
func (b *Buffer) live() error {
	if b == nil {
		return ErrUninitialized
	}
	if b.a != nil {
		return b.a.usable()
	}
	return nil
}

func (b *Buffer) allocator() *Allocator {
	if b.a == nil {
		b.a = Default()
	}
	return b.a
}

// Len returns the number of unread bytes.
func (b *Buffer) Len() int {
	if b.live() != nil {
		return 0
	}
	return len(b.buf) - b.off
}

// Cap returns the capacity of the buffer's memory.
func (b *Buffer) Cap() int {
	if b.live() != nil {
		return 0
	}
	return cap(b.buf)
}

// Available returns how many bytes can be written without growing.
func (b *Buffer) Available() int {
	if b.live() != nil {
		return 0
	}
	return cap(b.buf) - len(b.buf)
}

// Bytes returns the unread bytes. The slice aliases the buffer's off-heap
// memory: it is valid only until the next modification, and MUST NOT be
// used after Free.
func (b *Buffer) Bytes() []byte {
	if b.live() != nil {
		return nil
	}
	return b.buf[b.off:]
}

// String returns the unread bytes as a string, copied to the Go heap.
func (b *Buffer) String() string {
	if b == nil {
		return "<nil>"
	}
	if b.live() != nil {
		return ""
	}
	return string(b.buf[b.off:])
}

// Reset empties the buffer but keeps its memory for later writes.
func (b *Buffer) Reset() {
	if b.live() != nil {
		return
	}
	b.buf = b.buf[:0]
	b.off = 0
}

// Truncate discards all but the first n unread bytes, keeping the memory.
// n outside 0..Len() returns ErrInvalidSize and changes nothing.
func (b *Buffer) Truncate(n int) error {
	if err := b.live(); err != nil {
		return err
	}
	if n < 0 || n > b.Len() {
		return fmt.Errorf("%w: truncation to %d of %d bytes", ErrInvalidSize, n, b.Len())
	}
	if n == 0 {
		b.Reset()
		return nil
	}
	b.buf = b.buf[:b.off+n]
	return nil
}

// Grow makes room for n more bytes, so that the next n bytes written need
// no allocation. A negative n returns ErrInvalidSize.
func (b *Buffer) Grow(n int) error {
	if err := b.live(); err != nil {
		return err
	}
	if n < 0 {
		return fmt.Errorf("%w: Grow(%d)", ErrInvalidSize, n)
	}
	return b.grow(n)
}

// grow makes room for n >= 0 more bytes. Read bytes in front are dropped
// first (a copy of the unread ones, as bytes.Buffer does); then, if that
// is not enough, the memory at least doubles through realloc, which moves
// large buffers with mremap rather than copying them.
func (b *Buffer) grow(n int) error {
	if n <= cap(b.buf)-len(b.buf) {
		return nil
	}
	m := b.Len()
	if n > MaxAllocBytes-m {
		return fmt.Errorf("%w: %d bytes more than %d, above MaxAllocBytes (%d)", ErrInvalidSize, n, m, MaxAllocBytes)
	}
	if b.off > 0 {
		copy(b.buf, b.buf[b.off:])
		b.buf, b.off = b.buf[:m], 0
		if n <= cap(b.buf)-m {
			return nil
		}
	}
	want := b.grownBytes(m, n)
	a := b.allocator()
	var nb []byte
	var err error
	if cap(b.buf) <= a.threshold && want > a.threshold {
		// Going large: take the largest-enough freed mapping if one is
		// kept, so that a buffer built again and again refills resident
		// pages; the few bytes held so far are copied once.
		nb, err = a.allocGrowable(b.buf[:m], want)
	} else {
		nb, err = a.realloc(b.buf, want, false)
	}
	if err != nil {
		return err
	}
	b.buf = nb[:m]
	return nil
}

// grownBytes is the capacity a buffer of m unread bytes grows to for n
// more, when sliding them to the front does not make room: at least
// double, so that a buffer built by small writes copies or remaps each
// byte O(1) times.
func (b *Buffer) grownBytes(m, n int) int {
	want := max(2*cap(b.buf), m+n, minBufferBytes)
	if want > MaxAllocBytes {
		want = m + n
	}
	return want
}

// moveOut makes room for n >= 0 more bytes in new memory: it allocates,
// copies the unread bytes there, and returns the old allocation, still
// allocated and unchanged, for the caller to free once nothing reads it
// any more. The new memory is what grow would give: the same size if
// sliding the unread bytes would make room, else grownBytes.
func (b *Buffer) moveOut(n int) ([]byte, error) {
	m := b.Len()
	if n > MaxAllocBytes-m {
		return nil, fmt.Errorf("%w: %d bytes more than %d, above MaxAllocBytes (%d)", ErrInvalidSize, n, m, MaxAllocBytes)
	}
	want := cap(b.buf)
	if m+n > want {
		want = b.grownBytes(m, n)
	}
	nb, err := b.allocator().alloc(nil, want, false)
	if err != nil {
		return nil, err
	}
	copy(nb, b.buf[b.off:])
	old := b.buf
	b.buf, b.off = nb[:m], 0
	return old, nil
}

// overlaps reports whether the n bytes at p share memory with the
// buffer's allocation, up to its capacity.
func (b *Buffer) overlaps(p *byte, n int) bool {
	if n == 0 || cap(b.buf) == 0 {
		return false
	}
	lo := uintptr(unsafe.Pointer(unsafe.SliceData(b.buf)))
	q := uintptr(unsafe.Pointer(p))
	return q < lo+uintptr(cap(b.buf)) && lo < q+uintptr(n)
}

// appendOwn appends p, which lies in the buffer's own memory and does not
// fit after its bytes. grow would free or remap that memory, or slide
// bytes over p, before p is read: so the bytes move to new memory first,
// p is copied after them, and only then is the old memory freed. A Free
// that fails (only memory freed behind the Buffer's back can) is
// returned with p written.
func (b *Buffer) appendOwn(p []byte) (int, error) {
	old, err := b.moveOut(len(p))
	if err != nil {
		return 0, err
	}
	b.buf = append(b.buf, p...)
	return len(p), b.allocator().Free(old)
}

// Write appends p, growing the buffer as needed. It returns len(p) and nil,
// or 0 and the allocation's error with nothing written. p may lie in the
// buffer's own memory (see Buffer).
func (b *Buffer) Write(p []byte) (int, error) {
	if err := b.live(); err != nil {
		return 0, err
	}
	if len(p) > cap(b.buf)-len(b.buf) && b.overlaps(unsafe.SliceData(p), len(p)) {
		return b.appendOwn(p)
	}
	if err := b.grow(len(p)); err != nil {
		return 0, err
	}
	b.buf = append(b.buf, p...)
	return len(p), nil
}

// WriteString appends s, as Write; s may lie in the buffer's own memory
// (a string made with unsafe.String over Bytes, say).
func (b *Buffer) WriteString(s string) (int, error) {
	if err := b.live(); err != nil {
		return 0, err
	}
	if len(s) > cap(b.buf)-len(b.buf) && b.overlaps(unsafe.StringData(s), len(s)) {
		return b.appendOwn(unsafe.Slice(unsafe.StringData(s), len(s)))
	}
	if err := b.grow(len(s)); err != nil {
		return 0, err
	}
	b.buf = append(b.buf, s...)
	return len(s), nil
}

// WriteByte appends c.
func (b *Buffer) WriteByte(c byte) error {
	if err := b.live(); err != nil {
		return err
	}
	if err := b.grow(1); err != nil {
		return err
	}
	b.buf = append(b.buf, c)
	return nil
}

// WriteRune appends the UTF-8 encoding of r and returns its length.
func (b *Buffer) WriteRune(r rune) (int, error) {
	if err := b.live(); err != nil {
		return 0, err
	}
	if err := b.grow(utf8.UTFMax); err != nil {
		return 0, err
	}
	l := len(b.buf)
	b.buf = utf8.AppendRune(b.buf, r)
	return len(b.buf) - l, nil
}

// Read reads up to len(p) unread bytes into p. With nothing unread it
// empties the buffer (keeping its memory) and returns io.EOF, unless p is
// empty.
func (b *Buffer) Read(p []byte) (int, error) {
	if err := b.live(); err != nil {
		return 0, err
	}
	if b.Len() == 0 {
		b.Reset()
		if len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	n := copy(p, b.buf[b.off:])
	b.off += n
	return n, nil
}

// ReadByte reads one byte, or returns io.EOF.
func (b *Buffer) ReadByte() (byte, error) {
	if err := b.live(); err != nil {
		return 0, err
	}
	if b.Len() == 0 {
		b.Reset()
		return 0, io.EOF
	}
	c := b.buf[b.off]
	b.off++
	return c, nil
}

// Next returns the next n unread bytes (all of them if fewer) and marks
// them read. The slice aliases the buffer, as Bytes. A negative n returns
// an empty slice.
func (b *Buffer) Next(n int) []byte {
	if b.live() != nil {
		return nil
	}
	n = min(max(n, 0), b.Len())
	p := b.buf[b.off : b.off+n]
	b.off += n
	return p
}

// ReadFrom appends what r yields until io.EOF, growing the buffer so that
// each Read is offered at least MinRead bytes, and returns the bytes read.
// io.EOF is not an error; any other error of r, or of growing, is returned
// with the bytes read so far kept. A Read that reports a count it cannot
// have read (negative, or more than offered) returns ErrInvalidSize.
//
// r may read the buffer's own bytes as they are at the call (a
// bytes.Reader over Bytes or Next, or the Buffer itself): until ReadFrom
// returns, the memory they are in is neither freed, nor moved, nor written
// below its length. The first growth moves the unread bytes to new memory
// instead (moveOut), and the memory left behind is freed on return. r
// must not write to the Buffer.
func (b *Buffer) ReadFrom(r io.Reader) (total int64, err error) {
	if err := b.live(); err != nil {
		return 0, err
	}
	shown := len(b.buf) > 0 // r may be reading b's memory as it is now
	var left []byte         // that memory, once growth has left it
	defer func() {
		if left != nil {
			if ferr := b.allocator().Free(left); err == nil {
				err = ferr
			}
		}
	}()
	for {
		if MinRead > cap(b.buf)-len(b.buf) {
			var err error
			if shown && left == nil {
				left, err = b.moveOut(MinRead)
			} else {
				err = b.grow(MinRead)
			}
			if err != nil {
				return total, err
			}
		}
		l := len(b.buf)
		n, err := r.Read(b.buf[l:cap(b.buf)])
		if n < 0 || n > cap(b.buf)-l {
			return total, fmt.Errorf("%w: the reader returned an impossible count %d", ErrInvalidSize, n)
		}
		if len(b.buf) < l {
			// r read the Buffer itself to its end, and that Read
			// emptied it (starting it over): only what r read now is
			// unread.
			b.off = l
		}
		b.buf = b.buf[:l+n]
		total += int64(n)
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// WriteTo writes the unread bytes to w with one Write, marks what w took as
// read, and returns that count. A short write without an error returns
// io.ErrShortWrite, and an impossible count (negative, or more than
// offered) ErrInvalidSize. Once everything is written the buffer is empty
// (its memory kept).
func (b *Buffer) WriteTo(w io.Writer) (int64, error) {
	if err := b.live(); err != nil {
		return 0, err
	}
	m := b.Len()
	if m == 0 {
		b.Reset()
		return 0, nil
	}
	n, err := w.Write(b.buf[b.off:])
	if n < 0 || n > m {
		return 0, fmt.Errorf("%w: the writer returned an impossible count %d of %d", ErrInvalidSize, n, m)
	}
	b.off += n
	if err != nil {
		return int64(n), err
	}
	if n != m {
		return int64(n), io.ErrShortWrite
	}
	b.Reset()
	return int64(n), nil
}

// Free gives the buffer's memory back to its Allocator and empties the
// Buffer, which may be used again and will allocate anew. Slices from
// Bytes or Next MUST NOT be used after it. A second Free has nothing to
// give back and returns nil. After its Allocator's Close it returns
// ErrClosed and changes nothing.
func (b *Buffer) Free() error {
	if err := b.live(); err != nil {
		return err
	}
	if cap(b.buf) == 0 {
		b.buf, b.off = nil, 0
		return nil
	}
	err := b.allocator().Free(b.buf)
	b.buf, b.off = nil, 0
	return err
}
