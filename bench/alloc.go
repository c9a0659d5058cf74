// Allocator adapters: every allocator under test, behind one small interface.

package main

import (
	"fmt"
	"math/bits"
	"sync"
	"unsafe"

	"github.com/mmalloc/mmalloc"
	"modernc.org/memory"
)

// Allocator is the interface every workload drives. Each call goes through
// it, so every allocator pays the same dynamic-dispatch cost.
//
// An Allocator is used by one goroutine at a time unless its Kind says
// Concurrent; workloads that share one across goroutines wrap the others in
// a mutex (see lockedAllocator).
type Allocator interface {
	// Alloc returns a slice of length n.
	Alloc(n int) ([]byte, error)
	// Free gives back a slice that Alloc returned.
	Free(b []byte) error
	// Close gives back everything the allocator holds.
	Close() error
}

// Trimmer is implemented by allocators that keep freed memory mapped for
// reuse and can hand it back to the OS on request.
type Trimmer interface {
	Trim() error
}

// Localizer is implemented by allocators whose fast path is a handle owned
// by one goroutine (like the Go runtime's mcache). Multi-goroutine workloads
// call Local once in each goroutine and drive the returned handle; frees may
// still cross goroutines, so a handle must accept objects from its siblings.
type Localizer interface {
	Local() (Allocator, error)
}

// SyscallCounter is implemented by allocators that count the mmap and
// munmap calls they make; tables then show the calls per op, the cost
// that dominates when an allocator goes to the kernel on its hot path.
type SyscallCounter interface {
	Syscalls() uint64
}

// Kind is one allocator the program can run: a name for flags and output,
// and a constructor that makes a fresh, independent instance.
type Kind struct {
	Name string
	// Doc says in one line what the allocator is and how it frees.
	Doc string
	// Zeroed reports whether Alloc returns zeroed memory, as make does.
	Zeroed bool
	// Concurrent reports whether one instance is safe for concurrent use.
	// Workloads drive the others through one shared mutex and say so.
	Concurrent bool
	// Handle reports whether each goroutine drives a handle of its own
	// (an mmalloc Cache), used by one goroutine at a time, with frees that
	// may cross handles: not a lock, and not safe to share.
	Handle bool
	// FreesEach reports whether Free frees a single object. Go arenas
	// free only all at once; workloads that need single frees with objects
	// still live (churn) skip such kinds.
	FreesEach bool
	// OptIn keeps the kind out of -alloc all: it runs only when named
	// (debugging modes, whose cost is measured against their default).
	OptIn bool
	// Versus names the kind a mode is measured against, "" for none:
	// its rows get a figure, their time ÷ that kind's in the same case.
	// Both must keep the same contract (zeroing, goroutine-safety).
	Versus string
	// New makes a fresh instance.
	New func() (Allocator, error)
}

