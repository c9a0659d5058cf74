package mmalloc_test

// Long and concurrent runs across the whole allocator: the property
// test, the concurrent stress and the soak (make soak).

import (
	"errors"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mmalloc/mmalloc"
	"github.com/mmalloc/mmalloc/internal/testutil"
)

type liveObj struct {
	b    []byte
	seed uint64
}

// TestProperty runs a long random mix of Alloc, AllocUninit and Free over all
// classes and large sizes. Every live object holds its own pattern up to cap;
// every check verifies all of them, and that none overlap. It runs 1,000,000
// operations (the Makefile's fullsize target runs it so, without -race),
// 300,000 under the race detector and 50,000 with -short.
func TestProperty(t *testing.T) {
	ops := claimSize(t, 1_000_000, 300_000)
	if testing.Short() {
		ops = 50_000
	}
	r := rand.New(rand.NewPCG(1, 2))
	a := newAlloc(t, mmalloc.Options{})
	var objs []liveObj
	verify := func() {
		for _, o := range objs {
			require.Equal(t, -1, check(o.b, o.seed), "object of %d bytes corrupted", cap(o.b))
		}
		verifyNoOverlap(t, objs)
		require.NoError(t, a.Validate())
		s := a.Stats()
		require.Equal(t, int64(len(objs)), s.Live)
		var inUse int64
		for _, o := range objs {
			inUse += int64(cap(o.b))
		}
		require.Equal(t, inUse, s.InUse)
	}
	for i := range ops {
		// Keep the live set around 2,000 objects with a drift.
		if len(objs) < 2000 && r.IntN(2) == 0 || len(objs) == 0 {
			n := randSize(r)
			var b []byte
			var err error
			if r.IntN(4) == 0 {
				b, err = a.AllocUninit(n)
			} else {
				b, err = a.Alloc(n)
				require.True(t, allZero(b), "Alloc(%d) not zeroed", n)
			}
			require.NoError(t, err)
			require.Len(t, b, n)
			seed := r.Uint64()
			fill(b, seed)
			objs = append(objs, liveObj{b, seed})
		} else {
			k := r.IntN(len(objs))
			o := objs[k]
			require.Equal(t, -1, check(o.b, o.seed), "object corrupted before free")
			require.NoError(t, a.Free(o.b))
			objs[k] = objs[len(objs)-1]
			objs = objs[:len(objs)-1]
		}
		if i%(ops/20) == 0 {
			verify()
		}
	}
	verify()
	for _, o := range objs {
		require.NoError(t, a.Free(o.b))
	}
	require.NoError(t, a.Trim())
	s := a.Stats()
	assert.Zero(t, s.Mapped)
	assert.Zero(t, s.Live)
	assert.Equal(t, s.Allocs, s.Frees)
}

