package heapprof

import (
	"math/rand/v2"
	"runtime"
	"runtime/metrics"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// heapObjectBytes returns the bytes of live objects on the Go heap after
// a collection.
func heapObjectBytes() int64 {
	runtime.GC()
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return int64(s[0].Value.Uint64())
}

// profileSlack is how far above its empty size a Profile whose samples
// were all freed may stay on the Go heap.
const profileSlack = 1 << 20

// TestProfileGivesBackItsPeak: a Profile's live set and filter grow with
// its live samples, and once those are freed its Go memory comes back to
// within profileSlack of where it started, whether they go one by one
// (Drop, Detach) or all at once (DropAll), and for every peak size.
func TestProfileGivesBackItsPeak(t *testing.T) {
	const n = 256 << 10
	for _, how := range []string{"Drop", "Detach", "DropAll"} {
		t.Run(how, func(t *testing.T) {
			p := newProfile(t, 1, 1)
			r := rand.New(rand.NewPCG(1, 2))
			addrs := make([]uintptr, n)
			for i := range addrs {
				addrs[i] = uintptr(r.Uint64N(1<<40)) &^ 15
			}
			p.Record(1<<44, 16) // the bucket exists before the start
			p.Drop(1 << 44)
			start := heapObjectBytes()
			for _, addr := range addrs {
				p.Record(addr, 16)
			}
			peak := heapObjectBytes()
			require.Greater(t, peak-start, int64(8<<20), "the live set and filter of %d samples", n)
			switch how {
			case "Drop":
				for _, addr := range addrs {
					p.Drop(addr)
				}
			case "Detach":
				for _, addr := range addrs {
					p.Detach(addr)
				}
			case "DropAll":
				p.DropAll()
			}
			objects, _ := p.Live()
			require.Zero(t, objects)
			end := heapObjectBytes()
			assert.LessOrEqual(t, end-start, int64(profileSlack),
				"Go heap: %d bytes at the start, %d with %d samples live, %d once all are freed", start, peak, n, end)
			runtime.KeepAlive(addrs)
			runtime.KeepAlive(p)
		})
	}
}

// TestShrinkKeepsEveryLiveSample: when the live set is built anew, every
// sample still live stays in it and in the filter, the filter keeps its
// 256 slots per live sample, and samples recorded afterwards are found.
func TestShrinkKeepsEveryLiveSample(t *testing.T) {
	p := newProfile(t, 1, 1)
	r := rand.New(rand.NewPCG(3, 4))
	live := map[uintptr]bool{}
	for range 100_000 {
		addr := uintptr(r.Uint64N(1<<40)) &^ 15
		live[addr] = true
		p.Record(addr, 16)
	}
	bigFilter := p.kept
	for addr := range live { // map order: random
		if len(live) == 1000 {
			break
		}
		p.Drop(addr)
		delete(live, addr)
	}
	require.NotSame(t, bigFilter, p.kept, "built anew")
	assert.Less(t, p.kept.bits(), bigFilter.bits())
	assert.Same(t, p.kept, p.filter.Load(), "the new filter is published")
	assert.GreaterOrEqual(t, p.kept.bits(), len(live)*slotsPerSample)
	for addr := range live {
		require.True(t, p.MaybeLive(addr), "a live sample is never missed")
	}
	assert.Equal(t, live, keys(p.LiveSet()))
	for range 5000 { // grows again
		addr := uintptr(r.Uint64N(1<<40)) &^ 15
		live[addr] = true
		p.Record(addr, 16)
	}
	for addr := range live {
		require.True(t, p.MaybeLive(addr))
	}
	assert.Equal(t, live, keys(p.LiveSet()))
	assert.Equal(t, int64(100_000+5000), p.Sampled())
}

// TestDropAllSmall: DropAll of a few samples clears their filter bits and
// unpublishes the filter; new samples are found again.
func TestDropAllSmall(t *testing.T) {
	p := newProfile(t, 1, 1)
	for i := range 10 {
		p.Record(uintptr(i+1)<<12, 16)
	}
	p.DropAll()
	assert.Nil(t, p.filter.Load())
	for i := range p.kept.words {
		require.Zero(t, p.kept.words[i].Load(), "every bit cleared")
	}
	assert.Empty(t, p.extra)
	for i := range 10 {
		assert.False(t, p.MaybeLive(uintptr(i+1)<<12))
	}
	p.Record(0x5000, 32)
	assert.True(t, p.MaybeLive(0x5000))
	assert.Equal(t, map[uintptr]int64{0x5000: 32}, p.LiveSet())
	p.DropAll()
	p.DropAll() // nothing live: nothing to do
	objects, _ := p.Live()
	assert.Zero(t, objects)
	for _, r := range p.records() {
		assert.Equal(t, r.allocs, r.frees)
	}
}

func keys(m map[uintptr]int64) map[uintptr]bool {
	k := make(map[uintptr]bool, len(m))
	for addr := range m {
		k[addr] = true
	}
	return k
}
