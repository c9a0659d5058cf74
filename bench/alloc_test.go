package main

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// roundTripSizes cover tiny, odd, page-sized and large requests.
var roundTripSizes = []int{1, 16, 100, 4 << 10, 5000, 200 << 10, 1 << 20}

// fill writes a pattern seeded by seed into b.
func fill(b []byte, seed byte) {
	for i := range b {
		b[i] = seed + byte(i*7)
	}
}

// holds reports whether b still holds fill's pattern for seed.
func holds(b []byte, seed byte) bool {
	for i := range b {
		if b[i] != seed+byte(i*7) {
			return false
		}
	}
	return true
}

func TestAdaptersRoundTrip(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.Name, func(t *testing.T) {
			a, err := k.New()
			require.NoError(t, err)
			defer func() { assert.NoError(t, a.Close()) }()
			// Live at once, so overlapping buffers would corrupt a pattern.
			var live [][]byte
			for i, n := range roundTripSizes {
				b, err := a.Alloc(n)
				require.NoError(t, err, "Alloc(%d)", n)
				require.Len(t, b, n)
				fill(b, byte(i))
				live = append(live, b)
			}
			for i, b := range live {
				assert.True(t, holds(b, byte(i)), "size %d overwritten", len(b))
			}
			for _, b := range live {
				require.NoError(t, a.Free(b))
			}
			// Again, after the frees: reused memory must be whole too.
			for _, n := range roundTripSizes {
				b, err := a.Alloc(n)
				require.NoError(t, err)
				require.Len(t, b, n)
				if k.Zeroed {
					assert.Equal(t, make([]byte, n), b, "%s says zeroed: Alloc(%d) after a dirty Free", k.Name, n)
				}
				require.NoError(t, a.Free(b))
			}
			assert.NoError(t, trim(a))
		})
	}
}

func TestAdaptersShared(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.Name, func(t *testing.T) {
			if !k.FreesEach {
				t.Skip("frees all at once")
			}
			a, err := k.New()
			require.NoError(t, err)
			sh := shared(k, a)
			var wg sync.WaitGroup
			for g := range 4 {
				wg.Go(func() {
					h, err := perGoroutine(sh)
					if !assert.NoError(t, err) {
						return
					}
					for i := range 200 {
						b, err := h.Alloc(64 + i)
						if !assert.NoError(t, err) {
							return
						}
						fill(b, byte(g))
						assert.True(t, holds(b, byte(g)))
						assert.NoError(t, h.Free(b))
					}
				})
			}
			wg.Wait()
			assert.NoError(t, sh.Close())
		})
	}
}

func TestPoolClasses(t *testing.T) {
	tests := []struct{ n, shift int }{{1, 4}, {16, 4}, {17, 5}, {100, 7}, {4096, 12}, {4097, 13}}
	for _, tt := range tests {
		assert.Equal(t, tt.shift, poolShift(tt.n), "poolShift(%d)", tt.n)
	}
	p := newPoolAllocator()
	b, err := p.Alloc(100)
	require.NoError(t, err)
	assert.Equal(t, 128, cap(b))
	assert.Error(t, p.Free(make([]byte, 100)), "a buffer that is not a class size is foreign")
	assert.NoError(t, p.Free(b))
	_, err = p.Alloc(0)
	assert.Error(t, err)
}

func TestPoolNoHeapAllocation(t *testing.T) {
	p := newPoolAllocator()
	b, _ := p.Alloc(64)
	p.Free(b)
	allocs := testing.AllocsPerRun(1000, func() {
		b, _ := p.Alloc(64)
		p.Free(b)
	})
	assert.Zero(t, allocs, "sync.Pool Get+Put must not allocate in steady state")
}

func TestLookupKind(t *testing.T) {
	for _, name := range kindNames() {
		k, ok := lookupKind(name)
		assert.True(t, ok)
		assert.Equal(t, name, k.Name)
		assert.NotEmpty(t, k.Doc)
	}
	_, ok := lookupKind("nope")
	assert.False(t, ok)
}