// TestConcurrentStress has 8 goroutines allocate, check and free, handing a
// share of their objects to a neighbour to free.
func TestConcurrentStress(t *testing.T) {
	const workers = 8
	rounds := 20_000
	if testing.Short() {
		rounds = 2_000
	}
	a := newAlloc(t, mmalloc.Options{})
	handoff := make([]chan liveObj, workers)
	for i := range handoff {
		handoff[i] = make(chan liveObj, 256)
	}
	var wg sync.WaitGroup
	errc := make(chan string, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 99))
			var mine []liveObj
			fail := func(msg string) { errc <- msg }
			drain := func() bool {
				for {
					select {
					case o := <-handoff[w]:
						if check(o.b, o.seed) != -1 {
							fail("handed-off object corrupted")
							return false
						}
						if err := a.Free(o.b); err != nil {
							fail("cross-goroutine free: " + err.Error())
							return false
						}
					default:
						return true
					}
				}
			}
			for range rounds {
				if len(mine) < 64 || r.IntN(2) == 0 {
					n := randSize(r)
					if r.IntN(10) == 0 {
						n = 1 + r.IntN(64)
					}
					b, err := a.Alloc(n)
					if err != nil {
						fail(err.Error())
						return
					}
					if !allZero(b) {
						fail("not zeroed")
						return
					}
					seed := r.Uint64()
					fill(b, seed)
					mine = append(mine, liveObj{b, seed})
				} else {
					k := r.IntN(len(mine))
					o := mine[k]
					mine[k] = mine[len(mine)-1]
					mine = mine[:len(mine)-1]
					if check(o.b, o.seed) != -1 {
						fail("object corrupted")
						return
					}
					if r.IntN(3) == 0 {
						select {
						case handoff[(w+1)%workers] <- o:
							continue
						default:
						}
					}
					if err := a.Free(o.b); err != nil {
						fail(err.Error())
						return
					}
				}
				if !drain() {
					return
				}
			}
			for _, o := range mine {
				if err := a.Free(o.b); err != nil {
					fail(err.Error())
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	for msg := range errc {
		t.Error(msg)
	}
	for _, ch := range handoff {
		close(ch)
		for o := range ch {
			require.Equal(t, -1, check(o.b, o.seed))
			require.NoError(t, a.Free(o.b))
		}
	}
	require.NoError(t, a.Validate())
	s := a.Stats()
	assert.Zero(t, s.Live)
	assert.Equal(t, s.Allocs, s.Frees)
	require.NoError(t, a.Trim())
	assert.Zero(t, a.Stats().Mapped)
}

// soakEnv names the variable that turns the soak test on and gives its
// duration (time.ParseDuration syntax): MMALLOC_SOAK=60s go test -run Soak.
const soakEnv = "MMALLOC_SOAK"

// soakLeakEnv, set to N, makes the soak skip one Free in N on purpose (the
// buffer is dropped, never freed): the leak the soak must catch.
const soakLeakEnv = "MMALLOC_SOAK_LEAK"

var errChanged = errors.New("a live buffer changed")

// Soak parameters: each worker keeps about soakLiveBuffers buffers of
// randSize sizes (about 21 KiB on average, so some 80 MiB live in all),
// replacing one at random per step, and hands one free in eight to its
// neighbour.
const (
	soakWorkers     = 4
	soakLiveBuffers = 1000

	// soakWarmOps: the soak is warm once each worker has filled its live
	// set and replaced it some 25 times over: slabs, chunks, kept mappings
	// and the retention budget have reached the shape they keep (in a
	// quiet 30 s soak here, the mapped bytes stop climbing after some
	// 80,000 operations).
	soakWarmOps = 25 * soakWorkers * soakLiveBuffers

	// soakSamples is how many samples the duration is cut into; at least
	// soakMinWarmSamples must be taken once warm, and at least
	// soakMinOps operations run: a soak on a machine too slow for them
	// runs on past its duration (up to soakMaxStretch times it).
	soakSamples        = 30
	soakMinWarmSamples = 12
	soakMinOps         = 4 * soakWarmOps
	soakMaxStretch     = 6

	// soakSlackBytes is how far the overhead — what is mapped (or
	// resident) beyond the bytes the test holds — may grow from the first
	// half of the warm samples to the second, at least: a tenth of the
	// first half's peak if more. The overhead is retained memory (64 MiB
	// at most), the per-P caches, and the free room of partly used slabs
	// and chunks; it wanders as large buffers come and go, but does not
	// grow. The final RSS may pass the starting one by as much.
	soakSlackBytes = 16 << 20
)

// soakSample is one look at the Allocator with every worker parked.
type soakSample struct {
	at                 time.Duration
	ops                int64
	held, heldBytes    int64 // buffers the test holds (live sets and handoffs), and their caps
	live, mapped       int64 // from Stats
	rss, goRuntime     int64 // the process's RSS and the Go runtime's own share, beyond the start
	leaked             int64 // frees skipped on purpose so far
	mappedOver, rssOff int64 // mapped - heldBytes; rss - goRuntime (the off-heap RSS)
}

// TestSoak runs a mixed, cross-goroutine workload — Allocator and Cache
// calls, small and large sizes, Reallocs, frees handed to other
// goroutines, a Trim now and then — for the duration in MMALLOC_SOAK, and
// samples it with every worker parked and its Cache flushed, so that the
// figures are exact:
//
//   - at every sample, Stats' Live equals the buffers the test holds:
//     a single Free lost, or one too many, fails the soak;
//   - once warm (soakWarmOps operations), what is mapped beyond the bytes
//     held does not grow: its peak over the second half of the warm
//     samples is at most its peak over the first half plus the slack;
//   - the off-heap RSS (the process's, less the Go runtime's own memory)
//     stays within what is mapped, and its overhead beyond the bytes held
//     does not grow either;
//   - at least soakMinOps operations and soakMinWarmSamples warm samples
//     ran (a slow machine stretches the soak until they have);
//   - after everything is freed and trimmed, nothing is mapped and the RSS
//     is back at its start.
//
// None of it depends on time: a CPU burner beside it changes how many
// operations a second run, not what the figures must be.
func TestSoak(t *testing.T) {
	env := os.Getenv(soakEnv)
	if env == "" {
		t.Skipf("set %s to a duration (e.g. %s=60s) to run the soak test", soakEnv, soakEnv)
	}
	dur, err := time.ParseDuration(env)
	require.NoError(t, err, soakEnv)
	leakEvery := 0
	if s := os.Getenv(soakLeakEnv); s != "" {
		leakEvery, err = strconv.Atoi(s)
		require.NoError(t, err, soakLeakEnv)
		t.Logf("soak: skipping one Free in %d on purpose", leakEvery)
	}
	skipWithInvariants(t, "every call runs validate, whose garbage counts in the RSS")

	runtime.GC()
	debug.FreeOSMemory()
	start, goStart := testutil.RSS(t), goRuntimeBytes()
	a := newAlloc(t, mmalloc.Options{})

	type buf struct {
		b    []byte
		seed uint64
	}
	handoff := make([]chan buf, soakWorkers)
	for i := range handoff {
		handoff[i] = make(chan buf, 1024)
	}
	var (
		stop                    atomic.Bool
		ops, leaked             atomic.Int64
		inFlight, inFlightBytes atomic.Int64 // buffers in the handoff channels
		wg                      sync.WaitGroup
		pauseReq                atomic.Bool
		resume                  chan struct{} // written before pauseReq is set
		parkMu                  sync.Mutex
		parkCond                = sync.NewCond(&parkMu)
		parkedN, exitedN        int // workers parked for this sample, and gone; protected by parkMu
		heldBy, heldBytesBy     [soakWorkers]int64
		errc                    = make(chan error, soakWorkers)
		leftovers               = make([][]buf, soakWorkers)
	)
	for w := range soakWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { // a worker gone can no longer park: the sampler must not wait for it
				parkMu.Lock()
				exitedN++
				parkCond.Broadcast()
				parkMu.Unlock()
			}()
			r := rand.New(rand.NewPCG(uint64(w), 77))
			useCache := w%2 == 1
			c := a.NewCache()
			defer c.Flush()
			alloc, free := a.Alloc, a.Free
			if useCache {
				alloc, free = c.Alloc, c.Free
			}
			live := make([]buf, 0, soakLiveBuffers)
			fail := func(err error) { errc <- err; stop.Store(true) }
			giveBack := func(o buf) bool { // Free, or drop it when a leak is asked for
				if leakEvery > 0 && r.IntN(leakEvery) == 0 {
					leaked.Add(1)
					return true
				}
				if err := free(o.b); err != nil {
					fail(err)
					return false
				}
				return true
			}
			take := func() bool { // free what neighbours handed over
				for {
					select {
					case o := <-handoff[w]:
						inFlight.Add(-1)
						inFlightBytes.Add(-int64(cap(o.b)))
						if check(o.b, o.seed) != -1 {
							fail(errChanged)
							return false
						}
						if !giveBack(o) {
							return false
						}
					default:
						return true
					}
				}
			}
			park := func() {
				c.Flush()
				var n, bytes int64
				for _, o := range live {
					n, bytes = n+1, bytes+int64(cap(o.b))
				}
				heldBy[w], heldBytesBy[w] = n, bytes
				wait := resume
				parkMu.Lock()
				parkedN++
				parkCond.Broadcast()
				parkMu.Unlock()
				<-wait
			}
			for i := uint64(0); !stop.Load(); i++ {
				if pauseReq.Load() {
					park()
					continue
				}
				if !take() {
					return
				}
				if len(live) == soakLiveBuffers {
					k := r.IntN(len(live))
					o := live[k]
					live[k] = live[len(live)-1]
					live = live[:len(live)-1]
					if check(o.b, o.seed) != -1 {
						fail(errChanged)
						return
					}
					ops.Add(1)
					if r.IntN(16) == 0 { // resize it instead: a move, or mremap
						nb, err := a.Realloc(o.b, randSize(r))
						if err != nil {
							fail(err)
							return
						}
						if keep := min(len(o.b), len(nb)) &^ 7; check(nb[:keep:keep], o.seed) != -1 {
							fail(errChanged)
							return
						}
						seed := uint64(w)<<56 | i
						fill(nb, seed)
						live = append(live, buf{nb, seed})
						continue
					}
					if r.IntN(8) == 0 {
						select {
						case handoff[(w+1)%soakWorkers] <- o:
							inFlight.Add(1)
							inFlightBytes.Add(int64(cap(o.b)))
							continue
						default:
						}
					}
					if !giveBack(o) {
						return
					}
					continue
				}
				b, err := alloc(randSize(r))
				if err != nil {
					fail(err)
					return
				}
				seed := uint64(w)<<56 | i
				fill(b, seed)
				live = append(live, buf{b, seed})
				if ops.Add(1)%200_000 == 0 {
					if err := a.Trim(); err != nil {
						fail(err)
						return
					}
				}
			}
			leftovers[w] = live
		}()
	}

	// sample parks every worker, reads the figures, and lets them go on.
	sample := func(at time.Duration) soakSample {
		resume = make(chan struct{})
		pauseReq.Store(true)
		parkMu.Lock()
		for parkedN+exitedN < soakWorkers {
			parkCond.Wait()
		}
		parkedN = 0
		parkMu.Unlock()
		s := soakSample{at: at, ops: ops.Load(), leaked: leaked.Load(),
			held: inFlight.Load(), heldBytes: inFlightBytes.Load()}
		for w := range soakWorkers {
			s.held += heldBy[w]
			s.heldBytes += heldBytesBy[w]
		}
		st := a.Stats()
		s.live, s.mapped = st.Live, st.Mapped
		s.rss, s.goRuntime = testutil.RSS(t)-start, goRuntimeBytes()-goStart
		s.mappedOver, s.rssOff = s.mapped-s.heldBytes, s.rss-max(s.goRuntime, 0)
		pauseReq.Store(false)
		close(resume)
		return s
	}

	var samples []soakSample
	warmAt := -1
	began := time.Now()
	tick := time.NewTicker(dur / soakSamples)
	for !stop.Load() {
		<-tick.C
		s := sample(time.Since(began))
		samples = append(samples, s)
		if warmAt < 0 && s.ops >= soakWarmOps {
			warmAt = len(samples)
		}
		if s.live != s.held { // a lost Free: no need to go on
			break
		}
		enough := warmAt >= 0 && len(samples)-warmAt >= soakMinWarmSamples && s.ops >= soakMinOps
		if s.at >= dur && enough || s.at >= soakMaxStretch*dur {
			break
		}
	}
	tick.Stop()
	stop.Store(true)
	wg.Wait()
	close(errc)
	for err := range errc {
		require.NoError(t, err)
	}
	for _, x := range samples {
		t.Logf("soak %6.1fs: %8d ops, %5d held (%4d MiB) = Live %5d, leaked %d; mapped %4d MiB (+%3d MiB); RSS %+5d MiB (Go %+4d MiB, off-heap %+5d MiB)",
			x.at.Seconds(), x.ops, x.held, x.heldBytes>>20, x.live, x.leaked, x.mapped>>20, x.mappedOver>>20, x.rss>>20, x.goRuntime>>20, x.rssOff>>20)
	}
	for _, x := range samples {
		require.Equal(t, x.held, x.live, "at %.1fs: Live must equal the buffers held (%d frees skipped on purpose)", x.at.Seconds(), x.leaked)
	}
	last := samples[len(samples)-1]
	require.GreaterOrEqual(t, last.ops, int64(soakMinOps), "too few operations ran")
	require.True(t, warmAt >= 0, "never warm")
	warm := samples[warmAt:]
	require.GreaterOrEqual(t, len(warm), soakMinWarmSamples, "too few warm samples")
	half := len(warm) / 2
	peak := func(xs []soakSample, f func(soakSample) int64) (m int64) {
		m = f(xs[0])
		for _, x := range xs {
			m = max(m, f(x))
		}
		return m
	}
	flat := func(what string, f func(soakSample) int64) {
		first, second := peak(warm[:half], f), peak(warm[half:], f)
		t.Logf("soak: %s beyond the bytes held peaks at %d MiB in the first half, %d MiB in the second", what, first>>20, second>>20)
		assert.LessOrEqual(t, second, first+max(soakSlackBytes, first/10), "%s kept growing once warm", what)
	}
	flat("mapped", func(x soakSample) int64 { return x.mappedOver })
	flat("off-heap RSS", func(x soakSample) int64 { return x.rssOff - x.heldBytes })
	for _, x := range warm {
		assert.LessOrEqual(t, x.rssOff, x.mapped+soakSlackBytes, "at %.1fs: more off-heap memory resident than mapped", x.at.Seconds())
	}

	for w := range soakWorkers { // what is left in flight and in hand
		for len(handoff[w]) > 0 {
			b := <-handoff[w]
			require.Equal(t, -1, check(b.b, b.seed))
			require.NoError(t, a.Free(b.b))
		}
		for _, o := range leftovers[w] {
			require.Equal(t, -1, check(o.b, o.seed))
			require.NoError(t, a.Free(o.b))
		}
	}
	leftovers = nil
	require.NoError(t, a.Trim())
	require.NoError(t, a.Validate())
	s := a.Stats()
	runtime.GC()
	debug.FreeOSMemory()
	end := (testutil.RSS(t) - start) - (goRuntimeBytes() - goStart)
	t.Logf("soak: %d operations in %v; after Free of everything and Trim: off-heap RSS %+d MiB, mapped %d B", last.ops, last.at.Round(time.Second), end>>20, s.Mapped)
	assert.Zero(t, s.Live, "everything freed")
	assert.Zero(t, s.Mapped, "everything unmapped after the final Trim")
	assert.Less(t, end, int64(soakSlackBytes), "off-heap RSS back at the start after the final Trim")
}