// kinds lists every allocator built into this binary, in output order.
// Optional kinds (Go arenas) append themselves from build-tagged files.
var kinds = []Kind{
	{
		Name: "mmalloc", Doc: "mmalloc Allocator.Alloc (zeroed) + Free",
		Zeroed: true, Concurrent: true, FreesEach: true,
		New: func() (Allocator, error) { return newMmalloc(false) },
	},
	{
		Name: "mmalloc-uninit", Doc: "mmalloc Allocator.AllocUninit (contents unspecified) + Free",
		Zeroed: false, Concurrent: true, FreesEach: true,
		New: func() (Allocator, error) { return newMmalloc(true) },
	},
	{
		Name: "mmalloc-guard", Doc: "mmalloc Allocator.Alloc + Free in guard mode (Options.Guard: guard pages, canaries, quarantine)",
		Zeroed: true, Concurrent: true, FreesEach: true, OptIn: true, Versus: "mmalloc",
		New: func() (Allocator, error) { return newMmallocOpts(mmalloc.Options{Guard: true}, false) },
	},
	{
		Name: "mmalloc-cache", Doc: "mmalloc Cache.AllocUninit + Cache.Free: a per-goroutine handle, no lock, contents unspecified",
		Zeroed: false, Concurrent: true, Handle: true, FreesEach: true,
		New: func() (Allocator, error) { return newMmallocCache(false) },
	},
	{
		Name: "mmalloc-cache-zeroed", Doc: "mmalloc Cache.Alloc (zeroed, like make) + Cache.Free: a per-goroutine handle, no lock",
		Zeroed: true, Concurrent: true, Handle: true, FreesEach: true, OptIn: true,
		New: func() (Allocator, error) { return newMmallocCache(true) },
	},
	{
		Name: "go-heap", Doc: "make([]byte, n); freed by dropping the reference (the GC reclaims it)",
		Zeroed: true, Concurrent: true, FreesEach: true,
		New: func() (Allocator, error) { return goHeap{}, nil },
	},
	{
		Name: "sync.Pool", Doc: "one sync.Pool per power-of-two size class, make on a miss; buffers come back dirty",
		Zeroed: false, Concurrent: true, FreesEach: true,
		New: func() (Allocator, error) { return newPoolAllocator(), nil },
	},
	{
		Name: "modernc", Doc: "modernc.org/memory Allocator.Malloc (uninitialised) + Free; not goroutine-safe",
		Zeroed: false, Concurrent: false, FreesEach: true,
		New: func() (Allocator, error) { return &moderncAllocator{}, nil },
	},
	{
		Name: "modernc-calloc", Doc: "modernc.org/memory Allocator.Calloc (zeroed) + Free; not goroutine-safe",
		Zeroed: true, Concurrent: false, FreesEach: true,
		New: func() (Allocator, error) { return &moderncAllocator{zeroed: true}, nil },
	},
}

// kindNames returns the names of every built-in kind, in order.
func kindNames() []string {
	names := make([]string, len(kinds))
	for i, k := range kinds {
		names[i] = k.Name
	}
	return names
}

// kindOf is lookupKind that also knows the kinds a workload adds on its
// own (mmalloc-ref in gc): what a row's name promises, for the tables.
func kindOf(name string) (Kind, bool) {
	if name == gcRefKind.Name {
		return gcRefKind, true
	}
	return lookupKind(name)
}

// lookupKind returns the kind called name.
func lookupKind(name string) (Kind, bool) {
	for _, k := range kinds {
		if k.Name == name {
			return k, true
		}
	}
	return Kind{}, false
}

// mmallocAllocator drives one *mmalloc.Allocator, zeroed or not.
// Safe for concurrent use, as mmalloc.Allocator is.
type mmallocAllocator struct {
	a      *mmalloc.Allocator
	uninit bool
}

func newMmalloc(uninit bool) (*mmallocAllocator, error) {
	return newMmallocOpts(mmalloc.Options{}, uninit)
}

// profileRate is Options.ProfileRate of every mmalloc allocator the
// program makes (-profile-rate): 0 is mmalloc's default.
var profileRate int

// profileNote says in the header how mmalloc samples its allocations,
// unless it is the default.
func profileNote(rate int) string {
	switch {
	case rate == 0:
		return ""
	case rate < 0:
		return "mmalloc's heap profile is off (-profile-rate " + fmt.Sprint(rate) + ")"
	}
	return fmt.Sprintf("mmalloc samples one allocation per %d bytes on average (-profile-rate %d; default %d)",
		rate, rate, mmalloc.DefaultProfileRate)
}

// newMmallocAt is mmalloc.New at the program's profile rate.
func newMmallocAt(o mmalloc.Options) (*mmalloc.Allocator, error) {
	o.ProfileRate = profileRate
	return mmalloc.New(o)
}

func newMmallocOpts(o mmalloc.Options, uninit bool) (*mmallocAllocator, error) {
	a, err := newMmallocAt(o)
	if err != nil {
		return nil, err
	}
	return &mmallocAllocator{a: a, uninit: uninit}, nil
}

// Alloc calls AllocUninit or Alloc, as the kind says.
func (m *mmallocAllocator) Alloc(n int) ([]byte, error) {
	if m.uninit {
		return m.a.AllocUninit(n)
	}
	return m.a.Alloc(n)
}

