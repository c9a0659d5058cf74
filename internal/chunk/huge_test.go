package chunk

import (
	"fmt"
	"testing"
	"unsafe"

	"github.com/mmalloc/mmalloc/internal/osmem"
	"github.com/mmalloc/mmalloc/internal/testutil"
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
					before := testutil.RSS(b)
					for off := uintptr(0); off < 4<<20; off += stride {
						*(*byte)(osmem.AddrPointer(c.base + off)) = 1
					}
					rss = testutil.RSS(b) - before
					h.FreePages(c, 0, pages) // retention is off: the chunk is unmapped
				}
				b.ReportMetric(float64(rss)/float64(1<<20), "MiB-rss/chunk")
				b.SetBytes(4 << 20)
			})
		}
	}
}
