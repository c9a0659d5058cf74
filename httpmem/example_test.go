package httpmem_test

import (
	"fmt"
	"net/http/httputil"
	"net/url"

	"github.com/mmalloc/mmalloc"
	"github.com/mmalloc/mmalloc/httpmem"
)

// A ReverseProxy takes the pool in one line; it Gets a buffer per body
// copied and Puts it back.
func Example() {
	a, err := mmalloc.New(mmalloc.Options{})
	if err != nil {
		panic(err)
	}
	defer a.Close()
	backend, _ := url.Parse("http://127.0.0.1:8080")
	proxy := httputil.NewSingleHostReverseProxy(backend)
	proxy.BufferPool = httpmem.NewBufferPool(a, 32<<10)

	buf := proxy.BufferPool.Get() // what the proxy does for each body
	fmt.Println(len(buf), a.Stats().Live)
	proxy.BufferPool.Put(buf)
	fmt.Println(a.Stats().Live)
	// Output:
	// 32768 1
	// 0
}
