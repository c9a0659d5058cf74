package mmalloc_test

// The examples of package mmalloc, in one file but for two: ExampleRef,
// which the invariants build cannot run, in example_ref_test.go, and
// ExampleAllocator_File, whose child's side godoc shows only while the
// example has its file to itself, in example_shared_test.go.

import (
	"bytes"
	"encoding/json"
	"errors"
	"expvar"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime/debug"
	"slices"
	"strings"
	"unsafe"

	"github.com/google/pprof/profile"

	"github.com/mmalloc/mmalloc"
	"github.com/mmalloc/mmalloc/stats"
)

func ExampleBuffer() {
	a, _ := mmalloc.New(mmalloc.Options{})
	defer a.Close()

	buf := mmalloc.NewBuffer(a)
	defer buf.Free() // its memory is not the GC's: give it back

	fmt.Fprintf(buf, "%d bottles, ", 99)
	buf.WriteString("off the heap")
	buf.WriteByte('\n')
	_, _ = io.Copy(buf, strings.NewReader("read from anywhere\n"))

	_, _ = io.Copy(io.Discard, io.LimitReader(buf, 3)) // consume "99 "
	fmt.Print(buf.String())
	fmt.Println(buf.Len(), errors.Is(buf.Grow(-1), mmalloc.ErrInvalidSize))
	// Output:
	// bottles, off the heap
	// read from anywhere
	// 41 true
}

func ExampleNew() {
	a, err := mmalloc.New(mmalloc.Options{
		Limit: 1 << 30, // never map more than 1 GiB
	})
	if err != nil {
		panic(err)
	}
	defer a.Close()

	b, err := a.Alloc(1 << 20)
	fmt.Println(len(b), err)
	fmt.Println(a.Free(b))
	// Output:
	// 1048576 <nil>
	// <nil>
}

func ExampleAllocator_Alloc() {
	a, _ := mmalloc.New(mmalloc.Options{})
	defer a.Close()

	b, err := a.Alloc(100) // zeroed, like make([]byte, 100)
	if err != nil {
		panic(err)
	}
	copy(b, "off the Go heap")
	fmt.Printf("len %d, cap %d (the size class), %q\n", len(b), cap(b), b[:15])
	_ = a.Free(b)

	_, err = a.Alloc(-1)
	fmt.Println(errors.Is(err, mmalloc.ErrInvalidSize))
	// Output:
	// len 100, cap 112 (the size class), "off the Go heap"
	// true
}

func ExampleAllocator_Free() {
	a, _ := mmalloc.New(mmalloc.Options{})
	defer a.Close()

	b, _ := a.Alloc(64)
	fmt.Println(a.Free(b[:10])) // a resliced buffer frees the allocation
	err := a.Free(b)
	fmt.Println(errors.Is(err, mmalloc.ErrDoubleFree))
	err = a.Free(make([]byte, 64)) // Go heap memory is not ours
	fmt.Println(errors.Is(err, mmalloc.ErrForeignPointer))
	// Output:
	// <nil>
	// true
	// true
}

func ExampleAllocator_Stats() {
	a, _ := mmalloc.New(mmalloc.Options{})
	defer a.Close()

	small, _ := a.Alloc(1000)
	large, _ := a.Alloc(1 << 20)
	s := a.Stats()
	fmt.Printf("live %d, in use %d bytes, mapped %d bytes, mmaps >= 2: %v\n",
		s.Live, s.InUse, s.Mapped, s.Mmaps >= 2)
	_ = a.Free(small)
	_ = a.Free(large)
	_ = a.Trim()
	fmt.Println(a.Stats().Mapped)
	// Output:
	// live 2, in use 1049600 bytes, mapped 5242880 bytes, mmaps >= 2: true
	// 0
}

func ExampleAlloc() {
	b, err := mmalloc.Alloc(4096) // from the process-wide Default allocator
	if err != nil {
		panic(err)
	}
	defer mmalloc.Free(b)
	fmt.Println(len(b), b[0])
	// Output: 4096 0
}

