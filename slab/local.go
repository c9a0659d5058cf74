// Per-class stacks of free objects held by one cache. See doc.go.

package slab

import (
	"math/bits"

	"github.com/mmalloc/mmalloc/arena"
)

// stackBytes bounds the bytes of free objects one stack of a cache holds,
// and so what a cache keeps from the slabs: 64 KiB per class.
const stackBytes = 64 << 10

// maxStack and minStack bound a stack's length: 64 objects make a refill
// or a spill (half a stack, under the class lock) cost a few ns per object;
// two let an Alloc+Free pair of the largest class stay in the cache.
const (
	maxStack = 64
	minStack = 2
)

// MaxBatch is the most entries a refill or spill moves at once.
const MaxBatch = maxStack / 2

// StackLen returns the capacity of class c's stack: a power of two, so
// that refills (half a stack) fill whole groups of owner bits.
func StackLen(c int) int { return int(stackLens[c]) }

var stackLens = func() (lens [NumClasses]uint8) {
	for c := 1; c < NumClasses; c++ {
		n := max(minStack, stackBytes/ClassBytes(c))
		lens[c] = uint8(min(maxStack, 1<<(bits.Len(uint(n))-1)))
	}
	return lens
}()

// RefillBatch returns how many objects of class c a refill takes: half a
// stack.
func RefillBatch(c int) int { return max(1, StackLen(c)/2) }

// Stack is a LIFO of free objects of one class, with the class's counts
// beside it so that an operation touches one cache line of the Local.
type Stack struct {
	e      []Entry // fixed capacity StackLen(class); made on first use
	n      int
	allocs uint64 // allocations served by this cache
	frees  uint64 // frees taken by this cache
}

// Local is one cache: a stack per class and the cache's counters. A Local
// is not safe for concurrent use; its owner (a P while pinned, or the
// goroutine holding a Cache) serialises every access.
type Local struct {
	// The chunk of the last object freed here through the registry: Slab
	// finds the slabs of addresses in it without the registry.
	memo arena.Memo

	stacks [NumClasses]Stack
}

// Counts returns the allocations and frees of class c this cache served.
func (l *Local) Counts(c int) (allocs, frees uint64) {
	return l.stacks[c].allocs, l.stacks[c].frees
}

// CountAlloc counts an allocation of class c served outside Pop (the one
// handed out of a refill batch).
func (l *Local) CountAlloc(c int) { l.stacks[c].allocs++ }

// Remember makes Free look addresses in ch up without the registry.
func (l *Local) Remember(ch *arena.Chunk) { l.memo.Set(ch) }

// Object returns the slab and index of the object whose first byte is
// addr, when addr lies in the chunk l remembers and is an object's first
// byte; else nil, and the caller asks the registry (which also explains a
// refusal). It takes no lock; Slab.Claim then decides whether a caller
// holds the object.
func (l *Local) Object(addr uintptr) (s *Slab, i int) {
	if s = (*Slab)(l.memo.Owner(addr)); s != nil {
		j := s.rawIndex(addr)
		if j >= uint64(s.objects) {
			s = nil
		}
		i = int(j)
	}
	return s, i
}

// Prepare makes every stack now, so that no later call allocates: a Local
// used while its P is pinned must never allocate.
func (l *Local) Prepare() {
	for c := 1; c < NumClasses; c++ {
		if l.stacks[c].e == nil {
			l.stacks[c].e = make([]Entry, StackLen(c))
		}
	}
}

// Pop returns a free object of class c, if the stack has one.
func (l *Local) Pop(c int) (Entry, bool) {
	st := &l.stacks[c]
	if st.n == 0 {
		return Entry{}, false
	}
	st.n--
	st.allocs++
	return st.e[st.n], true
}

// Push adds a free object to its class's stack and reports false (doing
// nothing) when the stack is full.
func (l *Local) Push(e Entry) bool {
	c := int(e.s.class)
	st := &l.stacks[c]
	if st.n == len(st.e) {
		if st.e != nil {
			return false
		}
		st.e = make([]Entry, StackLen(c))
	}
	st.e[st.n] = e
	st.n++
	st.frees++
	return true
}

// Fill pushes entries (fresh from the Central) on class c's stack and
// returns how many fitted.
func (l *Local) Fill(c int, src []Entry) int {
	st := &l.stacks[c]
	if st.e == nil {
		st.e = make([]Entry, StackLen(c))
	}
	k := min(len(src), len(st.e)-st.n)
	copy(st.e[st.n:], src[:k])
	st.n += k
	return k
}

// Spill moves the older half of class c's stack into dst (at least
// MaxBatch long) and returns how many it moved.
func (l *Local) Spill(c int, dst []Entry) int {
	st := &l.stacks[c]
	k := min(st.n/2+st.n%2, len(dst))
	copy(dst, st.e[:k])
	copy(st.e, st.e[k:st.n])
	st.n -= k
	return k
}

// Drain moves every entry of class c into dst (which must hold Len(c))
// and empties the stack.
func (l *Local) Drain(c int, dst []Entry) int {
	st := &l.stacks[c]
	k := copy(dst, st.e[:st.n])
	clear(st.e[:st.n]) // drop the slab references
	st.n = 0
	return k
}

// Len returns how many free objects class c's stack holds.
func (l *Local) Len(c int) int { return l.stacks[c].n }
