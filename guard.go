// Guard mode: a checked, locked path for every allocation, chosen by
// Options.Guard. See doc.go.

package mmalloc

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/mmalloc/mmalloc/internal/chunk"
	"github.com/mmalloc/mmalloc/internal/errs"
	"github.com/mmalloc/mmalloc/internal/invariants"
	"github.com/mmalloc/mmalloc/internal/osmem"
	"github.com/mmalloc/mmalloc/internal/slabs"
	"github.com/mmalloc/mmalloc/stats"
)

// ErrCorrupted: guard mode found bytes written where no caller may write —
// past the end of an object (reported by its Free or Realloc, or by
// CheckGuards), or into an object after its Free (reported by
// CheckGuards). The error names the object's address and size. Unlike the
// other errors of Free and Realloc, it comes after they have acted: the
// object is freed, and its memory is never handed out again.
var ErrCorrupted = errs.ErrCorrupted

// Bounds of what guard mode holds on to.
const (
	// GuardAlignBytes is the alignment of every object in guard mode. A
	// large object ends at its guard page rounded to it, so an overflow of
	// up to GuardAlignBytes-1 bytes lands in canary bytes (found on Free)
	// and anything further faults at once.
	GuardAlignBytes = 16

	// GuardQuarantineBytes bounds the freed small objects kept poisoned
	// before their slots are reused (first in, first out): the window in
	// which a write after free is caught is the last 4 MiB of small frees.
	GuardQuarantineBytes = 4 << 20

	// guardRetiredBytes and guardRetiredMappings bound the address space of
	// freed large mappings kept inaccessible (PROT_NONE, no memory) so that
	// no later mapping lands where a stale pointer still points. Address
	// space is cheap but each range costs the kernel a mapping entry
	// (vm.max_map_count is 65530 by default).
	guardRetiredBytes    = 1 << 30
	guardRetiredMappings = 1024

	// guardMaxReports bounds the corruption reports kept for CheckGuards.
	guardMaxReports = 64

	// guardMapsPerMapping is what one large mapping of guard mode costs
	// in kernel mappings (VMAs): its body and its guard page, which the
	// kernel cannot merge, while it is live. Retired, the whole mapping
	// is PROT_NONE and may take one; it is counted two all the same.
	guardMapsPerMapping = 2
)

// guardMaps counts the kernel mappings that guard mode's large mappings,
// live or retired, hold in the whole process: every guard Allocator
// shares the process's vm.max_map_count with the rest of the program.
// guardMapLimit bounds it. It moves under the mu of the guardState whose
// mapping it counts, and only by CompareAndSwap upward.
var guardMaps atomic.Int64

// guardMapLimitForTest, when positive, replaces guardMapLimit's bound
// (export_test.go).
var guardMapLimitForTest atomic.Int64

// guardMapLimit returns the most kernel mappings guard mode may hold in
// the process: half of vm.max_map_count (32765 of the default 65530, so
// at most 16382 large guarded objects, live or retired). The other half
// is left to the rest of the process: the Go runtime, whose heap growth
// dies of a fatal error when the kernel refuses it a mapping, the
// Allocators outside guard mode, and whatever else the program maps.
func guardMapLimit() int64 {
	if n := guardMapLimitForTest.Load(); n > 0 {
		return n
	}
	return osmem.MaxMapCount() / 2
}

// The patterns written into memory no caller may touch: canary after an
// object's end, poison over a freed slot. Each byte depends on its address,
// so that a copy of one object's bytes over another's does not pass.
const (
	canaryKey = 0xC3A5_5A3C_C3A5_5A3C
	poisonKey = 0xDEAD_F00D_DEAD_F00D
)

// guardObj is one live object of guard mode.
type guardObj struct {
	n uintptr // bytes requested: len and cap of the slice handed out

	// Small objects: the slot's chunk and class (its size is the class's).
	ch  *chunk.Chunk
	cls int

	// Large objects: the whole mapping, its last page the guard.
	base, mapped uintptr
}

// guardSlot is a freed small object in quarantine, or one retired forever.
type guardSlot struct {
	ch   *chunk.Chunk
	cls  int
	addr uintptr
	size uintptr
}