func ExampleCache() {
	a, _ := mmalloc.New(mmalloc.Options{})
	defer a.Close()

	// One Cache per goroutine: no lock, no atomic on its fast path.
	c := a.NewCache()
	defer c.Flush() // give its free objects back when the goroutine is done

	for i := range 3 {
		b, err := c.AllocUninit(512) // contents unspecified: overwrite it all
		if err != nil {
			panic(err)
		}
		n := copy(b, fmt.Sprintf("message %d", i))
		fmt.Println(string(b[:n]))
		if err := c.Free(b); err != nil {
			panic(err)
		}
	}
	// Output:
	// message 0
	// message 1
	// message 2
}

// NewValue gives a zeroed T off the Go heap; FreeValue gives it back. A T
// that can hold Go pointers is refused.
func ExampleNewValue() {
	a, _ := mmalloc.New(mmalloc.Options{})
	defer a.Close()

	type entry struct {
		Key, Value uint64
		Flags      uint32
	}
	e, err := mmalloc.NewValue[entry](a)
	if err != nil {
		panic(err)
	}
	e.Key, e.Value = 1, 2
	fmt.Printf("%+v\n", *e)
	fmt.Println(mmalloc.FreeValue(a, e))

	_, err = mmalloc.NewValue[struct{ Name string }](a)
	fmt.Println(errors.Is(err, mmalloc.ErrPointerType))
	// Output:
	// {Key:1 Value:2 Flags:0}
	// <nil>
	// true
}

// AllocUninit skips the clear: for a buffer about to be overwritten whole.
func ExampleAllocator_AllocUninit() {
	a, _ := mmalloc.New(mmalloc.Options{})
	defer a.Close()

	b, err := a.AllocUninit(4096) // contents unspecified
	if err != nil {
		panic(err)
	}
	n := copy(b, make([]byte, 4096)) // e.g. a read that fills it
	fmt.Println(n, a.Free(b))
	// Output: 4096 <nil>
}

// UsableSize tells what a request really gets: its size class, or whole
// pages for a large one.
func ExampleAllocator_UsableSize() {
	a, _ := mmalloc.New(mmalloc.Options{})
	defer a.Close()

	fmt.Println(a.UsableSize(100), a.UsableSize(1000), a.UsableSize(-1))
	// Output: 112 1024 0
}

// Trim gives back to the OS everything no allocation holds: after it,
// an Allocator with nothing live maps nothing.
func ExampleAllocator_Trim() {
	a, _ := mmalloc.New(mmalloc.Options{})
	defer a.Close()

	bufs := make([][]byte, 1000)
	for i := range bufs {
		bufs[i], _ = a.Alloc(4096)
	}
	for _, b := range bufs {
		_ = a.Free(b)
	}
	fmt.Println(a.Trim())
	st := a.Stats()
	fmt.Println(st.Live, st.Mapped)
	// Output:
	// <nil>
	// 0 0
}

// In guard mode a write after Free is caught: CheckGuards finds the
// poison of the quarantined object broken.
func ExampleAllocator_CheckGuards() {
	a, _ := mmalloc.New(mmalloc.Options{Guard: true})
	defer a.Close()

	b, _ := a.Alloc(32)
	stale := b[:1] // a reference kept by mistake
	_ = a.Free(b)
	stale[0] = 'x' // a write after free: the page stays mapped, poisoned

	err := a.CheckGuards()
	fmt.Println(errors.Is(err, mmalloc.ErrCorrupted))
	// Output: true
}

// AllocAligned places a buffer at a multiple of a power of two: 64 bytes
// for Arrow's columns, the page for O_DIRECT. Free gives it back.
func ExampleAllocator_AllocAligned() {
	a, err := mmalloc.New(mmalloc.Options{})
	if err != nil {
		panic(err)
	}
	defer a.Close()

	col, err := a.AllocAligned(1000, 64)
	if err != nil {
		panic(err)
	}
	page := os.Getpagesize()
	block, err := a.AllocAligned(3*page, page)
	if err != nil {
		panic(err)
	}
	fmt.Println(len(col), cap(col) == a.UsableSize(1024), uintptr(unsafe.Pointer(&col[0]))%64)
	fmt.Println(len(block) == 3*page, uintptr(unsafe.Pointer(&block[0]))%uintptr(page))

	_, err = a.AllocAligned(100, 48)
	fmt.Println(err)

	fmt.Println(a.Free(col), a.Free(block))
	// Output:
	// 1000 true 0
	// true 0
	// mmalloc: invalid size: alignment 48 is not a power of two from 1 to the page size (4096)
	// <nil> <nil>
}