// Free calls mmalloc's Free.
func (m *mmallocAllocator) Free(b []byte) error { return m.a.Free(b) }

// Syscalls returns the mmap and munmap calls the allocator has made.
func (m *mmallocAllocator) Syscalls() uint64 {
	st := m.a.Stats()
	return st.Mmaps + st.Munmaps
}

// Trim returns mmalloc's retained memory to the OS.
func (m *mmallocAllocator) Trim() error { return m.a.Trim() }

// Close unmaps everything the allocator holds.
func (m *mmallocAllocator) Close() error { return m.a.Close() }

// mmallocCache drives an mmalloc.Cache: the per-goroutine fast path. The
// instance the workloads get is one goroutine's handle; Local gives every
// other goroutine a Cache of its own on the same Allocator, and frees may
// cross between them.
type mmallocCache struct {
	a      *mmalloc.Allocator
	c      *mmalloc.Cache
	zeroed bool // Cache.Alloc rather than Cache.AllocUninit
	owner  bool // this handle made a, and closes it
}

func newMmallocCache(zeroed bool) (*mmallocCache, error) {
	a, err := newMmallocAt(mmalloc.Options{})
	if err != nil {
		return nil, err
	}
	return &mmallocCache{a: a, c: a.NewCache(), zeroed: zeroed, owner: true}, nil
}

// Local returns a handle with a Cache of its own on the same Allocator.
func (m *mmallocCache) Local() (Allocator, error) {
	return &mmallocCache{a: m.a, c: m.a.NewCache(), zeroed: m.zeroed}, nil
}

// Alloc calls Cache.Alloc or Cache.AllocUninit, as the kind says.
func (m *mmallocCache) Alloc(n int) ([]byte, error) {
	if m.zeroed {
		return m.c.Alloc(n)
	}
	return m.c.AllocUninit(n)
}

// Free calls Cache.Free.
func (m *mmallocCache) Free(b []byte) error { return m.c.Free(b) }

// Syscalls returns the mmap and munmap calls the allocator has made.
func (m *mmallocCache) Syscalls() uint64 {
	st := m.a.Stats()
	return st.Mmaps + st.Munmaps
}

// Trim flushes this handle's Cache and returns retained memory to the OS.
func (m *mmallocCache) Trim() error {
	m.c.Flush()
	return m.a.Trim()
}

// Close flushes the Cache; the handle that made the Allocator closes it.
func (m *mmallocCache) Close() error {
	m.c.Flush()
	if m.owner {
		return m.a.Close()
	}
	return nil
}

// goHeap allocates with make and frees by forgetting: the garbage collector
// reclaims the memory later, and its cost shows up in the measurements
// because it runs inside the measured process. Safe for concurrent use.
type goHeap struct{}

// Alloc calls make.
func (goHeap) Alloc(n int) ([]byte, error) { return make([]byte, n), nil }

// Free does nothing: the GC reclaims the buffer once it is unreachable.
func (goHeap) Free([]byte) error { return nil }

// Close does nothing.
func (goHeap) Close() error { return nil }

// Pool size classes are powers of two from 16 B (1<<poolMinShift) to
// 64 MiB (1<<poolMaxShift); larger requests bypass the pools.
const (
	poolMinShift = 4
	poolMaxShift = 26
)

// poolAllocator keeps one sync.Pool per power-of-two size class, the usual
// Go answer for buffer reuse. A pool holds the address of the first byte of
// a buffer of exactly the class size as an unsafe.Pointer: a pointer-shaped
// value converts to an interface without allocating, so Get+Put costs no
// Go-heap allocation in steady state (a *[]byte would need one per Put).
// The pointer keeps the whole buffer alive for the GC, since it points at
// the start of the object. Safe for concurrent use.
type poolAllocator struct {
	pools [poolMaxShift + 1]sync.Pool
}

func newPoolAllocator() *poolAllocator { return &poolAllocator{} }

// poolShift returns the class of an n-byte request: the smallest s with
// 1<<s >= n, at least poolMinShift.
func poolShift(n int) int {
	if n <= 1<<poolMinShift {
		return poolMinShift
	}
	return bits.Len(uint(n - 1))
}

