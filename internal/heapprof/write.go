// Writing Profiles in the pprof format. See doc.go.

package heapprof

import (
	"compress/gzip"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"time"
)

// Named is a Profile and the name it is shown under: each of its samples
// carries the label allocator=Name ("" adds no label).
type Named struct {
	Name    string
	Profile *Profile
}

// Sample types of the heap profile, in the order of every sample's values,
// as the Go runtime's heap profile has them.
var sampleTypes = [...]struct{ typ, unit string }{
	{"alloc_objects", "count"},
	{"alloc_space", "bytes"},
	{"inuse_objects", "count"},
	{"inuse_space", "bytes"},
}

// Field numbers of profile.proto (github.com/google/pprof/proto).
const (
	profileSampleType        = 1
	profileSample            = 2
	profileMapping           = 3
	profileLocation          = 4
	profileFunction          = 5
	profileStringTable       = 6
	profileTimeNanos         = 9
	profilePeriodType        = 11
	profilePeriod            = 12
	profileDefaultSampleType = 14

	valueTypeType = 1
	valueTypeUnit = 2

	sampleLocationID = 1
	sampleValue      = 2
	sampleLabel      = 3

	labelKey     = 1
	labelStr     = 2
	labelNum     = 3
	labelNumUnit = 4

	mappingID              = 1
	mappingMemoryLimit     = 3
	mappingFilename        = 5
	mappingHasFunctions    = 7
	mappingHasFilenames    = 8
	mappingHasLineNumbers  = 9
	mappingHasInlineFrames = 10

	locationID        = 1
	locationMappingID = 2
	locationAddress   = 3
	locationLine      = 4

	lineFunctionID = 1
	lineLine       = 2

	functionID         = 1
	functionName       = 2
	functionSystemName = 3
	functionFilename   = 4
)

// record is one bucket's counts, copied under the lock.
type record struct {
	stk           []uintptr
	physical      bool
	size          int64
	allocs, frees int64
}

// records returns a copy of p's bucket counts.
func (p *Profile) records() []record {
	p.mu.Lock()
	defer p.mu.Unlock()
	rs := make([]record, 0, len(p.buckets))
	for _, b := range p.buckets {
		for ; b != nil; b = b.next {
			rs = append(rs, record{stk: b.stk, physical: b.physical, size: b.size, allocs: b.allocs, frees: b.frees})
		}
	}
	return rs
}

// scale turns count sampled allocations of size bytes each into estimates
// of every allocation, objects and bytes, as runtime/pprof scales its heap
// profile (scaleHeapSample): an allocation of size bytes is sampled with
// probability 1 - exp(-size/rate), so each sample stands for
// 1 / (1 - exp(-size/rate)) of them. A rate of 1 samples every allocation:
// nothing to scale.
func scale(count, size, rate int64) (objects, bytes int64) {
	if count == 0 || size == 0 {
		return 0, 0
	}
	if rate <= 1 {
		return count, count * size
	}
	s := 1 / -math.Expm1(-float64(size)/float64(rate))
	return int64(float64(count) * s), int64(float64(count) * float64(size) * s)
}

// Write writes the named profiles as one pprof heap profile, gzipped
// protocol buffers, with the sample types alloc_objects, alloc_space,
// inuse_objects and inuse_space (scaled) and, on every sample, the label
// bytes (the size of each allocation) and allocator (the name).
func Write(w io.Writer, profiles []Named) error {
	b := newBuilder()
	var period int64
	for _, np := range profiles {
		rate := np.Profile.Rate()
		if period == 0 && rate > 0 {
			period = rate
		}
		if rate < 0 {
			continue
		}
		for _, r := range np.Profile.records() {
			b.add(np.Name, rate, r)
		}
	}
	return b.write(w, period)
}

// builder gathers the samples, locations and functions of one profile.
type builder struct {
	sym       symbolizer
	strings   []string
	stringIDs map[string]int64
	samples   map[sampleKey]*sampleCounts
	order     []sampleKey // samples in the order first seen
	locIDs    map[locKey]uint64
	locs      []site
	funcIDs   map[frame]uint64 // by function and file; line 0
	funcs     []frame
}

// sampleKey identifies a sample once stacks are trimmed: buckets that
// differed only in this module's frames are merged.
type sampleKey struct {
	name string
	locs string // location ids, leaf first, each followed by a comma
	size int64
}

type sampleCounts struct {
	ids           []uint64 // location ids, leaf first
	rate          int64
	allocs, frees int64
}

// locKey identifies a location: a PC, and how many of its frames are
// kept (the leaf's may have lost this module's inlined ones).
type locKey struct {
	pc     uintptr
	frames int
}

func newBuilder() *builder {
	b := &builder{
		stringIDs: map[string]int64{},
		samples:   map[sampleKey]*sampleCounts{},
		locIDs:    map[locKey]uint64{},
		funcIDs:   map[frame]uint64{},
	}
	b.str("") // string_table[0] must be ""
	return b
}

