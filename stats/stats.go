// Snapshots and how they print. See doc.go.

package stats

import (
	"fmt"
	"strings"
	"text/tabwriter"
)

// Snapshot is a copy of an allocator's figures. Taken while other
// goroutines allocate and free, it is off from the truth by at most the
// calls made while it was taken, and no Live is ever negative; at a quiet
// point it is exact (see mmalloc's Allocator.Stats for the bound).
type Snapshot struct {
	Mapped      int64 // bytes mapped from the OS now: chunks + large mappings
	Released    int64 // bytes of Mapped given back to the OS (free pages holding no memory)
	Held        int64 // Mapped - Released: what the process holds, and what Limit bounds
	Resident    int64 // bytes of Mapped resident in RAM (mincore); -1 when not measured (see doc.go)
	PeakHeld    int64 // most bytes ever held at once
	Limit       int64 // the allocator's byte limit on Held, 0 if none
	Retained    int64 // bytes of freed memory kept mapped for reuse (within Mapped), Decaying included
	RetainBytes int64 // the most bytes that may be retained indefinitely (Options.RetainBytes)
	Decaying    int64 // bytes of Retained beyond RetainBytes: they go back once unused for the decay time
	InUse       int64 // bytes in live allocations, at their usable size
	Live        int64 // live allocations
	Quarantined int64 // guard mode: bytes of freed small objects held poisoned before reuse
	Corrupted   int64 // guard mode: corruptions found (writes past an end or after Free)

	Allocs  uint64 // allocations ever made
	Frees   uint64 // allocations ever freed
	Mmaps   uint64 // mmap calls ever made (chunks and large mappings)
	Munmaps uint64 // munmap calls ever made (including trimming a chunk to its alignment)

	Chunks      int   // chunks mapped now with objects in them
	EmptyChunks int   // empty chunks kept mapped for reuse
	ChunkBytes  int64 // size of one chunk

	Classes []Class // one row per size class, smallest first: class c (slab.ClassOf) is Classes[c-1]
	Large   Class   // the large allocations, each its own mapping; Size is 0
}

// Class is one size class's row of a Snapshot.
type Class struct {
	Size      int    // usable bytes of one object (0 for the large row)
	SlabBytes int    // bytes of one slab (0 for the large row)
	Slabs     int64  // slabs of this class now
	Live      int64  // live objects
	Cached    int64  // free objects the caches (per P, and every Cache) have reserved to hand out
	InUse     int64  // bytes in live objects
	Allocs    uint64 // objects ever allocated
	Frees     uint64 // objects ever freed
}

// String prints s as a summary followed by a table of the rows that have
// ever been used.
func (s Snapshot) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "mapped %s, %s of it released (peak held %s", formatBytes(s.Mapped), formatBytes(s.Released), formatBytes(s.PeakHeld))
	if s.Limit > 0 {
		fmt.Fprintf(&b, ", limit %s", formatBytes(s.Limit))
	}
	fmt.Fprintf(&b, "), in use %s in %d live allocations, retained %s of %s",
		formatBytes(s.InUse), s.Live, formatBytes(s.Retained), formatBytes(s.RetainBytes))
	if s.Decaying > 0 {
		fmt.Fprintf(&b, " (+%s decaying)", formatBytes(s.Decaying))
	}
	if s.Resident > 0 {
		fmt.Fprintf(&b, ", resident %s", formatBytes(s.Resident))
	}
	b.WriteByte('\n')
	fmt.Fprintf(&b, "allocs %d, frees %d, mmaps %d, munmaps %d, chunks %d in use + %d empty of %s\n",
		s.Allocs, s.Frees, s.Mmaps, s.Munmaps, s.Chunks, s.EmptyChunks, formatBytes(s.ChunkBytes))
	if s.Quarantined > 0 || s.Corrupted > 0 {
		fmt.Fprintf(&b, "guard mode: %s quarantined, %d corruptions found\n", formatBytes(s.Quarantined), s.Corrupted)
	}
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "class\tsize\tslabs\tlive\tin use\tallocs\tfrees\t")
	for i, c := range s.Classes {
		if c.Allocs == 0 && c.Slabs == 0 {
			continue
		}
		fmt.Fprintf(w, "%d\t%d\t%d\t%d\t%s\t%d\t%d\t\n", i+1, c.Size, c.Slabs, c.Live, formatBytes(c.InUse), c.Allocs, c.Frees)
	}
	if c := s.Large; c.Allocs > 0 {
		fmt.Fprintf(w, "large\t-\t-\t%d\t%s\t%d\t%d\t\n", c.Live, formatBytes(c.InUse), c.Allocs, c.Frees)
	}
	w.Flush()
	return b.String()
}

// formatBytes formats n bytes with a binary unit: 512 B, 1.5 KiB, 12.0 MiB.
func formatBytes(n int64) string {
	const unit = 1024
	if n < unit && n > -unit {
		return fmt.Sprintf("%d B", n)
	}
	f := float64(n)
	for _, u := range []string{"KiB", "MiB", "GiB", "TiB"} {
		f /= unit
		if f < unit && f > -unit || u == "TiB" {
			return fmt.Sprintf("%.1f %s", f, u)
		}
	}
	return ""
}
