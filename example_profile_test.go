package mmalloc_test

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/google/pprof/profile"

	"github.com/mmalloc/mmalloc"
)

// loadEntries stands for the code under suspicion: it allocates n
// buffers of 4 KiB.
func loadEntries(a *mmalloc.Allocator, n int) [][]byte {
	entries := make([][]byte, n)
	for i := range entries {
		entries[i], _ = a.Alloc(4096)
	}
	return entries
}

// A heap profile names the functions that allocated what is still live.
// Write it to a file and read it with go tool pprof -top; here it is
// parsed with the pprof package instead. ProfileRate 1 samples every
// allocation, so the figures are exact.
func ExampleAllocator_WriteHeapProfile() {
	a, _ := mmalloc.New(mmalloc.Options{ProfileRate: 1})
	defer a.Close()
	entries := loadEntries(a, 3)
	_ = a.Free(entries[0])

	var buf bytes.Buffer // or a file: go tool pprof -top heap.pb.gz
	if err := a.WriteHeapProfile(&buf); err != nil {
		fmt.Println(err)
		return
	}
	p, _ := profile.Parse(&buf)
	for _, s := range p.Sample {
		fmt.Printf("%s: %d allocated, %d in use (%d bytes)\n",
			s.Location[0].Line[0].Function.Name, s.Value[0], s.Value[2], s.Value[3])
	}
	// Output:
	// github.com/mmalloc/mmalloc_test.loadEntries: 3 allocated, 2 in use (8192 bytes)
}

// firstLines is a TestingT standing for a test's *testing.T: it prints
// the report up to the innermost function of the first call stack (the
// rest depends on where the code lives and what called it).
type firstLines struct{}

func (firstLines) Helper() {}
func (firstLines) Errorf(format string, args ...any) {
	for _, line := range strings.Split(fmt.Sprintf(format, args...), "\n") {
		fmt.Println(line)
		if strings.HasPrefix(line, "\t") {
			return
		}
	}
}

// CheckLeaks fails a test that ends with allocations still live, and says
// where they were made. In a test, pass the *testing.T:
//
//	a, _ := mmalloc.New(mmalloc.Options{ProfileRate: 1})
//	defer a.Close()
//	defer mmalloc.CheckLeaks(t, a)
func ExampleCheckLeaks() {
	a, _ := mmalloc.New(mmalloc.Options{ProfileRate: 1})
	defer a.Close()
	entries := loadEntries(a, 2)
	_ = a.Free(entries[1]) // entries[0] is forgotten

	mmalloc.CheckLeaks(firstLines{}, a)
	// Output:
	// mmalloc: 1 allocation (4096 bytes) still live; allocated at:
	// 4096 bytes in 1 allocation of 4096 bytes, allocated at
	// 	github.com/mmalloc/mmalloc_test.loadEntries
}

// Serve the profiles of the Default Allocator and of every published one
// beside net/http/pprof's, then read one with
// go tool pprof -top http://host/debug/pprof/mmalloc?name=sessions.
func ExampleServeHeapProfile() {
	a, _ := mmalloc.New(mmalloc.Options{ProfileRate: 1})
	defer a.Close()
	name := uniqueName("sessions") // "sessions" in a program; unique per test run here
	if err := a.PublishProfile(name); err != nil {
		fmt.Println(err)
		return
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/mmalloc", mmalloc.ServeHeapProfile)
	server := httptest.NewServer(mux)
	defer server.Close()

	entries := loadEntries(a, 5)
	defer func() {
		for _, e := range entries {
			_ = a.Free(e)
		}
	}()

	resp, err := http.Get(server.URL + "/debug/pprof/mmalloc?name=" + name)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	p, err := profile.Parse(resp.Body)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, s := range p.Sample {
		fmt.Printf("%d bytes in use, allocator label %t\n", s.Value[3], s.Label["allocator"][0] == name)
	}
	// Output:
	// 20480 bytes in use, allocator label true
}
