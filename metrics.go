// Metrics: the Allocator's figures under runtime/metrics-style names, for
// collectors such as Prometheus's; and the resident bytes of its mappings.
// See doc.go for the overview.

package mmalloc

import (
	"errors"
	"fmt"
	"iter"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/mmalloc/mmalloc/internal/osmem"
	"github.com/mmalloc/mmalloc/stats"
)

// MetricKind says how a Metric's value moves, which a collector must know
// to export it.
type MetricKind uint8

const (
	// MetricGauge is a value that goes up and down: a Prometheus gauge.
	MetricGauge MetricKind = iota + 1
	// MetricCounter is a count that only grows while the Allocator lives
	// (Cumulative in runtime/metrics): a Prometheus counter.
	MetricCounter
)

// String returns "gauge" or "counter", the words of the Prometheus text
// format's TYPE line.
func (k MetricKind) String() string {
	switch k {
	case MetricGauge:
		return "gauge"
	case MetricCounter:
		return "counter"
	}
	return fmt.Sprintf("MetricKind(%d)", uint8(k))
}

// Metric is one figure of an Allocator, named as runtime/metrics names the
// Go runtime's: a path under /mmalloc/, a colon, and the unit, e.g.
// "/mmalloc/mapped:bytes" or "/mmalloc/allocs:objects".
type Metric struct {
	Name  string     // "/mmalloc/mapped:bytes"; the same for every Allocator
	Help  string     // one sentence saying what the value is
	Kind  MetricKind // gauge or counter
	Value float64
}

// PrometheusName returns m's name as a Prometheus metric name: the path's
// slashes, dashes and colon become underscores, and a counter's name ends
// in _total. "/mmalloc/held/peak:bytes" is "mmalloc_held_peak_bytes",
// "/mmalloc/allocs:objects" is "mmalloc_allocs_objects_total".
func (m Metric) PrometheusName() string {
	name := strings.NewReplacer("/", "_", "-", "_", ":", "_").Replace(strings.TrimPrefix(m.Name, "/"))
	if m.Kind == MetricCounter {
		name += "_total"
	}
	return name
}

// metricDefs are the metrics of an Allocator, in the order Metrics yields
// them, each read from a Snapshot whose Resident is measured.
var metricDefs = []struct {
	name, help string
	kind       MetricKind
	value      func(s *stats.Snapshot) int64
}{
	{"/mmalloc/mapped:bytes", "Bytes mapped from the OS now: chunks, in use or kept empty, and large mappings, live or kept.",
		MetricGauge, func(s *stats.Snapshot) int64 { return s.Mapped }},
	{"/mmalloc/released:bytes", "Bytes still mapped but given back to the OS (MADV_DONTNEED, or never touched): they hold no memory.",
		MetricGauge, func(s *stats.Snapshot) int64 { return s.Released }},
	{"/mmalloc/held:bytes", "Bytes held now: mapped and not given back to the OS (mapped minus released), what Options.Limit bounds.",
		MetricGauge, func(s *stats.Snapshot) int64 { return s.Held }},
	{"/mmalloc/held/peak:bytes", "The most bytes ever held at once: mapped and not given back to the OS.",
		MetricGauge, func(s *stats.Snapshot) int64 { return s.PeakHeld }},
	{"/mmalloc/resident:bytes", "Bytes of the mappings resident in RAM (mincore): what they add to the process's RSS.",
		MetricGauge, func(s *stats.Snapshot) int64 { return s.Resident }},
	{"/mmalloc/retained:bytes", "Bytes of freed memory kept mapped for reuse, within mapped.",
		MetricGauge, func(s *stats.Snapshot) int64 { return s.Retained }},
	{"/mmalloc/retained/limit:bytes", "The most bytes of freed memory that may be kept mapped indefinitely (Options.RetainBytes).",
		MetricGauge, func(s *stats.Snapshot) int64 { return s.RetainBytes }},
	{"/mmalloc/retained/decaying:bytes", "Bytes of freed memory kept beyond the retention limit, given back once unused for Options.DecayTime.",
		MetricGauge, func(s *stats.Snapshot) int64 { return s.Decaying }},
	{"/mmalloc/limit:bytes", "The most bytes that may be held at once, mapped and not given back to the OS (Options.Limit); 0 if no limit.",
		MetricGauge, func(s *stats.Snapshot) int64 { return s.Limit }},
	{"/mmalloc/in-use:bytes", "Bytes of live allocations, at their usable size.",
		MetricGauge, func(s *stats.Snapshot) int64 { return s.InUse }},
	{"/mmalloc/live:objects", "Live allocations.",
		MetricGauge, func(s *stats.Snapshot) int64 { return s.Live }},
	{"/mmalloc/cached:objects", "Free objects the caches (per P, and every Cache) hold to hand out.",
		MetricGauge, func(s *stats.Snapshot) int64 {
			var n int64
			for _, c := range s.Classes {
				n += c.Cached
			}
			return n
		}},
	{"/mmalloc/large/in-use:bytes", "Bytes of live large allocations, each a mapping of its own.",
		MetricGauge, func(s *stats.Snapshot) int64 { return s.Large.InUse }},
	{"/mmalloc/large/live:objects", "Live large allocations.",
		MetricGauge, func(s *stats.Snapshot) int64 { return s.Large.Live }},
	{"/mmalloc/chunks/in-use:chunks", "Chunks mapped now with objects in them.",
		MetricGauge, func(s *stats.Snapshot) int64 { return int64(s.Chunks) }},
	{"/mmalloc/chunks/empty:chunks", "Empty chunks kept mapped for reuse.",
		MetricGauge, func(s *stats.Snapshot) int64 { return int64(s.EmptyChunks) }},
	{"/mmalloc/allocs:objects", "Allocations ever made.",
		MetricCounter, func(s *stats.Snapshot) int64 { return int64(s.Allocs) }},
	{"/mmalloc/frees:objects", "Allocations ever freed.",
		MetricCounter, func(s *stats.Snapshot) int64 { return int64(s.Frees) }},
	{"/mmalloc/mmaps:calls", "mmap system calls ever made.",
		MetricCounter, func(s *stats.Snapshot) int64 { return int64(s.Mmaps) }},
	{"/mmalloc/munmaps:calls", "munmap system calls ever made.",
		MetricCounter, func(s *stats.Snapshot) int64 { return int64(s.Munmaps) }},
	{"/mmalloc/guard/quarantined:bytes", "Guard mode: bytes of freed small objects held poisoned before reuse.",
		MetricGauge, func(s *stats.Snapshot) int64 { return s.Quarantined }},
	{"/mmalloc/guard/corruptions:events", "Guard mode: writes past an object's end or after its Free found.",
		MetricCounter, func(s *stats.Snapshot) int64 { return s.Corrupted }},
}