// guardState is guard mode's bookkeeping. It is safe for concurrent use:
// mu protects every field, and is taken before any class or heap lock.
//
// Invariants, checked by validate:
//
//	held[c] == quarantined objects of class c + retired (corrupted) slots of class c
//	qBytes == sum of the quarantine's slot sizes <= GuardQuarantineBytes
//	largeMapped == sum of the live large objects' mappings
//	largeInUse == sum of the live large objects' n; smallUse[c] == sum of class c's
type guardState struct {
	mu sync.Mutex

	live       map[uintptr]guardObj // first byte handed out → object
	quarantine []guardSlot          // freed small objects, oldest first
	qHead      int                  // quarantine[:qHead] have left
	qBytes     uintptr
	retired    []osmem.Span // freed large mappings kept PROT_NONE, oldest first
	rBytes     uintptr

	held      [slabs.ClassSlots]int64 // per class: slots out of the slabs but not live
	smallUse  [slabs.ClassSlots]int64 // per class: bytes of the live objects (len and cap of each)
	corrupted int64                   // corruptions found
	reports   []error                 // the first guardMaxReports of them

	largeLive               int64
	largeInUse              int64 // bytes of the live large objects (len and cap of each)
	largeMapped             int64
	largeAllocs, largeFrees uint64
}

func newGuard() *guardState { return &guardState{live: make(map[uintptr]guardObj)} }

// guardAlloc serves every Alloc in guard mode: 0 < n <= MaxAllocBytes.
//
// A request that fits a slab with at least one byte to spare takes a slot
// of the class of n+1; the bytes from n to the slot's end are canary. A
// larger one gets a mapping of its own whose last page is a guard page,
// the object placed to end at the guard rounded to GuardAlignBytes.
// Either way the slice handed out has cap == len == n.
func (a *Allocator) guardAlloc(n int, zero bool) ([]byte, error) {
	g := a.guard
	g.mu.Lock()
	defer g.mu.Unlock()
	if a.closed.Load() {
		return nil, ErrClosed
	}
	if n < a.threshold {
		return g.allocSmall(a, n, zero)
	}
	return g.allocLarge(a, n)
}

func (g *guardState) allocSmall(a *Allocator, n int, zero bool) ([]byte, error) {
	return g.allocSmallIn(a, n, slabs.ClassOf(n+1), zero)
}

// allocSmallIn serves n bytes from an object of class c, which holds at
// least n+1 (room for a canary byte). g.mu is held.
func (g *guardState) allocSmallIn(a *Allocator, n, c int, zero bool) ([]byte, error) {
	p, z, err := a.centrals[c].AllocOne()
	if err != nil {
		return nil, err
	}
	a.centrals[c].Publish(1, 0)
	b := objectCleared(p, c, slabs.ClassBytes(c), zero && !z)
	fillPattern(p+uintptr(n), uintptr(len(b)-n), canaryKey)
	g.live[p] = guardObj{n: uintptr(n), ch: chunk.Lookup(p), cls: c}
	g.smallUse[c] += int64(n)
	return b[:n:n], nil
}

func (g *guardState) allocLarge(a *Allocator, n int) ([]byte, error) {
	return g.allocLargeAt(a, n, GuardAlignBytes)
}

// allocLargeAt is allocLarge with the object's end at the guard page
// rounded down to align (a power of two, GuardAlignBytes to the page
// size): its start is a multiple of align, and the bytes from n to the
// guard are canary.
func (g *guardState) allocLargeAt(a *Allocator, n int, align uintptr) ([]byte, error) {
	page := osmem.PageBytes
	usable := (uintptr(n) + align - 1) &^ (align - 1)
	body := (usable + page - 1) &^ (page - 1)
	mapped := body + page
	if err := g.takeMaps(a); err != nil {
		return nil, err
	}
	p, err := a.src.Map(mapped)
	if err != nil {
		guardMaps.Add(-guardMapsPerMapping)
		return nil, err
	}
	guardPage := uintptr(p) + body
	if err := a.src.Guard(osmem.AddrPointer(guardPage), page); err != nil {
		a.src.Unmap(p, mapped)
		guardMaps.Add(-guardMapsPerMapping)
		return nil, err
	}
	start := guardPage - usable
	fillPattern(start+uintptr(n), usable-uintptr(n), canaryKey)
	g.live[start] = guardObj{n: uintptr(n), base: uintptr(p), mapped: mapped}
	g.largeLive++
	g.largeInUse += int64(n)
	g.largeMapped += int64(mapped)
	g.largeAllocs++
	return unsafe.Slice((*byte)(osmem.AddrPointer(start)), n), nil
}

