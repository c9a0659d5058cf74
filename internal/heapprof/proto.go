// A protocol buffer encoder: just what profile.proto needs. See doc.go.

package heapprof

// Wire types of the protocol buffer encoding.
const (
	wireVarint = 0
	wireBytes  = 2
)

// encoder appends protocol buffer fields to buf. Fields with the value 0,
// false or "" are left out, as proto3 does: a reader gets them back as
// their defaults. A submessage is written by starting it, writing its
// fields, and ending it, which moves them behind their length.
type encoder struct {
	buf    []byte
	starts []int // where each open submessage's fields begin
}

func (e *encoder) varint(x uint64) {
	for x >= 0x80 {
		e.buf = append(e.buf, byte(x)|0x80)
		x >>= 7
	}
	e.buf = append(e.buf, byte(x))
}

func (e *encoder) key(field, wire int) { e.varint(uint64(field)<<3 | uint64(wire)) }

func (e *encoder) uint64(field int, x uint64) {
	if x != 0 {
		e.key(field, wireVarint)
		e.varint(x)
	}
}

func (e *encoder) int64(field int, x int64) { e.uint64(field, uint64(x)) }

func (e *encoder) bool(field int, x bool) {
	if x {
		e.uint64(field, 1)
	}
}

func (e *encoder) string(field int, s string) {
	e.key(field, wireBytes)
	e.varint(uint64(len(s)))
	e.buf = append(e.buf, s...)
}

// packedUint64 writes xs as one packed repeated field.
func (e *encoder) packedUint64(field int, xs []uint64) {
	if len(xs) == 0 {
		return
	}
	e.start(field)
	for _, x := range xs {
		e.varint(x)
	}
	e.end()
}

func (e *encoder) packedInt64(field int, xs []int64) {
	if len(xs) == 0 {
		return
	}
	e.start(field)
	for _, x := range xs {
		e.varint(uint64(x))
	}
	e.end()
}

// start opens a length-delimited field: a submessage or a packed list.
func (e *encoder) start(field int) {
	e.key(field, wireBytes)
	e.starts = append(e.starts, len(e.buf))
}

// end closes the field start opened: its length goes before its bytes.
func (e *encoder) end() {
	at := e.starts[len(e.starts)-1]
	e.starts = e.starts[:len(e.starts)-1]
	n := len(e.buf) - at
	var tmp [10]byte
	k := 0
	for x := uint64(n); ; x >>= 7 {
		if x < 0x80 {
			tmp[k] = byte(x)
			k++
			break
		}
		tmp[k] = byte(x) | 0x80
		k++
	}
	e.buf = append(e.buf, tmp[:k]...)
	copy(e.buf[at+k:], e.buf[at:at+n])
	copy(e.buf[at:], tmp[:k])
}