// Alloc takes a buffer of n's class from its pool, or makes one.
func (p *poolAllocator) Alloc(n int) ([]byte, error) {
	if n <= 0 {
		return nil, fmt.Errorf("sync.Pool: invalid size %d", n)
	}
	s := poolShift(n)
	if s > poolMaxShift {
		return make([]byte, n), nil
	}
	if v := p.pools[s].Get(); v != nil {
		return unsafe.Slice((*byte)(v.(unsafe.Pointer)), 1<<s)[:n], nil
	}
	return make([]byte, n, 1<<s), nil
}

// Free puts b back into the pool of its class.
func (p *poolAllocator) Free(b []byte) error {
	c := cap(b)
	if c == 0 || c&(c-1) != 0 || c < 1<<poolMinShift {
		return fmt.Errorf("sync.Pool: foreign buffer of capacity %d", c)
	}
	s := bits.TrailingZeros(uint(c))
	if s > poolMaxShift {
		return nil
	}
	p.pools[s].Put(unsafe.Pointer(unsafe.SliceData(b)))
	return nil
}

// Close does nothing: pooled buffers go when the GC clears the pools.
func (p *poolAllocator) Close() error { return nil }

// moderncAllocator drives a modernc.org/memory Allocator, which manages
// mmap'd memory with no locking at all. Not safe for concurrent use.
type moderncAllocator struct {
	a      memory.Allocator
	zeroed bool // Calloc rather than Malloc
}

// Alloc calls Malloc, or Calloc, as the kind says.
func (m *moderncAllocator) Alloc(n int) ([]byte, error) {
	if n <= 0 {
		return nil, fmt.Errorf("modernc: invalid size %d", n)
	}
	if m.zeroed {
		return m.a.Calloc(n)
	}
	return m.a.Malloc(n)
}

// Free calls modernc's Free.
func (m *moderncAllocator) Free(b []byte) error { return m.a.Free(b) }

// Trim returns modernc's retained regions to the OS.
func (m *moderncAllocator) Trim() error { return m.a.Trim() }

// Close unmaps everything the allocator holds.
func (m *moderncAllocator) Close() error { return m.a.Close() }

// lockedAllocator serialises an allocator that is not goroutine-safe
// behind one mutex, the way a program would have to share it.
// Safe for concurrent use.
type lockedAllocator struct {
	mu sync.Mutex // guards a
	a  Allocator
}

// Alloc calls the wrapped Alloc under the mutex.
func (l *lockedAllocator) Alloc(n int) ([]byte, error) {
	l.mu.Lock()
	b, err := l.a.Alloc(n)
	l.mu.Unlock()
	return b, err
}

// Free calls the wrapped Free under the mutex.
func (l *lockedAllocator) Free(b []byte) error {
	l.mu.Lock()
	err := l.a.Free(b)
	l.mu.Unlock()
	return err
}

// Trim calls the wrapped Trim, if any, under the mutex.
func (l *lockedAllocator) Trim() error {
	t, ok := l.a.(Trimmer)
	if !ok {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return t.Trim()
}

// Close calls the wrapped Close under the mutex.
func (l *lockedAllocator) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.a.Close()
}

// shared returns a handle on a that many goroutines may use at once:
// a itself when its kind is goroutine-safe, else a mutex around it.
func shared(k Kind, a Allocator) Allocator {
	if k.Concurrent {
		return a
	}
	return &lockedAllocator{a: a}
}

// perGoroutine returns the handle one goroutine of a multi-goroutine
// workload should drive: a per-goroutine handle when the allocator has one,
// else the shared handle.
func perGoroutine(sh Allocator) (Allocator, error) {
	if l, ok := sh.(Localizer); ok {
		return l.Local()
	}
	return sh, nil
}

// trim asks a to return retained memory to the OS, if it can.
func trim(a Allocator) error {
	if t, ok := a.(Trimmer); ok {
		return t.Trim()
	}
	return nil
}

// mmallocKind is the name of the plain mmalloc kind (zeroed Alloc + Free),
// which the gc and shared workloads single out.
const mmallocKind = "mmalloc"
