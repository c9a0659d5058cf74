package chunk

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"github.com/mmalloc/mmalloc/internal/osmem"
)

// BenchmarkChunkFirstTouch measures mapping a fresh 4 MiB chunk and writing
// one byte per 4 KiB page of it, with and without MADV_HUGEPAGE, and reports
// the RSS a sparse use (one byte per 64 KiB) costs in each mode.
func BenchmarkChunkFirstTouch(b *testing.B) {
	for _, huge := range []bool{false, true} {
		for _, stride := range []uintptr{4 << 10, 64 << 10} {
			b.Run(fmt.Sprintf("huge=%v/stride=%dKiB", huge, stride>>10), func(b *testing.B) {
				src := osmem.NewSource(0)
				h, err := NewHeap(src, HeapOptions{ChunkBytes: 4 << 20, HugePages: huge})
				if err != nil {
					b.Fatal(err)
				}
				defer h.Close()
				pages := int((4 << 20) / PageBytes)
				var rss int64
				for b.Loop() {
					c, _, _, err := h.AllocPages(pages, unsafe.Pointer(h))
					if err != nil {
						b.Fatal(err)
					}
					before := residentBytes(b)
					for off := uintptr(0); off < 4<<20; off += stride {
						*(*byte)(osmem.AddrPointer(c.base + off)) = 1
					}
					rss = residentBytes(b) - before
					h.FreePages(c, 0, pages) // retention is off: the chunk is unmapped
				}
				b.ReportMetric(float64(rss)/float64(1<<20), "MiB-rss/chunk")
				b.SetBytes(4 << 20)
			})
		}
	}
}

func residentBytes(b *testing.B) int64 {
	data, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		b.Fatal(err)
	}
	n, err := strconv.ParseInt(strings.Fields(string(data))[1], 10, 64)
	if err != nil {
		b.Fatal(err)
	}
	return n * int64(os.Getpagesize())
}