// Metrics returns an iterator over a's figures as Metrics, in a fixed
// order, as maps.All returns one over a map; range over it with
//
//	for m := range a.Metrics() { ... }
//
// It is the adapter for a metrics collector: a Prometheus collector's
// Collect sends each m as a constant metric named m.PrometheusName() of
// m.Kind, with labels of its own choosing (to tell Allocators apart),
// without mmalloc depending on Prometheus. The names and their order are
// the same for every Allocator and every range, so that Describe may send
// the descriptions of any one.
//
// Each range over the iterator takes a fresh Stats (see there for the
// cost of Resident); the figures are those of Stats, with its
// consistency. It may be used at any time, also after Close.
func (a *Allocator) Metrics() iter.Seq[Metric] {
	return func(yield func(Metric) bool) {
		s := a.Stats()
		for _, d := range metricDefs {
			if !yield(Metric{Name: d.name, Help: d.help, Kind: d.kind, Value: float64(d.value(&s))}) {
				return
			}
		}
	}
}

// Resident returns how many bytes of the Allocator's mappings are resident
// in RAM now: the part of Stats().Mapped that counts in the process's RSS,
// to compare with it. Pages count once written (or read: a read maps the
// kernel's shared zero page) until they are given back (Trim, or a free
// past the retention budget) or swapped out.
//
// Cost: it copies the list of the Allocator's mappings under the chunk
// heap's lock and the large registry's (as Stats takes its locks), then
// asks the kernel with one mincore call per mapping (per 16 Ki pages of
// it), outside every lock. mincore reads a page-table entry per page, so the
// cost grows with Mapped; that is why Stats does not measure it. A mapping
// unmapped between the copy and its mincore counts nothing; one resized
// by Realloc at that moment may be left out. Resident may be called at
// any time, also after Close (it is 0 then); an Allocator not made by New
// holds nothing (0).
func (a *Allocator) Resident() int64 {
	if a == nil || a.heap == nil {
		return 0
	}
	var spans []osmem.Span
	add := func(base, size uintptr) { spans = append(spans, osmem.Span{Base: base, Size: size}) }
	a.heap.Walk(add)
	a.large.Walk(add)
	if a.guard != nil {
		a.guard.walk(add)
	}
	var r osmem.Resident
	var total int64
	for _, sp := range spans {
		n, err := r.Count(sp.Base, sp.Size)
		switch {
		case errors.Is(err, unix.ENOMEM):
			// Unmapped since the copy: none of it is resident now.
		case err != nil:
			total += int64(sp.Size) // unknown: count all of it rather than hide it
		default:
			total += int64(n)
		}
	}
	return total
}
