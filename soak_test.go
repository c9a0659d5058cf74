package mmalloc_test

import (
	"errors"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mmalloc/mmalloc"
)

// soakEnv names the variable that turns the soak test on and gives its
// duration (time.ParseDuration syntax): MMALLOC_SOAK=60s go test -run Soak.
const soakEnv = "MMALLOC_SOAK"

var errChanged = errors.New("a live buffer changed")

// Soak parameters: each worker keeps about soakLiveBuffers buffers of
// randSize sizes (about 21 KiB on average, so some 80 MiB live in all),
// replacing one at random per step, and hands one free in eight to its
// neighbour. The RSS is sampled soakSamples times.
const (
	soakWorkers     = 4
	soakLiveBuffers = 1000
	soakSamples     = 30
	// soakSlackBytes is how far the final RSS may pass the starting one,
	// and (with a tenth of the first half's peak, if more) how far the
	// second half's peak RSS may pass the first half's after warm-up: the
	// live set swings by some 10% as large buffers come and go, and the Go
	// heap adds its noise. A leak of one buffer in a thousand operations
	// passes that within seconds.
	soakSlackBytes = 16 << 20
)

// TestSoak runs a mixed, cross-goroutine workload — Allocator and Cache
// calls, small and large sizes, Reallocs, frees handed to other
// goroutines, a Trim now and then — for the duration in MMALLOC_SOAK, sampling the RSS. Once
// warm (after the first fifth), the RSS must stay flat: the peak of the
// second half at most the peak of the first half plus soakSlackBytes (or
// a tenth, if more), so that nothing leaks. After everything is freed and trimmed the RSS must
// be back at its start.
func TestSoak(t *testing.T) {
	env := os.Getenv(soakEnv)
	if env == "" {
		t.Skipf("set %s to a duration (e.g. %s=60s) to run the soak test", soakEnv, soakEnv)
	}
	dur, err := time.ParseDuration(env)
	require.NoError(t, err, soakEnv)
	skipWithInvariants(t, "every call runs validate, whose garbage counts in the RSS")

	runtime.GC()
	debug.FreeOSMemory()
	start := rssBytes(t)
	a := newAlloc(t, mmalloc.Options{})

	type buf struct {
		b    []byte
		seed uint64
	}
	handoff := make([]chan buf, soakWorkers)
	for i := range handoff {
		handoff[i] = make(chan buf, 1024)
	}
	var stop atomic.Bool
	var ops atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, soakWorkers)
	leftovers := make([][]buf, soakWorkers)
	for w := range soakWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
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
			take := func() bool { // free what neighbours handed over
				for {
					select {
					case o := <-handoff[w]:
						if check(o.b, o.seed) != -1 {
							fail(errChanged)
							return false
						}
						if err := free(o.b); err != nil {
							fail(err)
							return false
						}
					default:
						return true
					}
				}
			}
			for i := uint64(0); !stop.Load(); i++ {
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
							continue
						default:
						}
					}
					if err := free(o.b); err != nil {
						fail(err)
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

	type sample struct {
		at          time.Duration
		rss, mapped int64
	}
	var samples []sample
	began := time.Now()
	tick := time.NewTicker(dur / soakSamples)
	for !stop.Load() && time.Since(began) < dur {
		<-tick.C
		samples = append(samples, sample{time.Since(began), rssBytes(t) - start, a.Stats().Mapped})
	}
	tick.Stop()
	stop.Store(true)
	wg.Wait()
	close(errc)
	for err := range errc {
		require.NoError(t, err)
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
	end := rssBytes(t) - start

	for _, x := range samples {
		t.Logf("soak %6.1fs: RSS %+5d MiB, mapped %4d MiB", x.at.Seconds(), x.rss>>20, x.mapped>>20)
	}
	t.Logf("soak: %d operations in %v; after Free of everything and Trim: RSS %+d MiB, mapped %d B", ops.Load(), dur, end>>20, s.Mapped)
	require.GreaterOrEqual(t, len(samples), 5)
	warm := samples[len(samples)/5:]
	half := len(warm) / 2
	peak := func(xs []sample) (m int64) {
		for _, x := range xs {
			m = max(m, x.rss)
		}
		return m
	}
	first, second := peak(warm[:half]), peak(warm[half:])
	t.Logf("soak: peak RSS first half %d MiB, second half %d MiB", first>>20, second>>20)
	assert.LessOrEqual(t, second, first+max(soakSlackBytes, first/10), "RSS kept growing once warm")
	assert.Zero(t, s.Mapped, "everything unmapped after the final Trim")
	assert.Less(t, end, int64(soakSlackBytes), "RSS back at the start after the final Trim")
}