// takeMaps counts one more large mapping in guardMaps, if the process's
// bound leaves room for it. If not, it unmaps this Allocator's retired
// mappings, oldest first, until there is room, and returns
// ErrOutOfMemory if there is none even without them. g.mu is held.
func (g *guardState) takeMaps(a *Allocator) error {
	limit := guardMapLimit()
	for {
		used := guardMaps.Load()
		if used+guardMapsPerMapping <= limit {
			if guardMaps.CompareAndSwap(used, used+guardMapsPerMapping) {
				return nil
			}
			continue
		}
		if len(g.retired) == 0 {
			return fmt.Errorf("%w: guard mode's large mappings hold %d kernel mappings in this process, and may hold %d "+
				"(half of vm.max_map_count, %d, so that the rest of the process can still map memory)",
				ErrOutOfMemory, used, limit, osmem.MaxMapCount())
		}
		g.dropRetired(a, 1)
	}
}

// guardFree serves every Free in guard mode; cap(b) > 0 and a is open.
//
// A small object's canary is checked: if it was overwritten, the slot is
// retired forever and ErrCorrupted returned; else the slot is poisoned and
// joins the quarantine, pushing out its oldest slots (whose poison is
// checked, see evict). A large object's canary bytes are checked likewise
// and its mapping retired: its pages go back to the kernel and its
// addresses stay PROT_NONE, so that any later access faults.
func (a *Allocator) guardFree(b []byte) error {
	g := a.guard
	addr := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	g.mu.Lock()
	defer g.mu.Unlock()
	if a.closed.Load() {
		return ErrClosed
	}
	o, ok := g.live[addr]
	if !ok {
		return g.classify(a, addr)
	}
	if o.ch == nil {
		return g.freeLarge(a, addr, o)
	}
	// The slot stays held in its slab (its owner bit set) while guard
	// mode keeps it: in quarantine, or retired for ever.
	delete(g.live, addr)
	a.centrals[o.cls].Publish(0, 1)
	g.smallUse[o.cls] -= int64(o.n)
	g.held[o.cls]++
	size := uintptr(slabs.ClassBytes(o.cls))
	if off := checkPattern(addr+o.n, size-o.n, canaryKey); off >= 0 {
		return g.report(fmt.Errorf("%w: %d-byte object at %#x was written past its end (%d bytes after it; slot retired)",
			ErrCorrupted, o.n, addr, off))
	}
	fillPattern(addr, size, poisonKey)
	g.quarantine = append(g.quarantine, guardSlot{ch: o.ch, cls: o.cls, addr: addr, size: size})
	g.qBytes += size
	for g.qBytes > GuardQuarantineBytes {
		g.evict(a)
	}
	return nil
}

func (g *guardState) freeLarge(a *Allocator, addr uintptr, o guardObj) error {
	delete(g.live, addr)
	guardPage := o.base + o.mapped - osmem.PageBytes
	off := checkPattern(addr+o.n, guardPage-addr-o.n, canaryKey)
	g.largeLive--
	g.largeInUse -= int64(o.n)
	g.largeMapped -= int64(o.mapped)
	g.largeFrees++
	if a.src.Retire(osmem.AddrPointer(o.base), o.mapped) {
		g.retired = append(g.retired, osmem.Span{Base: o.base, Size: o.mapped})
		g.rBytes += o.mapped
		for len(g.retired) > guardRetiredMappings || g.rBytes > guardRetiredBytes {
			g.dropRetired(a, 1)
		}
	} else {
		guardMaps.Add(-guardMapsPerMapping) // unmapped at once
	}
	if off >= 0 {
		return g.report(fmt.Errorf("%w: %d-byte object at %#x was written past its end (%d bytes after it)",
			ErrCorrupted, o.n, addr, off))
	}
	return nil
}

