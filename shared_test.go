package mmalloc_test

// Shared memory (Options.Shared, OpenShared, a child mapping the file)
// and reservations (Options.Reserve), of shared.go.

import (
	"bufio"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/mmalloc/mmalloc"
	"github.com/mmalloc/mmalloc/internal/testutil"
	"github.com/mmalloc/mmalloc/slab"
)

// reservationMaps sums the bytes of a's reservation by protection, and
// returns its lines of /proc/self/maps.
func reservationMaps(t *testing.T, a *mmalloc.Allocator) (byPerms map[string]int64, lines []string) {
	t.Helper()
	base, bytes := a.ReservationForTest()
	require.NotZero(t, bytes)
	byPerms = map[string]int64{}
	for _, m := range testutil.MapsIn(t, base, base+bytes) {
		lo, hi := max(m.Lo, base), min(m.Hi, base+bytes)
		byPerms[m.Perms] += int64(hi - lo)
		lines = append(lines, m.Line)
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
	t.Logf("after New: Mapped %d, RSS %d MiB, VmSize %d GiB; maps: %s",
		a.Stats().Mapped, testutil.RSS(t)>>20, testutil.Status(t, "VmSize")>>30, strings.Join(lines, "\n"))

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

// replyKey turns a buffer's seed into the seed of the reply the child
// writes over it.
const replyKey = 0x5EED_0F_C41D

// sharedBuf is a buffer the parent shares: its offset in the file, the
// part of it checked (all of it up to cap, unless a window), its seed.
type sharedBuf struct {
	b    []byte
	off  int64
	seed uint64
}

// TestSharedChild runs a child process (this test binary) that maps the
// memory file of a Shared Allocator and talks with the parent over pipes:
//
//  1. The parent allocates 300 buffers of mixed sizes, small and large,
//     and fills each with its own pattern; the child checks every byte of
//     each (up to cap) and overwrites it with a reply pattern, which the
//     parent checks.
//  2. The parent maps 1.5 GiB more (the file grows past what the child
//     mapped at first): the child reads and answers at both ends of it.
//  3. The parent frees a third of the buffers and trims: the child reads
//     zeros where large ones were, and writes into them; the parent's
//     live buffers are untouched, the ranges map again as zero, it goes on
//     allocating, and its invariants hold.
//  4. Ranges outside the file, negative ones included, get ErrOutOfRange.
//  5. After the parent's Close, the child reads zeros where live buffers were.
func TestSharedChild(t *testing.T) {
	if isChild(t) {
		sharedChild(t)
		return
	}
	a := newAlloc(t, mmalloc.Options{Shared: true})
	r := rand.New(rand.NewPCG(14, 14))
	var bufs []sharedBuf
	for i := range 300 {
		var n int
		switch k := r.IntN(10); {
		case k < 6:
			n = 1 + r.IntN(4096)
		case k < 8:
			n = 4096 + r.IntN(124<<10)
		default:
			n = 128<<10 + 1 + r.IntN(4<<20)
		}
		b, err := a.Alloc(n)
		require.NoError(t, err)
		off, err := a.Offset(b)
		require.NoError(t, err)
		seed := uint64(i) << 32
		fill(b, seed)
		bufs = append(bufs, sharedBuf{b[:cap(b)], off, seed})
	}
	c := startSharedChild(t, a.File())

	for _, x := range bufs {
		c.do(t, "check %d %d %d", x.off, len(x.b), x.seed)
	}
	for _, x := range bufs {
		require.Equal(t, -1, check(x.b, x.seed^replyKey), "reply in the %d-byte buffer at %d", len(x.b), x.off)
	}

	// Growth: past the child's first window (1 GiB).
	huge, err := a.AllocUninit(3 << 29)
	require.NoError(t, err)
	hoff, err := a.Offset(huge)
	require.NoError(t, err)
	for _, at := range []int{0, len(huge) - 4096} {
		w := huge[at : at+4096 : at+4096]
		fill(w, uint64(at))
		c.do(t, "check %d %d %d", hoff+int64(at), 4096, at)
		require.Equal(t, -1, check(w, uint64(at)^replyKey))
	}
	require.NoError(t, a.Free(huge))

	// Freed large buffers read as zero once given back (here by Trim), and
	// a child writing there harms nothing: the parent's live buffers keep
	// their bytes, and a range mapped again reads as zero. A freed small
	// object may share its pages with live ones: the child only reads it.
	var live []sharedBuf
	var freedSmall, freedLarge [][]byte
	for i, x := range bufs {
		switch {
		case i%3 != 0:
			fill(x.b, x.seed)
			live = append(live, x)
			continue
		case len(x.b) > mmalloc.DefaultLargeThreshold:
			c.later(t, "zero %d %d", x.off, len(x.b))
			freedLarge = append(freedLarge, x.b)
		default:
			c.later(t, "read %d %d", x.off, len(x.b))
			freedSmall = append(freedSmall, x.b)
		}
		require.NoError(t, a.Free(x.b))
	}
	require.NotEmpty(t, freedLarge)
	require.NotEmpty(t, freedSmall)
	require.NoError(t, a.Trim())
	c.flush(t)
	for _, x := range live {
		require.Equal(t, -1, check(x.b, x.seed), "a live buffer changed")
	}
	var again [][]byte
	for _, old := range freedLarge {
		b, err := a.Alloc(len(old))
		require.NoError(t, err)
		require.True(t, allZero(b), "a range the child wrote into while free is mapped again as zero")
		again = append(again, b)
	}
	for _, b := range again {
		require.NoError(t, a.Free(b))
	}
	for range 100 {
		b, err := a.Alloc(1 + r.IntN(256<<10))
		require.NoError(t, err)
		require.NoError(t, a.Free(b))
	}
	require.NoError(t, a.Validate())

	size, err := fileSize(a.File())
	require.NoError(t, err)
	for _, rg := range [][2]int64{{size, 1}, {size - 1, 2}, {-1, 1}, {0, -1}, {1 << 62, 1 << 62}} {
		c.do(t, "range %d %d", rg[0], rg[1])
	}

	require.NoError(t, a.Close())
	for _, x := range live {
		c.do(t, "zero %d %d", x.off, len(x.b))
	}
	c.quit(t)
}

// sharedProc is the child process of TestSharedChild and its pipes.
type sharedProc struct {
	cmd     *exec.Cmd
	out     *strings.Builder
	cmds    *os.File
	replies *bufio.Scanner
	queued  []string // commands noted, not sent yet
}

// startSharedChild starts t again in a child process (childCommand), with
// mem as its fd 3, the pipe of commands as fd 4 and that of replies as 5.
func startSharedChild(t *testing.T, mem *os.File) *sharedProc {
	t.Helper()
	require.NotNil(t, mem)
	cmdR, cmdW, err := os.Pipe()
	require.NoError(t, err)
	repR, repW, err := os.Pipe()
	require.NoError(t, err)
	c := &sharedProc{out: &strings.Builder{}, cmds: cmdW, replies: bufio.NewScanner(repR)}
	c.cmd = childCommand(t.Name())
	c.cmd.ExtraFiles = []*os.File{mem, cmdR, repW} // fds 3, 4, 5
	c.cmd.Stdout, c.cmd.Stderr = c.out, c.out
	require.NoError(t, c.cmd.Start())
	_ = cmdR.Close()
	_ = repW.Close()
	t.Cleanup(func() {
		_ = cmdW.Close()
		_ = repR.Close()
		if c.cmd.ProcessState == nil {
			_ = c.cmd.Process.Kill()
			_ = c.cmd.Wait()
		}
	})
	return c
}

// do sends one command and requires the child's "ok".
func (c *sharedProc) do(t *testing.T, format string, args ...any) {
	t.Helper()
	c.later(t, format, args...)
	c.flush(t)
}

// later notes a command for the next flush.
func (c *sharedProc) later(_ *testing.T, format string, args ...any) {
	c.queued = append(c.queued, fmt.Sprintf(format, args...))
}

// flush sends the noted commands one at a time and requires the child's
// "ok" to each.
func (c *sharedProc) flush(t *testing.T) {
	t.Helper()
	for _, line := range c.queued {
		_, err := fmt.Fprintln(c.cmds, line)
		require.NoError(t, err)
		require.True(t, c.replies.Scan(), "child gave no reply to %q:\n%s", line, c.out)
		require.Equal(t, "ok", c.replies.Text(), "child's reply to %q", line)
	}
	c.queued = c.queued[:0]
}

// quit ends the child and requires its clean exit.
func (c *sharedProc) quit(t *testing.T) {
	t.Helper()
	_, _ = fmt.Fprintln(c.cmds, "quit")
	_ = c.cmds.Close()
	require.NoError(t, c.cmd.Wait(), "child:\n%s", c.out)
	assert.Contains(t, c.out.String(), "child: done")
}

// sharedChild is the child's side: it maps fd 3 and answers the commands
// read from fd 4 on fd 5, one line each, "ok" or what went wrong.
func sharedChild(t *testing.T) {
	v, err := mmalloc.OpenShared(os.NewFile(3, "shared memory"))
	require.NoError(t, err)
	cmds := bufio.NewScanner(os.NewFile(4, "commands"))
	replies := os.NewFile(5, "replies")
	for cmds.Scan() {
		f := strings.Fields(cmds.Text())
		if f[0] == "quit" {
			break
		}
		var args [3]int64
		for i := 1; i < len(f) && i <= len(args); i++ {
			args[i-1], _ = strconv.ParseInt(f[i], 10, 64)
		}
		off, n, seed := args[0], args[1], uint64(args[2])
		_, _ = fmt.Fprintln(replies, childDo(v, f[0], off, int(n), seed))
	}
	require.NoError(t, v.Close())
	require.ErrorIs(t, v.Close(), mmalloc.ErrClosed)
	t.Log("child: done")
}

// childDo runs one command of the child and returns its reply.
func childDo(v *mmalloc.SharedView, op string, off int64, n int, seed uint64) string {
	b, err := v.Bytes(off, n)
	switch op {
	case "range":
		if !errors.Is(err, mmalloc.ErrOutOfRange) || b != nil {
			return fmt.Sprintf("range %d+%d: got %v", off, n, err)
		}
		return "ok"
	case "check", "zero", "read":
		if err != nil {
			return fmt.Sprintf("%s %d+%d: %v", op, off, n, err)
		}
		if len(b) != n || cap(b) != n {
			return fmt.Sprintf("len %d cap %d, want %d", len(b), cap(b), n)
		}
	default:
		return "unknown command " + op
	}
	if op == "read" { // freed, maybe shared with live objects: any bytes
		for _, c := range b {
			readSink ^= c
		}
		return "ok"
	}
	if op == "zero" {
		for i, c := range b {
			if c != 0 {
				return fmt.Sprintf("freed byte %d of %d+%d reads %#x", i, off, n, c)
			}
		}
		fill(b, 0xBAD) // writing into freed memory must harm nothing
		return "ok"
	}
	if at := check(b, seed); at >= 0 {
		return fmt.Sprintf("byte %d of %d+%d differs", at, off, n)
	}
	fill(b, seed^replyKey)
	return "ok"
}

// readSink keeps the child's reads of freed memory from being optimised out.
var readSink byte

// fileSize returns f's size.
func fileSize(f *os.File) (int64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

// fileBlocks returns the bytes of memory f holds.
func fileBlocks(t *testing.T, f *os.File) int64 {
	t.Helper()
	var st unix.Stat_t
	require.NoError(t, unix.Fstat(int(f.Fd()), &st))
	return st.Blocks * 512
}

// TestSharedFileFollowsLiveBytes checks that the memory file holds pages
// only for what is live or kept: freeing everything and trimming leaves it
// without a resident page (st_blocks 0, and SEEK_DATA finds no data), while
// its size stays; without retention a large Free leaves it at once.
func TestSharedFileFollowsLiveBytes(t *testing.T) {
	a := newAlloc(t, mmalloc.Options{Shared: true})
	f := a.File()
	r := rand.New(rand.NewPCG(5, 5))
	var bufs [][]byte
	total := 0
	for total < 64*mib {
		b, err := a.Alloc(randSize(r))
		require.NoError(t, err)
		fill(b, uint64(total))
		total += cap(b)
		bufs = append(bufs, b)
	}
	held := fileBlocks(t, f)
	require.GreaterOrEqual(t, held, int64(total), "every written byte is in the file")
	size, err := fileSize(f)
	require.NoError(t, err)
	for _, b := range bufs {
		require.NoError(t, a.Free(b))
	}
	require.NoError(t, a.Trim())
	assert.Zero(t, a.Stats().Mapped)
	assert.Zero(t, fileBlocks(t, f), "no resident page after Free of everything and Trim")
	_, err = unix.Seek(int(f.Fd()), 0, unix.SEEK_DATA)
	assert.ErrorIs(t, err, unix.ENXIO, "SEEK_DATA finds no data")
	after, err := fileSize(f)
	require.NoError(t, err)
	assert.Equal(t, size, after, "the file never shrinks")
	require.NoError(t, a.Validate())

	b := newAlloc(t, mmalloc.Options{Shared: true, RetainBytes: mmalloc.NoRetain})
	big, err := b.Alloc(8 * mib)
	require.NoError(t, err)
	fill(big, 1)
	require.GreaterOrEqual(t, fileBlocks(t, b.File()), int64(8*mib))
	require.NoError(t, b.Free(big))
	assert.Zero(t, fileBlocks(t, b.File()), "without retention a large Free leaves the file at once")
}

// TestSharedViewInProcess maps the file in the same process: writes
// through either mapping show in the other, and a view opened before the
// file grew reads what was mapped after.
func TestSharedViewInProcess(t *testing.T) {
	a := newAlloc(t, mmalloc.Options{Shared: true})
	v, err := mmalloc.OpenShared(a.File())
	require.NoError(t, err)
	defer v.Close()
	for _, n := range []int{24, 5000, 300 << 10, 40 << 20} {
		b, err := a.Alloc(n)
		require.NoError(t, err)
		off, err := a.Offset(b)
		require.NoError(t, err)
		vb, err := v.Bytes(off, n)
		require.NoError(t, err)
		k := n &^ 7
		fill(b[:k:k], uint64(n))
		require.Equal(t, -1, check(vb[:k:k], uint64(n)), "%d bytes: the view reads the Allocator's writes", n)
		fill(vb[:k:k], uint64(n)+1)
		require.Equal(t, -1, check(b[:k:k], uint64(n)+1), "%d bytes: the Allocator reads the view's writes", n)
		require.NoError(t, a.Free(b))
	}
}

// TestSharedBadCalls: every misuse of File, Offset, OpenShared and
// SharedView gets its sentinel and changes nothing; none faults.
func TestSharedBadCalls(t *testing.T) {
	a := newAlloc(t, mmalloc.Options{Shared: true})
	other := newAlloc(t, mmalloc.Options{Shared: true})
	private := newAlloc(t, mmalloc.Options{})
	small, err := a.Alloc(100)
	require.NoError(t, err)
	large, err := a.Alloc(1 * mib)
	require.NoError(t, err)
	freedSmall, err := a.Alloc(100)
	require.NoError(t, err)
	require.NoError(t, a.Free(freedSmall))
	freedLarge, err := a.Alloc(2 * mib)
	require.NoError(t, err)
	require.NoError(t, a.Free(freedLarge))
	otherBuf, err := other.Alloc(100)
	require.NoError(t, err)
	privBuf, err := private.Alloc(100)
	require.NoError(t, err)
	closed, err := mmalloc.New(mmalloc.Options{Shared: true})
	require.NoError(t, err)
	closedBuf, err := closed.Alloc(100)
	require.NoError(t, err)
	require.NoError(t, closed.Close())

	assert.Nil(t, private.File(), "no file without Shared")
	assert.Nil(t, closed.File(), "no file after Close")
	assert.Nil(t, (&mmalloc.Allocator{}).File(), "no file on the zero Allocator")
	assert.Nil(t, (*mmalloc.Allocator)(nil).File())
	assert.Same(t, a.File(), a.File(), "the same file on every call")

	for _, c := range []struct {
		name string
		a    *mmalloc.Allocator
		b    []byte
		want error
	}{
		{"Go heap", a, make([]byte, 10), mmalloc.ErrForeignPointer},
		{"global", a, globalBuf[:], mmalloc.ErrForeignPointer},
		{"empty", a, []byte{}, mmalloc.ErrForeignPointer},
		{"nil", a, nil, mmalloc.ErrForeignPointer},
		{"another shared allocator", a, otherBuf, mmalloc.ErrForeignPointer},
		{"a private allocator's", a, privBuf, mmalloc.ErrForeignPointer},
		{"interior small", a, small[16:], mmalloc.ErrInvalidPointer},
		{"interior large", a, large[4096:], mmalloc.ErrInvalidPointer},
		{"freed small", a, freedSmall, mmalloc.ErrInvalidPointer},
		{"freed large", a, freedLarge, mmalloc.ErrInvalidPointer},
		{"not shared", private, privBuf, mmalloc.ErrNotShared},
		{"zero Allocator", &mmalloc.Allocator{}, small, mmalloc.ErrUninitialized},
		{"nil Allocator", nil, small, mmalloc.ErrUninitialized},
		{"after Close", closed, closedBuf, mmalloc.ErrClosed},
	} {
		before := a.Stats()
		off, err := c.a.Offset(c.b)
		assert.ErrorIs(t, err, c.want, c.name)
		assert.Zero(t, off, c.name)
		assert.Equal(t, before, a.Stats(), "%s: nothing changed", c.name)
	}
	require.NoError(t, a.Validate())

	plain, err := os.CreateTemp(t.TempDir(), "plain")
	require.NoError(t, err)
	defer plain.Close()
	require.NoError(t, plain.Truncate(1<<20))
	closedFile, err := os.CreateTemp(t.TempDir(), "closed")
	require.NoError(t, err)
	require.NoError(t, closedFile.Close())
	for name, f := range map[string]*os.File{"nil": nil, "regular file": plain, "closed file": closedFile} {
		v, err := mmalloc.OpenShared(f)
		assert.ErrorIs(t, err, mmalloc.ErrNotSharedFile, name)
		assert.Nil(t, v, name)
	}

	v, err := mmalloc.OpenShared(a.File())
	require.NoError(t, err)
	size, err := fileSize(a.File())
	require.NoError(t, err)
	for _, rg := range [][2]int64{{size, 1}, {size - 1, 2}, {-1, 1}, {0, -1}, {1 << 62, 1 << 62}, {-1 << 63, 1}} {
		b, err := v.Bytes(rg[0], int(rg[1]))
		assert.ErrorIs(t, err, mmalloc.ErrOutOfRange, "%d bytes at %d", rg[1], rg[0])
		assert.Nil(t, b)
	}
	b, err := v.Bytes(size, 0)
	require.NoError(t, err, "an empty range at the end")
	assert.Empty(t, b)
	require.NoError(t, v.Close())
	for name, c := range map[string]struct {
		v    *mmalloc.SharedView
		want error
	}{"closed": {v, mmalloc.ErrClosed}, "zero": {&mmalloc.SharedView{}, mmalloc.ErrUninitialized}, "nil": {nil, mmalloc.ErrUninitialized}} {
		_, err := c.v.Bytes(0, 1)
		assert.ErrorIs(t, err, c.want, name)
		assert.ErrorIs(t, c.v.Close(), c.want, name)
	}
	closedFile2 := a.File()
	require.NoError(t, closedFile2.Close(), "a caller may close the file it was given")
	b2, err := a.Alloc(8 * mib)
	require.NoError(t, err, "the Allocator keeps its own descriptor")
	require.NoError(t, a.Free(b2))
}

// TestSharedPeerWritesKeptMemory: another process may write anywhere in
// the memory file, free ranges included; Alloc still returns zeroed
// memory, whatever kind of kept memory it reuses. Each case keeps one
// kind, a peer (a second mapping of the file: writes through it are the
// writes of any other process mapping it) writes a pattern over every
// byte of the file outside the live allocations, and every allocation
// made afterwards must read as zero, while the live ones keep their bytes.
func TestSharedPeerWritesKeptMemory(t *testing.T) {
	// sizes has one request of every size class and a few large ones.
	var sizes []int
	for n := 1; n <= threshold; n = slab.ClassBytes(slab.ClassOf(n)) + 1 {
		sizes = append(sizes, n)
	}
	sizes = append(sizes, threshold+1, mib, 3*mib+5)
	cases := []struct {
		name string
		o    mmalloc.Options
		// keep leaves a kind of kept memory behind, with live beside it;
		// reuse allocates what must reuse it.
		keep  func(t *testing.T, a *mmalloc.Allocator) (live [][]byte)
		reuse []int
	}{
		{"fresh objects of a slab in use", mmalloc.Options{}, func(t *testing.T, a *mmalloc.Allocator) [][]byte {
			return [][]byte{mustAlloc(t, a, 100)}
		}, repeat(100, 100)},
		{"a kept empty slab, after a Cache's Close", mmalloc.Options{}, func(t *testing.T, a *mmalloc.Allocator) [][]byte {
			c := a.NewCache()
			b, err := c.Alloc(100)
			require.NoError(t, err)
			require.NoError(t, c.Free(b))
			require.NoError(t, c.Close())
			return nil
		}, repeat(100, 100)},
		{"free pages of a chunk in use", mmalloc.Options{}, func(t *testing.T, a *mmalloc.Allocator) [][]byte {
			return [][]byte{mustAlloc(t, a, 100)}
		}, sizes},
		{"pages released by Trim", mmalloc.Options{}, func(t *testing.T, a *mmalloc.Allocator) [][]byte {
			live := mustAlloc(t, a, 100)
			for _, n := range sizes {
				b := mustAlloc(t, a, n)
				fill(b, uint64(n))
				require.NoError(t, a.Free(b))
			}
			require.NoError(t, a.Trim())
			return [][]byte{live}
		}, sizes},
		{"a kept empty chunk", mmalloc.Options{ChunkBytes: mib, RetainBytes: mib, DecayTime: -1}, func(t *testing.T, a *mmalloc.Allocator) [][]byte {
			live := mustAlloc(t, a, 4096)
			var bs [][]byte
			for range 8 * mib / 4096 { // past guard mode's quarantine too
				b := mustAlloc(t, a, 4096)
				fill(b, 1)
				bs = append(bs, b)
			}
			for _, b := range bs {
				require.NoError(t, a.Free(b))
			}
			require.Positive(t, a.Stats().EmptyChunks, "a chunk is kept empty")
			return [][]byte{live}
		}, repeat(4096, 8*mib/4096)},
		{"a kept large mapping", mmalloc.Options{}, func(t *testing.T, a *mmalloc.Allocator) [][]byte {
			require.NoError(t, a.Free(mustAlloc(t, a, mib)))
			return nil
		}, []int{mib}},
		{"a range given back to the reservation", mmalloc.Options{RetainBytes: mmalloc.NoRetain}, func(t *testing.T, a *mmalloc.Allocator) [][]byte {
			require.NoError(t, a.Free(mustAlloc(t, a, mib)))
			return nil
		}, []int{mib}},
	}
	for _, guard := range []bool{false, true} {
		for _, c := range cases {
			t.Run(fmt.Sprintf("%s, guard %v", c.name, guard), func(t *testing.T) {
				o := c.o
				o.Shared, o.Guard = true, guard
				a := newAlloc(t, o)
				v, err := mmalloc.OpenShared(a.File())
				require.NoError(t, err)
				defer v.Close()
				live := c.keep(t, a)
				for i, b := range live {
					fill(b, uint64(i))
				}
				peerScribble(t, a, v, live, guard)
				for i, n := range c.reuse {
					b, err := a.Alloc(n)
					require.NoError(t, err)
					require.True(t, allZero(b), "request %d: Alloc(%d) returns what the peer wrote while the memory was kept", i, n)
				}
				cc := a.NewCache()
				for i, n := range c.reuse {
					b, err := cc.Alloc(n)
					require.NoError(t, err)
					require.True(t, allZero(b), "request %d: Cache.Alloc(%d) returns what the peer wrote", i, n)
				}
				for i, b := range live {
					require.Equal(t, -1, check(b, uint64(i)), "a live allocation keeps its bytes")
				}
				require.NoError(t, a.Validate())
			})
		}
	}
}

// mustAlloc is Alloc(n), required to succeed.
func mustAlloc(t *testing.T, a *mmalloc.Allocator, n int) []byte {
	t.Helper()
	b, err := a.Alloc(n)
	require.NoError(t, err)
	return b
}

// repeat returns k copies of n.
func repeat(n, k int) []int {
	s := make([]int, k)
	for i := range s {
		s[i] = n
	}
	return s
}

// peerScribble writes a non-zero pattern through v over every byte of a's
// memory file but those of the live allocations (in guard mode, with the
// canary bytes after them, which only the Allocator's own checks read).
func peerScribble(t *testing.T, a *mmalloc.Allocator, v *mmalloc.SharedView, live [][]byte, guard bool) {
	t.Helper()
	size, err := fileSize(a.File())
	require.NoError(t, err)
	file, err := v.Bytes(0, int(size))
	require.NoError(t, err)
	keep := make([]bool, size)
	for _, b := range live {
		off, err := a.Offset(b)
		require.NoError(t, err)
		n := cap(b)
		if guard && n < threshold {
			n = slab.ClassBytes(slab.ClassOf(n + 1))
		} else if guard {
			n = (n + mmalloc.GuardAlignBytes - 1) &^ (mmalloc.GuardAlignBytes - 1)
		}
		for i := off; i < off+int64(n); i++ {
			keep[i] = true
		}
	}
	for i := range file {
		if !keep[i] {
			file[i] = 0xA5
		}
	}
}

// TestOpenSharedSaysWhatHappened: a memory file OpenShared cannot map for
// writing — sealed against writing, or open read-only — is refused with
// ErrNotSharedFile saying which, not with ErrOutOfMemory; a descriptor
// the process cannot duplicate (at its limit of open files, in a child
// process) returns the errno, not ErrNotSharedFile.
func TestOpenSharedSaysWhatHappened(t *testing.T) {
	sealed := func(seals int) *os.File {
		fd, err := unix.MemfdCreate("sealed", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
		require.NoError(t, err)
		require.NoError(t, unix.Ftruncate(fd, 1<<20))
		_, err = unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, seals)
		require.NoError(t, err)
		f := os.NewFile(uintptr(fd), "sealed")
		t.Cleanup(func() { _ = f.Close() })
		return f
	}
	a := newAlloc(t, mmalloc.Options{Shared: true})
	b, err := a.Alloc(100)
	require.NoError(t, err)
	defer a.Free(b)
	readOnly, err := os.OpenFile(fmt.Sprintf("/proc/self/fd/%d", a.File().Fd()), os.O_RDONLY, 0)
	require.NoError(t, err)
	defer readOnly.Close()

	for name, c := range map[string]struct {
		f    *os.File
		says string
	}{
		"sealed against writing":        {sealed(unix.F_SEAL_SHRINK | unix.F_SEAL_WRITE), "forbid writing"},
		"sealed against future writing": {sealed(unix.F_SEAL_SHRINK | unix.F_SEAL_FUTURE_WRITE), "forbid writing"},
		"open read-only":                {readOnly, "not open for reading and writing"},
	} {
		v, err := mmalloc.OpenShared(c.f)
		assert.Nil(t, v, name)
		assert.ErrorIs(t, err, mmalloc.ErrNotSharedFile, name)
		assert.NotErrorIs(t, err, mmalloc.ErrOutOfMemory, name)
		assert.ErrorContains(t, err, c.says, name)
	}
	v, err := mmalloc.OpenShared(sealed(unix.F_SEAL_SHRINK))
	require.NoError(t, err, "a memory file sealed against shrinking only is mapped")
	require.NoError(t, v.Close())

	inChild(t, func(t *testing.T) {
		a := newAlloc(t, mmalloc.Options{Shared: true})
		var lim unix.Rlimit
		require.NoError(t, unix.Getrlimit(unix.RLIMIT_NOFILE, &lim))
		// The process's limit: 64 descriptors more than it has; then
		// every number below it taken.
		entries, err := os.ReadDir("/proc/self/fd")
		require.NoError(t, err)
		require.NoError(t, unix.Setrlimit(unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: uint64(len(entries) + 64), Max: lim.Max}))
		var fill []*os.File
		for {
			f, err := os.Open(os.DevNull)
			if err != nil {
				require.ErrorIs(t, err, unix.EMFILE)
				break
			}
			fill = append(fill, f)
		}
		v, err := mmalloc.OpenShared(a.File())
		for _, f := range fill {
			require.NoError(t, f.Close())
		}
		require.NoError(t, unix.Setrlimit(unix.RLIMIT_NOFILE, &lim))
		assert.Nil(t, v)
		require.Error(t, err)
		assert.ErrorIs(t, err, unix.EMFILE)
		assert.NotErrorIs(t, err, mmalloc.ErrNotSharedFile)
		assert.ErrorContains(t, err, "descriptor")
	})
}
