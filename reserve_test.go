package mmalloc_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/mmalloc/mmalloc"
)

// vma is one line of /proc/self/maps.
type vma struct {
	lo, hi uintptr
	perms  string
	line   string
}

// vmasIn returns the mappings of /proc/self/maps that overlap [lo, hi).
func vmasIn(t *testing.T, lo, hi uintptr) []vma {
	t.Helper()
	data, err := os.ReadFile("/proc/self/maps")
	require.NoError(t, err)
	var out []vma
	for _, line := range strings.Split(string(data), "\n") {
		var m vma
		if _, err := fmt.Sscanf(line, "%x-%x %s", &m.lo, &m.hi, &m.perms); err != nil {
			continue
		}
		if m.lo < hi && lo < m.hi {
			m.line = line
			out = append(out, m)
		}
	}
	return out
}

// reservationMaps sums the bytes of a's reservation by protection, and
// returns its lines of /proc/self/maps.
func reservationMaps(t *testing.T, a *mmalloc.Allocator) (byPerms map[string]int64, lines []string) {
	t.Helper()
	base, bytes := a.ReservationForTest()
	require.NotZero(t, bytes)
	byPerms = map[string]int64{}
	for _, m := range vmasIn(t, base, base+bytes) {
		lo, hi := max(m.lo, base), min(m.hi, base+bytes)
		byPerms[m.perms] += int64(hi - lo)
		lines = append(lines, m.line)
	}
	return byPerms, lines
}

// TestReserveTiB reserves 1 TiB of address space on a machine with far
// less memory: New succeeds, Mapped counts only what is committed, the
// reservation stays PROT_NONE but for the committed ranges, and freeing
// everything and trimming makes all of it PROT_NONE again and the RSS
// comes back.
func TestReserveTiB(t *testing.T) {
	skipWithInvariants(t, "every call runs validate, whose garbage counts in the RSS")
	const reserve = 1 << 40
	objs := make([][]byte, 0, 100_000)
	runtime.GC()
	debug.FreeOSMemory()
	rss0 := offHeapRSS(t)

	a := newAlloc(t, mmalloc.Options{Reserve: reserve})
	base, bytes := a.ReservationForTest()
	require.Equal(t, uintptr(reserve), bytes)
	byPerms, lines := reservationMaps(t, a)
	assert.Equal(t, map[string]int64{"---p": reserve}, byPerms, "reserved, nothing committed: %v", lines)
	assert.Zero(t, a.Stats().Mapped)
	status, err := os.ReadFile("/proc/self/status")
	require.NoError(t, err)
	t.Logf("after New: Mapped %d, RSS %d MiB, VmSize %d GiB; maps: %s",
		a.Stats().Mapped, rssBytes(t)>>20, parseVmSize(t, string(status))>>30, strings.Join(lines, "\n"))

	r := rand.New(rand.NewPCG(40, 40))
	total := 0
	for total < 64*mib {
		b, err := a.Alloc(randSize(r))
		require.NoError(t, err)
		fill(b, uint64(total))
		total += cap(b)
		objs = append(objs, b)
		require.True(t, addr(b) >= base && addr(b) < base+bytes, "carved from the reservation")
	}
	s := a.Stats()
	rss1 := offHeapRSS(t)
	byPerms, lines = reservationMaps(t, a)
	assert.Equal(t, s.Mapped, byPerms["rw-p"], "Mapped is what is committed")
	assert.Equal(t, int64(reserve)-s.Mapped, byPerms["---p"], "the rest stays reserved")
	assert.Less(t, s.Mapped, int64(total)*2, "Mapped follows use, not the reservation")
	require.NoError(t, a.Validate())
	t.Logf("1 TiB reserved at %#x; %d MiB in %d objects: Mapped %d MiB, RSS %d -> %d MiB; maps:\n%s",
		base, total>>20, len(objs), s.Mapped>>20, rss0>>20, rss1>>20, strings.Join(lines, "\n"))

	for _, b := range objs {
		require.NoError(t, a.Free(b))
	}
	require.NoError(t, a.Trim())
	assert.Zero(t, a.Stats().Mapped)
	byPerms, lines = reservationMaps(t, a)
	assert.Equal(t, map[string]int64{"---p": reserve}, byPerms, "all decommitted: %v", lines)
	runtime.GC()
	debug.FreeOSMemory()
	rss2 := offHeapRSS(t)
	t.Logf("after Free and Trim: Mapped 0, off-heap RSS %+d MiB; maps: %s", (rss2-rss0)>>20, strings.Join(lines, "\n"))
	assert.Less(t, rss2-rss0, int64(16*mib), "off-heap RSS back within 16 MiB of the start")
	runtime.KeepAlive(objs)
}