// str returns s's index in the string table, adding it if need be.
func (b *builder) str(s string) int64 {
	if id, ok := b.stringIDs[s]; ok {
		return id
	}
	id := int64(len(b.strings))
	b.strings = append(b.strings, s)
	b.stringIDs[s] = id
	return id
}

// add adds the counts of one bucket of the profile called name.
func (b *builder) add(name string, rate int64, r record) {
	var ids []uint64
	var key strings.Builder
	for _, s := range b.sym.trim(r.stk, r.physical) {
		id := b.location(s)
		ids = append(ids, id)
		key.WriteString(strconv.FormatUint(id, 36))
		key.WriteByte(',')
	}
	k := sampleKey{name: name, locs: key.String(), size: r.size}
	c, ok := b.samples[k]
	if !ok {
		c = &sampleCounts{ids: ids, rate: rate}
		b.samples[k] = c
		b.order = append(b.order, k)
	}
	c.allocs += r.allocs
	c.frees += r.frees
}

// location returns the id of s's location, adding it (and its functions)
// if need be.
func (b *builder) location(s site) uint64 {
	k := locKey{s.pc, len(s.frames)}
	if id, ok := b.locIDs[k]; ok {
		return id
	}
	id := uint64(len(b.locs) + 1)
	b.locIDs[k] = id
	b.locs = append(b.locs, s)
	for _, f := range s.frames {
		b.function(f)
	}
	return id
}

// function returns the id of f's function (its line aside).
func (b *builder) function(f frame) uint64 {
	f.line = 0
	if id, ok := b.funcIDs[f]; ok {
		return id
	}
	id := uint64(len(b.funcs) + 1)
	b.funcIDs[f] = id
	b.funcs = append(b.funcs, f)
	return id
}

// write encodes the profile, gzipped, to w.
func (b *builder) write(w io.Writer, period int64) error {
	var e encoder
	for _, t := range sampleTypes {
		e.start(profileSampleType)
		e.int64(valueTypeType, b.str(t.typ))
		e.int64(valueTypeUnit, b.str(t.unit))
		e.end()
	}
	bytesKey, bytesUnit, allocKey := b.str("bytes"), b.str("bytes"), b.str("allocator")
	for _, k := range b.order {
		c := b.samples[k]
		allocObjects, allocBytes := scale(c.allocs, k.size, c.rate)
		inuseObjects, inuseBytes := scale(max(c.allocs-c.frees, 0), k.size, c.rate)
		e.start(profileSample)
		e.packedUint64(sampleLocationID, c.ids)
		e.packedInt64(sampleValue, []int64{allocObjects, allocBytes, inuseObjects, inuseBytes})
		e.start(sampleLabel)
		e.int64(labelKey, bytesKey)
		e.int64(labelNum, k.size)
		e.int64(labelNumUnit, bytesUnit)
		e.end()
		if k.name != "" {
			e.start(sampleLabel)
			e.int64(labelKey, allocKey)
			e.int64(labelStr, b.str(k.name))
			e.end()
		}
		e.end()
	}
	// One mapping for every location: the program, its symbols given
	// here, so that pprof needs no binary to show them.
	e.start(profileMapping)
	e.uint64(mappingID, 1)
	e.uint64(mappingMemoryLimit, math.MaxUint64)
	e.int64(mappingFilename, b.str(executable()))
	e.bool(mappingHasFunctions, true)
	e.bool(mappingHasFilenames, true)
	e.bool(mappingHasLineNumbers, true)
	e.bool(mappingHasInlineFrames, true)
	e.end()
	for i, s := range b.locs {
		e.start(profileLocation)
		e.uint64(locationID, uint64(i+1))
		e.uint64(locationMappingID, 1)
		// A return PC: the call is the instruction before it.
		e.uint64(locationAddress, uint64(s.pc-1))
		for _, f := range s.frames {
			e.start(locationLine)
			e.uint64(lineFunctionID, b.function(f))
			e.int64(lineLine, int64(f.line))
			e.end()
		}
		e.end()
	}
	for i, f := range b.funcs {
		e.start(profileFunction)
		e.uint64(functionID, uint64(i+1))
		e.int64(functionName, b.str(f.function))
		e.int64(functionSystemName, b.str(f.function))
		e.int64(functionFilename, b.str(f.file))
		e.end()
	}
	e.int64(profileTimeNanos, time.Now().UnixNano())
	e.start(profilePeriodType)
	e.int64(valueTypeType, b.str("space"))
	e.int64(valueTypeUnit, b.str("bytes"))
	e.end()
	e.int64(profilePeriod, period)
	e.int64(profileDefaultSampleType, b.str("inuse_space"))
	for _, s := range b.strings {
		e.string(profileStringTable, s)
	}

	zw := gzip.NewWriter(w)
	if _, err := zw.Write(e.buf); err != nil {
		return err
	}
	return zw.Close()
}

// executable names the program for the profile's mapping.
func executable() string {
	if path, err := os.Executable(); err == nil {
		return path
	}
	return os.Args[0]
}