// guardRealloc serves Realloc in guard mode (cap(b) > 0, 0 <= n <=
// MaxAllocBytes): every resize moves, so that the new object gets its own
// canary or guard page, and the old one is checked and freed as by Free.
// An old object found corrupted is freed (its memory retired) and its
// ErrCorrupted returned, with no new allocation; any other error leaves b
// as it was.
func (a *Allocator) guardRealloc(b []byte, n int, zero bool) ([]byte, error) {
	g := a.guard
	addr := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	g.mu.Lock()
	o, ok := g.live[addr]
	var err error
	if !ok {
		err = g.classify(a, addr)
	} else if g.canaryBroken(addr, o) {
		ok = false
	}
	g.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if !ok || n == 0 {
		a.profileFree(addr) // see profile.go
		if err := a.guardFree(b); err != nil {
			return nil, err
		}
		return []byte{}, nil
	}
	nb, err := a.counted(a.guardAlloc(n, zero)) // see profile.go
	if err != nil {
		return nil, err
	}
	keep := copy(nb, b[:min(len(b), n)])
	a.profileFree(addr)
	if err := a.guardFree(b); err != nil { // a concurrent Free of b: undo
		a.profileFree(sliceAddr(nb))
		_ = a.guardFree(nb)
		return nil, err
	}
	reallocCopiedBytes.Add(int64(keep))
	return nb, nil
}

// canaryBroken reports whether the canary after the live object at start
// was overwritten. g.mu is held.
func (g *guardState) canaryBroken(start uintptr, o guardObj) bool {
	end := start + o.n
	room := uintptr(slabs.ClassBytes(o.cls)) - o.n
	if o.ch == nil {
		room = o.base + o.mapped - osmem.PageBytes - end
	}
	return checkPattern(end, room, canaryKey) >= 0
}

// evict takes the oldest slot out of the quarantine and checks its poison:
// intact, the slot goes back to its slab; overwritten, a write after free
// is reported (to CheckGuards) and the slot is retired forever.
func (g *guardState) evict(a *Allocator) {
	s := g.quarantine[g.qHead]
	g.quarantine[g.qHead] = guardSlot{}
	g.qHead++
	g.qBytes -= s.size
	if g.qHead == len(g.quarantine) || g.qHead > 1024 && g.qHead*2 > len(g.quarantine) {
		g.quarantine = append(g.quarantine[:0], g.quarantine[g.qHead:]...)
		g.qHead = 0
	}
	if !g.poisonIntact(s) {
		return
	}
	g.held[s.cls]--
	if sl, settle, err := slabs.FreeObject(s.ch, s.addr); err == nil && settle {
		sl.Settle()
	}
}

// poisonIntact checks a quarantined slot's poison, and reports a write
// after free if it was overwritten.
func (g *guardState) poisonIntact(s guardSlot) bool {
	off := checkPattern(s.addr, s.size, poisonKey)
	if off < 0 {
		return true
	}
	_ = g.report(fmt.Errorf("%w: %d-byte slot at %#x was written after Free (byte %d; slot retired)",
		ErrCorrupted, s.size, s.addr, off))
	return false
}

// dropRetired unmaps the k oldest retired large mappings.
func (g *guardState) dropRetired(a *Allocator, k int) {
	for _, sp := range g.retired[:k] {
		a.src.Drop(osmem.AddrPointer(sp.Base), sp.Size)
		g.rBytes -= sp.Size
		guardMaps.Add(-guardMapsPerMapping)
	}
	g.retired = append(g.retired[:0], g.retired[k:]...)
}

// report counts a corruption, keeps its error for CheckGuards and returns it.
func (g *guardState) report(err error) error {
	g.corrupted++
	if len(g.reports) < guardMaxReports {
		g.reports = append(g.reports, err)
	}
	return err
}