func ExampleAllocator_Realloc() {
	a, _ := mmalloc.New(mmalloc.Options{})
	defer a.Close()

	b, _ := a.Alloc(100) // cap 112: its size class
	copy(b, "kept")
	c, _ := a.Realloc(b, 112) // within the usable size: the same memory
	fmt.Println(unsafe.SliceData(b) == unsafe.SliceData(c), string(c[:4]), c[111])

	big, _ := a.Realloc(c, 64<<20) // small to large: one copy of 100 bytes
	big[len(big)-1] = 1
	huge, _ := a.Realloc(big, 1<<30) // large to large: mremap, no byte copied
	fmt.Println(len(huge), string(huge[:4]), huge[64<<20-1], huge[1<<30-1])

	empty, err := a.Realloc(huge, 0) // frees
	fmt.Println(len(empty), err, a.Stats().Live)
	// Output:
	// true kept 0
	// 1073741824 kept 1 0
	// 0 <nil> 0
}

func ExampleSetProcessBudget() {
	// Go heap plus everything mmalloc maps: 4 GiB. With GOGC=off the
	// collector then runs only when the Go heap nears its share.
	if err := mmalloc.SetProcessBudget(4 << 30); err != nil {
		panic(err)
	}
	defer mmalloc.SetProcessBudget(0) // restores the previous limit
	defer debug.SetGCPercent(debug.SetGCPercent(-1))

	mib128 := func(n int64) int64 { return (n + 64<<20) / (128 << 20) * 128 } // round to 128 MiB
	before := debug.SetMemoryLimit(-1)
	a, _ := mmalloc.New(mmalloc.Options{})
	defer a.Close()
	b, _ := a.Alloc(1 << 30)
	fmt.Println("Go limit lowered by about", mib128(before-debug.SetMemoryLimit(-1)), "MiB")
	_ = a.Free(b) // the freed GiB decays: it goes back within about a second
	_ = a.Trim()  // or at once
	fmt.Println("and back:", mib128(before-debug.SetMemoryLimit(-1)), "MiB")
	// Output:
	// Go limit lowered by about 1024 MiB
	// and back: 0 MiB
}

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

// Both sides in one process, for brevity: in use, OpenShared runs in
// another process that got the file (see the example of Allocator.File).
func ExampleOpenShared() {
	a, _ := mmalloc.New(mmalloc.Options{Shared: true})
	defer a.Close()
	b, _ := a.Alloc(32)
	off, _ := a.Offset(b)

	v, err := mmalloc.OpenShared(a.File())
	if err != nil {
		panic(err)
	}
	defer v.Close()
	w, err := v.Bytes(off, len(b)) // the same memory, mapped again
	if err != nil {
		panic(err)
	}
	copy(w, "written through the view")
	fmt.Printf("%s\n", b[:24])

	_, err = v.Bytes(off, 1<<40) // past the file's end: an error, not a fault
	fmt.Println(errors.Is(err, mmalloc.ErrOutOfRange))
	_ = a.Free(b)
	// Output:
	// written through the view
	// true
}

// A reservation of 1 TiB costs neither memory nor commit charge: Mapped
// counts what is committed from it.
func ExampleOptions_reserve() {
	a, err := mmalloc.New(mmalloc.Options{Reserve: 1 << 40})
	if err != nil {
		panic(err)
	}
	defer a.Close()
	b, _ := a.Alloc(1 << 20)
	fmt.Printf("mapped %d MiB\n", a.Stats().Mapped>>20)
	_ = a.Free(b)
	_ = a.Trim()
	fmt.Printf("mapped %d MiB\n", a.Stats().Mapped>>20)
	// Output:
	// mapped 1 MiB
	// mapped 0 MiB
}

