package httpmem_test

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mmalloc/mmalloc"
	"github.com/mmalloc/mmalloc/httpmem"
)

var _ httputil.BufferPool = (*httpmem.BufferPool)(nil)

func newAlloc(t *testing.T, o mmalloc.Options) *mmalloc.Allocator {
	t.Helper()
	a, err := mmalloc.New(o)
	require.NoError(t, err)
	t.Cleanup(func() { _ = a.Close() })
	return a
}

// TestGetPut: Get gives a buffer of the pool's size off the Go heap, Put
// gives it back; a bad Put is counted and changes nothing; a refused Get
// is nil and counted.
func TestGetPut(t *testing.T) {
	a := newAlloc(t, mmalloc.Options{})
	for _, size := range []int{0, 1, 4096, 32 << 10, 1 << 20} {
		p := httpmem.NewBufferPool(a, size)
		b := p.Get()
		want := size
		if size == 0 {
			want = httpmem.DefaultBufferBytes
		}
		require.Len(t, b, want)
		assert.Equal(t, a.UsableSize(want), cap(b))
		assert.Equal(t, int64(1), a.Stats().Live)
		p.Put(b)
		assert.Zero(t, a.Stats().Live)
		p.Put(b)
		p.Put(make([]byte, 10))
		p.Put(nil)
		assert.Equal(t, int64(2), p.BadPuts())
	}
	small := newAlloc(t, mmalloc.Options{Limit: 1 << 20})
	p := httpmem.NewBufferPool(small, 4<<20)
	assert.Nil(t, p.Get())
	assert.Equal(t, int64(1), p.Failed())
	var zero httpmem.BufferPool
	assert.Nil(t, zero.Get())
}

// TestReverseProxy: a ReverseProxy on loopback copies bodies through the
// pool, byte for byte, and every buffer goes back.
func TestReverseProxy(t *testing.T) {
	a := newAlloc(t, mmalloc.Options{})
	sizes := []int{0, 1, 32<<10 - 1, 32 << 10, 1<<20 + 7}
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var n int
		fmt.Sscan(r.URL.Query().Get("n"), &n)
		w.Write(body(n))
	}))
	defer backend.Close()
	u, err := url.Parse(backend.URL)
	require.NoError(t, err)
	proxy := httputil.NewSingleHostReverseProxy(u)
	pool := httpmem.NewBufferPool(a, 0)
	proxy.BufferPool = pool
	front := httptest.NewServer(proxy)
	defer front.Close()
	for _, n := range sizes {
		resp, err := http.Get(fmt.Sprintf("%s/?n=%d", front.URL, n))
		require.NoError(t, err)
		got, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, sha256.Sum256(body(n)), sha256.Sum256(got), "%d bytes", n)
	}
	front.Close()
	assert.Zero(t, pool.BadPuts())
	assert.Zero(t, pool.Failed())
	assert.Positive(t, a.Stats().Allocs, "the proxy used the pool")
	assert.Zero(t, a.Stats().Live)
}

func body(n int) []byte { return bytes.Repeat([]byte("0123456789abcdef"), n/16+1)[:n] }

// TestNil: a nil pool's Get is nil and its Put does nothing.
func TestNil(t *testing.T) {
	var p *httpmem.BufferPool
	assert.Nil(t, p.Get())
	assert.NotPanics(t, func() { p.Put([]byte{1}) })
	assert.Zero(t, p.Failed()+p.BadPuts())
}