// classify explains why addr is no live object's first byte, changing
// nothing. g.mu is held.
func (g *guardState) classify(a *Allocator, addr uintptr) error {
	if ch := chunk.Lookup(addr); ch != nil && ch.Heap() == a.heap {
		// No object here is held (live ones are in g.live): inside an
		// object, or not allocated.
		return slabs.FreeError(ch, addr)
	}
	for start, o := range g.live {
		if o.ch == nil && addr >= o.base && addr < o.base+o.mapped {
			return fmt.Errorf("%w: %#x is %d bytes from the %d-byte object at %#x",
				ErrInvalidPointer, addr, int64(addr-start), o.n, start)
		}
	}
	for _, sp := range g.retired {
		if sp.Contains(addr) {
			return errs.DoubleFree(fmt.Sprintf("%#x lies in a large mapping", addr))
		}
	}
	return errs.Foreign(addr)
}

// liveBytes is refBytes in guard mode: the length of the live object at
// addr (guard mode hands out cap == len), or the error guardFree would
// return.
func (g *guardState) liveBytes(a *Allocator, addr uintptr) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if o, ok := g.live[addr]; ok {
		return int(o.n), nil
	}
	return 0, g.classify(a, addr)
}

// trim empties the quarantine (checking every slot's poison) and unmaps
// the retired large mappings.
func (g *guardState) trim(a *Allocator) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for g.qHead < len(g.quarantine) {
		g.evict(a)
	}
	g.dropRetired(a, len(g.retired))
}

// close unmaps the live and retired large mappings; the chunks are the
// heap's to unmap. The large row's figures stay as they were: the objects
// live at Close were never freed.
func (g *guardState) close(a *Allocator) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for start, o := range g.live {
		if o.ch == nil {
			a.src.Unmap(osmem.AddrPointer(o.base), o.mapped)
			guardMaps.Add(-guardMapsPerMapping)
			g.largeMapped -= int64(o.mapped)
			delete(g.live, start)
		}
	}
	g.dropRetired(a, len(g.retired))
}