// TestReserveFallsBack: past a private reservation the Allocator maps
// afresh and goes on as without one.
func TestReserveFallsBack(t *testing.T) {
	a := newAlloc(t, mmalloc.Options{Reserve: 8 * mib, ChunkBytes: mib})
	base, bytes := a.ReservationForTest()
	r := rand.New(rand.NewPCG(8, 8))
	var objs []liveObj
	outside, total := 0, 0
	for total < 48*mib {
		b, err := a.Alloc(randSize(r))
		require.NoError(t, err)
		seed := r.Uint64()
		fill(b, seed)
		objs = append(objs, liveObj{b, seed})
		total += cap(b)
		if addr(b) < base || addr(b) >= base+bytes {
			outside++
		}
	}
	require.Positive(t, outside, "some mappings lie past the reservation")
	require.NoError(t, a.Validate())
	for _, o := range objs {
		require.Equal(t, -1, check(o.b, o.seed))
		require.NoError(t, a.Free(o.b))
	}
	require.NoError(t, a.Trim())
	assert.Zero(t, a.Stats().Mapped)
	require.NoError(t, a.Validate())
}

// TestReserveOneChunk: the documented minimum, Reserve: ChunkBytes, holds
// one chunk wherever the kernel places the reservation, Shared or not: a
// small Alloc is carved from it (a chunk must be aligned to its size, the
// reservation only to a page), and so is a large Alloc of the whole of it.
// Page-sized mappings made between the Allocators move each reservation
// to another address, so that they do not all share one alignment.
func TestReserveOneChunk(t *testing.T) {
	type filler struct {
		p unsafe.Pointer
		n uintptr
	}
	var fillers []filler
	defer func() {
		for _, f := range fillers {
			assert.NoError(t, unix.MunmapPtr(f.p, f.n))
		}
	}()
	for _, chunk := range []int{mib, 2 * mib, 4 * mib} {
		for _, shared := range []bool{true, false} {
			for i := range 16 {
				name := fmt.Sprintf("chunk %d MiB, shared %v, #%d", chunk/mib, shared, i)
				n := uintptr((1 + i) * pageBytes)
				p, err := unix.MmapPtr(-1, 0, nil, n, unix.PROT_NONE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
				require.NoError(t, err)
				fillers = append(fillers, filler{p, n})

				a, err := mmalloc.New(mmalloc.Options{Shared: shared, Reserve: int64(chunk), ChunkBytes: chunk})
				require.NoError(t, err, name)
				base, bytes := a.ReservationForTest()
				require.Equal(t, uintptr(chunk), bytes, name)
				inside := func(b []byte) bool { return addr(b) >= base && addr(b)+uintptr(cap(b)) <= base+bytes }

				b, err := a.Alloc(100)
				require.NoError(t, err, "%s: a small Alloc (reservation at %#x)", name, base)
				assert.True(t, inside(b), "%s: the chunk is carved from the reservation", name)
				assert.Equal(t, int64(chunk), a.Stats().Mapped, name)
				require.NoError(t, a.Free(b))
				require.NoError(t, a.Trim())

				whole, err := a.Alloc(chunk)
				require.NoError(t, err, "%s: a large Alloc of the whole reservation", name)
				assert.True(t, inside(whole), "%s: the large mapping is carved from the reservation", name)
				require.NoError(t, a.Free(whole))
				b, err = a.Alloc(100)
				require.NoError(t, err, "%s: a chunk again after the large Free", name)
				assert.True(t, inside(b), name)
				require.NoError(t, a.Validate(), name)
				require.NoError(t, a.Close())
			}
		}
	}
}

// TestSharedReservationFull: a Shared Allocator whose reservation is full
// returns ErrOutOfMemory, changes nothing, and serves again after frees.
func TestSharedReservationFull(t *testing.T) {
	const reserve = 8 * mib
	a := newAlloc(t, mmalloc.Options{Shared: true, Reserve: reserve, ChunkBytes: mib, RetainBytes: mmalloc.NoRetain})
	var held [][]byte
	var err error
	for range reserve/(256*kib) + 8 { // bounded: a reservation that never fills fails below
		var b []byte
		if b, err = a.Alloc(256 * kib); err != nil {
			break
		}
		held = append(held, b)
	}
	require.ErrorIs(t, err, mmalloc.ErrOutOfMemory)
	require.Len(t, held, reserve/(256*kib), "the reservation filled")
	before := a.Stats()
	_, err = a.Alloc(100)
	require.ErrorIs(t, err, mmalloc.ErrOutOfMemory, "no room for a chunk either")
	assert.Equal(t, before, a.Stats(), "a refusal changes nothing")
	require.NoError(t, a.Free(held[0]))
	held[0], err = a.Alloc(256 * kib)
	require.NoError(t, err, "room again after a Free")
	require.NoError(t, a.Validate())
	for _, b := range held {
		require.NoError(t, a.Free(b))
	}
	b, err := a.Alloc(100)
	require.NoError(t, err, "and for a chunk once all is freed")
	require.NoError(t, a.Free(b))
}

// TestMappingOptions: New refuses a Reserve it cannot honour, and takes
// the edges it can.
func TestMappingOptions(t *testing.T) {
	for _, c := range []struct {
		name string
		o    mmalloc.Options
		want error
	}{
		{"negative", mmalloc.Options{Reserve: -1}, mmalloc.ErrInvalidOption},
		{"past the maximum", mmalloc.Options{Reserve: mmalloc.MaxReserveBytes + 1}, mmalloc.ErrInvalidOption},
		{"less than a chunk", mmalloc.Options{Reserve: mmalloc.DefaultChunkBytes - 1}, mmalloc.ErrInvalidOption},
		{"shared, less than a chunk", mmalloc.Options{Shared: true, Reserve: mib, ChunkBytes: 2 * mib}, mmalloc.ErrInvalidOption},
		{"one chunk", mmalloc.Options{Reserve: mmalloc.DefaultChunkBytes}, nil},
		{"one chunk and a byte (rounded up)", mmalloc.Options{Reserve: mmalloc.DefaultChunkBytes + 1}, nil},
		{"shared with guard", mmalloc.Options{Shared: true, Guard: true}, nil},
		{"shared default", mmalloc.Options{Shared: true}, nil},
	} {
		a, err := mmalloc.New(c.o)
		if c.want != nil {
			assert.ErrorIs(t, err, c.want, c.name)
			assert.Nil(t, a, c.name)
			continue
		}
		require.NoError(t, err, c.name)
		_, bytes := a.ReservationForTest()
		want := c.o.Reserve
		if want == 0 {
			want = mmalloc.DefaultSharedReserveBytes
		}
		assert.Equal(t, (want+int64(os.Getpagesize())-1)&^int64(os.Getpagesize()-1), int64(bytes), c.name)
		require.NoError(t, a.Close())
	}
}

// TestReserveRefused runs a child with a lowered RLIMIT_AS, where the
// kernel refuses the reservation: New returns ErrOutOfMemory wrapping
// ENOMEM.
func TestReserveRefused(t *testing.T) {
	if os.Getenv("MMALLOC_RESERVE_CHILD") == "1" {
		var lim unix.Rlimit
		require.NoError(t, unix.Getrlimit(unix.RLIMIT_AS, &lim))
		status, err := os.ReadFile("/proc/self/status")
		require.NoError(t, err)
		vm := parseVmSize(t, string(status))
		require.NoError(t, unix.Setrlimit(unix.RLIMIT_AS, &unix.Rlimit{Cur: uint64(vm + 256*mib), Max: lim.Max}))
		for _, o := range []mmalloc.Options{{Reserve: 1 << 40}, {Shared: true}} {
			a, err := mmalloc.New(o)
			require.ErrorIs(t, err, mmalloc.ErrOutOfMemory)
			require.True(t, errors.Is(err, unix.ENOMEM), "errno wrapped: %v", err)
			require.Nil(t, a)
		}
		t.Log("child: the reservation was refused")
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestReserveRefused$", "-test.v")
	cmd.Env = append(os.Environ(), "MMALLOC_RESERVE_CHILD=1")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "child failed:\n%s", out)
	assert.Contains(t, string(out), "child: the reservation was refused")
}

// mappingKinds are the Options of every kind of mapping with the modes
// they combine with.
var mappingKinds = []struct {
	name string
	o    mmalloc.Options
}{
	{"shared", mmalloc.Options{Shared: true}},
	{"shared guard", mmalloc.Options{Shared: true, Guard: true}},
	{"shared limit noretain", mmalloc.Options{Shared: true, Limit: 24 * mib, RetainBytes: mmalloc.NoRetain, ChunkBytes: mib}},
	{"shared huge pages", mmalloc.Options{Shared: true, HugePages: true}},
	{"reserve", mmalloc.Options{Reserve: 1 << 30}},
	{"reserve guard", mmalloc.Options{Reserve: 1 << 30, Guard: true}},
	{"reserve small (falls back)", mmalloc.Options{Reserve: 4 * mib, ChunkBytes: mib, Limit: 24 * mib}},
}

// TestMappingKindsWorkload runs a random mix of Alloc, AllocUninit, Free,
// Realloc and Trim on every kind of mapping: live objects keep their
// patterns and never overlap, the invariants hold, a Shared Allocator's
// file holds each live object's bytes at its Offset, and at the end
// nothing stays mapped (nor, for a Shared one, in the file).
func TestMappingKindsWorkload(t *testing.T) {
	ops := 6_000
	if testing.Short() || raceEnabled {
		ops = 1_500
	}
	for _, k := range mappingKinds {
		t.Run(k.name, func(t *testing.T) {
			a := newAlloc(t, k.o)
			r := rand.New(rand.NewPCG(2, 14))
			var objs []liveObj
			verify := func() {
				for _, o := range objs {
					require.Equal(t, -1, check(o.b, o.seed), "object of %d bytes corrupted", cap(o.b))
				}
				verifyNoOverlap(t, objs)
				require.NoError(t, a.Validate())
				if k.o.Limit > 0 {
					require.LessOrEqual(t, a.Stats().PeakHeld, k.o.Limit)
				}
				if f := a.File(); f != nil {
					for _, o := range objs[:min(len(objs), 50)] {
						off, err := a.Offset(o.b)
						require.NoError(t, err)
						got := make([]byte, len(o.b))
						_, err = unix.Pread(int(f.Fd()), got, off)
						require.NoError(t, err)
						require.Equal(t, o.b, got, "the file holds the object at its offset")
					}
				}
			}
			for i := range ops {
				switch op := r.IntN(20); {
				case op == 0 && len(objs) > 0: // Realloc
					j := r.IntN(len(objs))
					o := objs[j]
					n := randSize(r)
					b, err := a.Realloc(o.b, n)
					if errors.Is(err, mmalloc.ErrOutOfMemory) {
						continue
					}
					require.NoError(t, err)
					keep := min(len(o.b), n) &^ 7
					require.Equal(t, -1, check(b[:keep:keep], o.seed), "Realloc kept the bytes")
					seed := r.Uint64()
					fill(b, seed)
					objs[j] = liveObj{b, seed}
				case op == 1:
					require.NoError(t, a.Trim())
				case op < 11 || len(objs) == 0:
					n := randSize(r)
					var b []byte
					var err error
					if op%2 == 0 {
						b, err = a.AllocUninit(n)
					} else {
						b, err = a.Alloc(n)
					}
					if errors.Is(err, mmalloc.ErrOutOfMemory) && k.o.Limit > 0 {
						continue
					}
					require.NoError(t, err)
					if op%2 == 1 {
						require.True(t, allZero(b), "Alloc(%d) not zeroed", n)
					}
					seed := r.Uint64()
					fill(b, seed)
					objs = append(objs, liveObj{b, seed})
				default:
					j := r.IntN(len(objs))
					require.NoError(t, a.Free(objs[j].b))
					objs[j] = objs[len(objs)-1]
					objs = objs[:len(objs)-1]
				}
				if i%(ops/10) == 0 {
					verify()
				}
			}
			verify()
			for _, o := range objs {
				require.NoError(t, a.Free(o.b))
			}
			require.NoError(t, a.Trim())
			require.NoError(t, a.Validate())
			assert.Zero(t, a.Stats().Mapped)
			if f := a.File(); f != nil {
				assert.Zero(t, fileBlocks(t, f), "no resident page left in the file")
			}
		})
	}
}

// TestMappingKindsConcurrent has goroutines allocate, check and free at
// once on a Shared Allocator and on one past its reservation: the
// reservation's free list is shared by every mapping path.
func TestMappingKindsConcurrent(t *testing.T) {
	rounds := 3000
	if testing.Short() {
		rounds = 500
	}
	for _, k := range []int{0, 6} {
		t.Run(mappingKinds[k].name, func(t *testing.T) {
			a := newAlloc(t, mappingKinds[k].o)
			errc := make(chan error, 4)
			for w := range 4 {
				go func() {
					errc <- func() error {
						r := rand.New(rand.NewPCG(uint64(w), 7))
						var mine []liveObj
						for range rounds {
							if len(mine) < 32 || r.IntN(2) == 0 {
								b, err := a.Alloc(randSize(r))
								if errors.Is(err, mmalloc.ErrOutOfMemory) {
									continue
								}
								if err != nil {
									return err
								}
								o := liveObj{b, r.Uint64()}
								fill(o.b, o.seed)
								mine = append(mine, o)
								continue
							}
							j := r.IntN(len(mine))
							if check(mine[j].b, mine[j].seed) != -1 {
								return errors.New("object corrupted")
							}
							if err := a.Free(mine[j].b); err != nil {
								return err
							}
							mine[j] = mine[len(mine)-1]
							mine = mine[:len(mine)-1]
						}
						for _, o := range mine {
							if err := a.Free(o.b); err != nil {
								return err
							}
						}
						return nil
					}()
				}()
			}
			for range 4 {
				require.NoError(t, <-errc)
			}
			require.NoError(t, a.Trim())
			require.NoError(t, a.Validate())
			assert.Zero(t, a.Stats().Mapped)
		})
	}
}

// BenchmarkFreeAcrossChunks frees and reallocates 1 KiB objects that lie
// in 16 different chunks, in turn, so that every Free misses the chunk its
// P's cache remembers and looks the address up: the path a reservation's
// one contiguous range could shorten.
func BenchmarkFreeAcrossChunks(b *testing.B) {
	for _, k := range []struct {
		name string
		o    mmalloc.Options
	}{{"private", mmalloc.Options{ChunkBytes: mib}}, {"reserve", mmalloc.Options{ChunkBytes: mib, Reserve: 1 << 30}}} {
		b.Run(k.name, func(b *testing.B) {
			a := newAlloc(b, k.o)
			const chunks = 16
			var objs [chunks][]byte
			seen := map[uintptr]bool{}
			var fillers [][]byte
			for n := 0; n < chunks; {
				x, err := a.Alloc(kib)
				require.NoError(b, err)
				if c := addr(x) / mib; !seen[c] {
					seen[c] = true
					objs[n] = x
					n++
					continue
				}
				fillers = append(fillers, x)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				j := i % chunks
				if err := a.Free(objs[j]); err != nil {
					b.Fatal(err)
				}
				x, err := a.Alloc(kib)
				if err != nil {
					b.Fatal(err)
				}
				objs[j] = x
			}
			b.StopTimer()
			for _, x := range append(fillers, objs[:]...) {
				require.NoError(b, a.Free(x))
			}
		})
	}
}