func ExampleAllocator_Publish() {
	a, _ := mmalloc.New(mmalloc.Options{})
	defer a.Close()
	_ = a.Publish("example-allocator") // once per name and process

	small, _ := a.Alloc(1000)
	large, _ := a.Alloc(1 << 20)
	defer a.Free(small)
	defer a.Free(large)

	// A server with /debug/vars, as importing expvar gives http.DefaultServeMux.
	srv := httptest.NewServer(expvar.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/debug/vars")
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	var vars struct {
		Alloc stats.Snapshot `json:"example-allocator"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&vars)
	s := vars.Alloc
	fmt.Printf("mapped %d, in use %d, live %d\n", s.Mapped, s.InUse, s.Live)
	for _, c := range s.Classes {
		fmt.Printf("class %d B: %d live\n", c.Size, c.Live)
	}
	fmt.Printf("large: %d live, %d bytes\n", s.Large.Live, s.Large.InUse)
	// Output:
	// mapped 5242880, in use 1049600, live 2
	// class 1024 B: 1 live
	// large: 1 live, 1048576 bytes
}

// ExampleAllocator_Metrics feeds a minimal collector: one that writes the
// Prometheus text format, labelling each Allocator with its name. A
// Prometheus collector's Collect does the same with
// prometheus.MustNewConstMetric(desc, typ, m.Value, name), typ being the
// value type m.Kind names.
func ExampleAllocator_Metrics() {
	a, err := mmalloc.New(mmalloc.Options{})
	if err != nil {
		panic(err)
	}
	defer a.Close()
	small, _ := a.Alloc(1000)
	large, _ := a.Alloc(1 << 20)
	defer a.Free(small)
	defer a.Free(large)

	// This collector keeps a few of the metrics; a real one keeps them all.
	keep := []string{"/mmalloc/mapped:bytes", "/mmalloc/live:objects", "/mmalloc/allocs:objects"}
	collect := func(w *strings.Builder, allocator string, a *mmalloc.Allocator) {
		for m := range a.Metrics() {
			if !slices.Contains(keep, m.Name) {
				continue
			}
			name := m.PrometheusName()
			fmt.Fprintf(w, "# HELP %s %s\n", name, m.Help)
			fmt.Fprintf(w, "# TYPE %s %s\n", name, m.Kind)
			fmt.Fprintf(w, "%s{allocator=%q} %g\n", name, allocator, m.Value)
		}
	}
	var out strings.Builder
	collect(&out, "cache", a)
	fmt.Print(out.String())
	// Output:
	// # HELP mmalloc_mapped_bytes Bytes mapped from the OS now: chunks, in use or kept empty, and large mappings, live or kept.
	// # TYPE mmalloc_mapped_bytes gauge
	// mmalloc_mapped_bytes{allocator="cache"} 5.24288e+06
	// # HELP mmalloc_live_objects Live allocations.
	// # TYPE mmalloc_live_objects gauge
	// mmalloc_live_objects{allocator="cache"} 2
	// # HELP mmalloc_allocs_objects_total Allocations ever made.
	// # TYPE mmalloc_allocs_objects_total counter
	// mmalloc_allocs_objects_total{allocator="cache"} 2
}

// ExampleAllocator_Resident compares the resident bytes of an Allocator
// with what it maps: memory is mapped at once, but becomes resident only
// as it is written.
func ExampleAllocator_Resident() {
	a, err := mmalloc.New(mmalloc.Options{})
	if err != nil {
		panic(err)
	}
	defer a.Close()
	b, _ := a.Alloc(8 << 20)
	defer a.Free(b)
	fmt.Printf("mapped %d MiB, resident %d MiB\n", a.Stats().Mapped>>20, a.Resident()>>20)
	clear(b[:2<<20]) // writing is what makes pages resident
	fmt.Printf("mapped %d MiB, resident %d MiB\n", a.Stats().Mapped>>20, a.Resident()>>20)
	// Output:
	// mapped 8 MiB, resident 0 MiB
	// mapped 8 MiB, resident 2 MiB
}

func ExampleMakeSlice() {
	a, _ := mmalloc.New(mmalloc.Options{})
	defer a.Close()

	type sample struct {
		T     int64
		Value float64
	}
	s, err := mmalloc.MakeSlice[sample](a, 0, 1000) // off-heap, zeroed
	if err != nil {
		panic(err)
	}
	s = append(s, sample{1, 0.5}, sample{2, 0.25}) // within cap: stays off-heap
	fmt.Println(len(s), cap(s), s[1].Value)
	fmt.Println(mmalloc.FreeSlice(a, s))

	type record struct {
		ID   int
		Name string // a Go pointer: refused
	}
	_, err = mmalloc.NewValue[record](a)
	fmt.Println(errors.Is(err, mmalloc.ErrPointerType))
	fmt.Println(err)
	// Output:
	// 2 1000 0.25
	// <nil>
	// true
	// mmalloc: type holds Go pointers: mmalloc_test.record.Name is a string
}