// CheckGuards checks every guard now — the canary of every live object and
// the poison of every quarantined slot — and returns every corruption
// found since New, joined (each wraps ErrCorrupted and names the object),
// or nil. A quarantined slot found overwritten is retired forever. Free
// reports an overflow of the object it frees at once; a write after free
// is found when its slot leaves the quarantine, on Trim, or here.
// Without Options.Guard there is nothing to check and it returns nil.
// After Close it returns ErrClosed (the objects it would check are
// unmapped), and on a nil or zero Allocator ErrUninitialized.
func (a *Allocator) CheckGuards() error {
	if err := a.usable(); err != nil {
		return err
	}
	g := a.guard
	if g == nil {
		return nil
	}
	if invariants.Enabled {
		defer a.checkAfter("CheckGuards")()
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if a.closed.Load() { // closed while this call waited for the lock
		return ErrClosed
	}
	kept := g.quarantine[:g.qHead]
	for _, s := range g.quarantine[g.qHead:] {
		if g.poisonIntact(s) {
			kept = append(kept, s)
		} else {
			g.qBytes -= s.size
		}
	}
	clear(g.quarantine[len(kept):])
	g.quarantine = kept
	errList := append([]error(nil), g.reports...)
	for start, o := range g.live {
		if g.canaryBroken(start, o) {
			errList = append(errList, fmt.Errorf("%w: live %d-byte object at %#x was written past its end",
				ErrCorrupted, o.n, start))
		}
	}
	return errors.Join(errList...)
}

// guardFigures are what guard mode adds to Stats.
type guardFigures struct {
	quarantined, corrupted int64
	large                  stats.Class             // the large row: Live, InUse, Allocs, Frees
	smallUse               [slabs.ClassSlots]int64 // each class row's InUse
}

// figures returns guard mode's figures. g.mu is held.
func (g *guardState) figures() guardFigures {
	return guardFigures{
		quarantined: int64(g.qBytes), corrupted: g.corrupted,
		large:    stats.Class{Live: g.largeLive, InUse: g.largeInUse, Allocs: g.largeAllocs, Frees: g.largeFrees},
		smallUse: g.smallUse,
	}
}

// walk calls f with every large mapping guard mode holds (its objects'
// mappings, guard pages included), under g.mu. Retired mappings hold no
// memory and are not counted in Mapped.
func (g *guardState) walk(f func(base, size uintptr)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, o := range g.live {
		if o.ch == nil {
			f(o.base, o.mapped)
		}
	}
}

// validate checks guard mode's equations against the quarantine and the
// live objects, and returns, per class, the slots it holds that are
// neither live nor in a slab.
func (g *guardState) validate() (held [slabs.ClassSlots]int64, largeMapped int64, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	var inQ [slabs.ClassSlots]int64
	var qBytes uintptr
	for _, s := range g.quarantine[g.qHead:] {
		inQ[s.cls]++
		qBytes += s.size
	}
	if qBytes != g.qBytes || qBytes > GuardQuarantineBytes {
		return held, 0, fmt.Errorf("mmalloc: guard quarantine counts %d bytes, holds %d (bound %d)", g.qBytes, qBytes, GuardQuarantineBytes)
	}
	for c := range inQ {
		if inQ[c] > g.held[c] {
			return held, 0, fmt.Errorf("mmalloc: guard holds %d slots of class %d, %d of them in quarantine", g.held[c], c, inQ[c])
		}
	}
	var mapped, live, inUse int64
	var smallUse [slabs.ClassSlots]int64
	for _, o := range g.live {
		if o.ch == nil {
			mapped += int64(o.mapped)
			live++
			inUse += int64(o.n)
		} else {
			smallUse[o.cls] += int64(o.n)
		}
	}
	if mapped != g.largeMapped || live != g.largeLive {
		return held, 0, fmt.Errorf("mmalloc: guard counts %d large objects in %d bytes, holds %d in %d", g.largeLive, g.largeMapped, live, mapped)
	}
	if inUse != g.largeInUse {
		return held, 0, fmt.Errorf("mmalloc: guard counts %d bytes in use in large objects, they hold %d", g.largeInUse, inUse)
	}
	for c := range smallUse {
		if smallUse[c] != g.smallUse[c] {
			return held, 0, fmt.Errorf("mmalloc: guard counts %d bytes in use in objects of class %d, they hold %d", g.smallUse[c], c, smallUse[c])
		}
	}
	return g.held, g.largeMapped, nil
}

// patternWord is the pattern of key at the 8-byte word at p (p%8 == 0).
func patternWord(p uintptr, key uint64) uint64 { return key ^ uint64(p)*0x9E3779B97F4A7C15 }

// patternByte is the pattern's byte at p, for the unaligned ends. The
// ends and the middle of a range are split the same way by fillPattern
// and checkPattern, so each byte is always written and read one way.
func patternByte(p uintptr, key uint64) byte { return byte(patternWord(p&^7, key) >> (8 * (p & 7))) }

// fillPattern writes the pattern of key over n bytes at p.
func fillPattern(p, n uintptr, key uint64) {
	end := p + n
	for ; p < end && p%8 != 0; p++ {
		*(*byte)(osmem.AddrPointer(p)) = patternByte(p, key)
	}
	for ; p+8 <= end; p += 8 {
		*(*uint64)(osmem.AddrPointer(p)) = patternWord(p, key)
	}
	for ; p < end; p++ {
		*(*byte)(osmem.AddrPointer(p)) = patternByte(p, key)
	}
}

// checkPattern returns the offset of the first byte of the n at p that
// breaks the pattern of key, or -1.
func checkPattern(p, n uintptr, key uint64) int {
	start, end := p, p+n
	for ; p < end && p%8 != 0; p++ {
		if *(*byte)(osmem.AddrPointer(p)) != patternByte(p, key) {
			return int(p - start)
		}
	}
	for ; p+8 <= end; p += 8 {
		if *(*uint64)(osmem.AddrPointer(p)) != patternWord(p, key) {
			for q := p; q < p+8; q++ { // the first differing byte (little-endian)
				if *(*byte)(osmem.AddrPointer(q)) != byte(patternWord(p, key)>>(8*(q-p))) {
					return int(q - start)
				}
			}
			return int(p - start)
		}
	}
	for ; p < end; p++ {
		if *(*byte)(osmem.AddrPointer(p)) != patternByte(p, key) {
			return int(p - start)
		}
	}
	return -1
}
