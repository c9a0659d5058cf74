// The live set: the address of each live sample and its bucket. See
// doc.go.

package heapprof

import "math/bits"

// minLiveSlots is the smallest table a liveSet keeps once it holds any
// sample.
const minLiveSlots = 8

// liveSet maps the address of each live sample to its bucket. It is an
// open-addressed table with linear probing, at most half full, so that a
// lookup reads one or two cache lines; a removal moves back the entries
// after it that would no longer be found (no tombstones). Address 0 marks
// an empty slot: no allocation is at 0. Not safe for concurrent use (see
// Profile.mu).
type liveSet struct {
	slots []liveSlot // a power of two of them, or none
	shift uint       // 64 - log2(len(slots))
	n     int        // entries
}

type liveSlot struct {
	addr uintptr
	b    *bucket
}

// home is the slot where addr's probe starts: a Fibonacci hash of its
// 16-byte granule.
func (s *liveSet) home(addr uintptr) uint {
	return uint((uint64(addr>>granuleShift) * 0x9E3779B97F4A7C15) >> s.shift)
}

// find returns the index of the slot holding addr, or of the empty one
// where it would go. The table is not empty.
func (s *liveSet) find(addr uintptr) uint {
	mask := uint(len(s.slots) - 1)
	i := s.home(addr)
	for s.slots[i].addr != addr && s.slots[i].addr != 0 {
		i = (i + 1) & mask
	}
	return i
}

// get returns addr's bucket, or nil.
func (s *liveSet) get(addr uintptr) *bucket {
	if s.n == 0 {
		return nil
	}
	return s.slots[s.find(addr)].b
}

// put sets addr's bucket to b and returns the bucket it replaced, or nil.
func (s *liveSet) put(addr uintptr, b *bucket) *bucket {
	if 2*(s.n+1) > len(s.slots) {
		s.resize(max(minLiveSlots, 2*len(s.slots)))
	}
	e := &s.slots[s.find(addr)]
	old := e.b
	if old == nil {
		s.n++
	}
	*e = liveSlot{addr, b}
	return old
}

// remove takes addr out and returns its bucket, or nil if it was not in.
func (s *liveSet) remove(addr uintptr) *bucket {
	if s.n == 0 {
		return nil
	}
	gap := s.find(addr)
	b := s.slots[gap].b
	if b == nil {
		return nil
	}
	s.n--
	// Close the gap: an entry further along the probe run moves into it
	// unless its home lies after the gap (cyclically), where a probe for
	// it starts past the gap anyway.
	mask := uint(len(s.slots) - 1)
	for i := (gap + 1) & mask; s.slots[i].addr != 0; i = (i + 1) & mask {
		if h := s.home(s.slots[i].addr); (i-h)&mask >= (i-gap)&mask {
			s.slots[gap] = s.slots[i]
			gap = i
		}
	}
	s.slots[gap] = liveSlot{}
	return b
}

// resize moves every entry into a table of n slots, a power of two more
// than twice the entries (or 0 for none).
func (s *liveSet) resize(n int) {
	old := s.slots
	s.slots, s.shift = nil, 0
	if n > 0 {
		s.slots = make([]liveSlot, n)
		s.shift = uint(64 - bits.TrailingZeros(uint(n)))
	}
	for _, e := range old {
		if e.addr != 0 {
			s.slots[s.find(e.addr)] = e
		}
	}
}

// fit resizes the table to its entries: the smallest power of two, of at
// least minLiveSlots, that holds them at most a quarter full; none for
// none.
func (s *liveSet) fit() {
	n := 0
	if s.n > 0 {
		n = minLiveSlots
		for 4*s.n > n {
			n *= 2
		}
	}
	s.resize(n)
}

// each calls f for every entry.
func (s *liveSet) each(f func(addr uintptr, b *bucket)) {
	for _, e := range s.slots {
		if e.addr != 0 {
			f(e.addr, e.b)
		}
	}
}

// clear empties the table, keeping its size.
func (s *liveSet) clear() {
	clear(s.slots)
	s.n = 0
}
