package integration

import (
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mmalloc/mmalloc"
	"github.com/mmalloc/mmalloc/httpmem"
)

var _ httputil.BufferPool = (*httpmem.BufferPool)(nil)

// body returns the n bytes the backend serves for n: a pattern that
// differs at every offset modulo 251.
func body(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i % 251)
	}
	return b
}

// TestReverseProxyBodies: a real ReverseProxy on loopback, its buffers
// from httpmem, serves bodies from 0 B to 64 MiB, sequentially and four
// at a time, each byte for byte; at the end every buffer is back:
// Stats().Live == 0.
func TestReverseProxyBodies(t *testing.T) {
	a, err := mmalloc.New(mmalloc.Options{})
	require.NoError(t, err)
	defer a.Close()
	sizes := []int{0, 1, 100, 32<<10 - 1, 32 << 10, 32<<10 + 1, 1 << 20, 10<<20 + 3, 64 << 20}
	sums := map[int][32]byte{}
	for _, n := range sizes {
		sums[n] = sha256.Sum256(body(n))
	}
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = w.Write(body(n))
	}))
	defer backend.Close()
	u, err := url.Parse(backend.URL)
	require.NoError(t, err)
	proxy := httputil.NewSingleHostReverseProxy(u)
	pool := httpmem.NewBufferPool(a, 32<<10)
	proxy.BufferPool = pool
	front := httptest.NewServer(proxy)
	defer front.Close()

	get := func(n int) error {
		resp, err := http.Get(fmt.Sprintf("%s/?n=%d", front.URL, n))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		h := sha256.New()
		got, err := io.Copy(h, resp.Body)
		if err != nil {
			return err
		}
		if got != int64(n) || [32]byte(h.Sum(nil)) != sums[n] {
			return fmt.Errorf("%d bytes asked, %d received, checksum match %v", n, got, [32]byte(h.Sum(nil)) == sums[n])
		}
		return nil
	}
	for _, n := range sizes {
		require.NoError(t, get(n))
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i, n := range sizes {
				if (i+g)%2 == 0 {
					assert.NoError(t, get(n))
				}
			}
		}()
	}
	wg.Wait()
	front.Close() // every handler has returned, and put its buffer back
	st := a.Stats()
	assert.Positive(t, st.Allocs, "the proxy took its buffers from the pool")
	assert.Zero(t, st.Live, "every buffer went back")
	assert.Zero(t, pool.BadPuts())
	assert.Zero(t, pool.Failed())
}
