// The arrow workload: Arrow columns through IPC and parquet, on Arrow's
// GoAllocator and on arrowmem.

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/mmalloc/mmalloc"
	"github.com/mmalloc/mmalloc/arrowmem"
)

// Shape of the arrow workload (variables: its test makes them small).
var (
	arrowInts    = 10_000_000 // Int64 values: an 80 MB column
	arrowStrings = 1_000_000  // strings of 4 to 13 bytes
)

const (
	arrowRounds = 5       // rounds per allocator and case, when -runs is not given
	arrowRetain = 1 << 30 // RetainBytes of the arrowmem-retain1g row
)

// arrowWorkload moves a record of 10M Int64 and 1M strings through Arrow
// IPC and through parquet (pqarrow), with every buffer from one allocator.
var arrowWorkload = Workload{
	Name: "arrow",
	Models: "Arrow columns of 10M Int64 and of 1M strings built, written and read back, checksums verified, " +
		"through the IPC stream format (case ipc) and through parquet with pqarrow (case parquet); " +
		"Arrow's GoAllocator against arrowmem at default Options and at RetainBytes 1 GiB, one allocator after the other",
	Measure: "one round: build, write, read, verify, release",
	Run:     runArrowWorkload,
	OptIn:   true, // about a minute, and 1 GiB
}

// arrowKind is one allocator of the arrow workload.
type arrowKind struct {
	name string
	doc  string
	new  func() (memory.Allocator, func() error, error)
}

var arrowKinds = []arrowKind{
	{"go", "Arrow's GoAllocator (the Go heap)", func() (memory.Allocator, func() error, error) {
		return memory.NewGoAllocator(), func() error { return nil }, nil
	}},
	{"arrowmem", "arrowmem over mmalloc at default Options (RetainBytes 64 MiB)", func() (memory.Allocator, func() error, error) {
		return newArrowmem(mmalloc.Options{})
	}},
	{"arrowmem-retain1g", "arrowmem over mmalloc with RetainBytes 1 GiB", func() (memory.Allocator, func() error, error) {
		return newArrowmem(mmalloc.Options{RetainBytes: arrowRetain})
	}},
}

// newArrowmem returns an arrowmem Allocator and its close, which fails if
// a buffer was freed badly or is still live.
func newArrowmem(o mmalloc.Options) (memory.Allocator, func() error, error) {
	a, err := mmalloc.New(o)
	if err != nil {
		return nil, nil, err
	}
	m := arrowmem.New(a)
	return m, func() error {
		live := a.Stats().Live
		err := errors.Join(m.Check(), a.Close())
		if live != 0 {
			err = errors.Join(err, fmt.Errorf("%d buffers still live", live))
		}
		return err
	}, nil
}

// arrowCases are the workload's cases: what one round does with a record.
var arrowCases = []struct {
	name  string
	round func(mem memory.Allocator, sink *bytes.Buffer) error
}{
	{"ipc", ipcRound},
	{"parquet", parquetRound},
}

// runArrowWorkload runs every case on every allocator: the allocators one
// after the other, each from a collected, scavenged Go heap and a reset
// peak RSS, arrowRounds rounds each back to back, as a program runs them
// (nothing is collected, scavenged or trimmed between rounds: the Go heap
// keeps its pages, as mmalloc keeps its own), one Run per round.
func runArrowWorkload(env *Env, rep *WorkloadReport) error {
	rounds := env.Runs
	if rounds < 1 {
		rounds = arrowRounds
	}
	var sink bytes.Buffer // the stream or file written, reused: its growth is paid once, before the timed rounds
	for _, c := range arrowCases {
		if err := c.round(memory.NewGoAllocator(), &sink); err != nil { // warm-up on the Go heap, untimed
			return fmt.Errorf("arrow %s warm-up: %w", c.name, err)
		}
		base := map[string]*Result{}
		for _, k := range arrowKinds {
			res := &Result{Workload: rep.Name, Case: "case=" + c.name, Alloc: k.name}
			heapF := Figure{Label: "peak Go heap", Unit: "peak-heap-MiB", Format: fmtMiB}
			rssF := Figure{Label: "peak RSS", Unit: "peak-rss-MiB", Format: fmtMiB}
			gcF := Figure{Label: "GC cycles", Unit: "gc-cycles", Format: func(v float64) string { return strconv.Itoa(int(v)) }}
			mem, closeMem, err := k.new()
			if err != nil {
				return err
			}
			start, err := arrowStart()
			if err != nil {
				_ = closeMem()
				return err
			}
			for r := range rounds {
				env.Progress.Set(rep.Name, c.name, k.name, fmt.Sprintf("round %d/%d", r+1, rounds))
				run, heap, rss, err := arrowRun(start, func() error { return c.round(mem, &sink) })
				if err != nil {
					_ = closeMem()
					return fmt.Errorf("arrow %s %s: %w", c.name, k.name, err)
				}
				res.Runs = append(res.Runs, run)
				heapF.Values = append(heapF.Values, heap)
				rssF.Values = append(rssF.Values, rss)
				gcF.Values = append(gcF.Values, float64(run.GCCycles))
			}
			if err := closeMem(); err != nil {
				return fmt.Errorf("arrow %s %s: %w", c.name, k.name, err)
			}
			res.Figures = []Figure{gcF, heapF, rssF}
			rep.Results = append(rep.Results, res)
			base[k.name] = res
		}
		for _, k := range arrowKinds[1:] {
			rep.Notes = append(rep.Notes, arrowRatios(c.name, k.name, base[k.name], base["go"]))
		}
	}
	for _, k := range arrowKinds {
		rep.Notes = append(rep.Notes, fmt.Sprintf("%s: %s", k.name, k.doc))
	}
	rep.Notes = append(rep.Notes, fmt.Sprintf("peak Go heap: the most heap object bytes above where they stood before the allocator's first round, sampled every %v; "+
		"peak RSS: VmHWM, reset before the allocator's first round (/proc/self/clear_refs), minus the RSS then: each round's figure is the peak of the rounds so far", arrowSamplePeriod))
	return nil
}

// arrowRatios is the note comparing kind's medians with go's.
func arrowRatios(caseName, kind string, r, goRes *Result) string {
	med := func(res *Result, i int) float64 { return res.Figures[i].Median() }
	return fmt.Sprintf("case=%s %s ÷ go (medians of %d rounds): time %s, GC cycles %.0f vs %.0f, peak Go heap %s, peak RSS %s",
		caseName, kind, len(r.Runs), fmtTimes(r.MedianNs()/goRes.MedianNs()), med(r, 0), med(goRes, 0),
		fmtTimes(med(r, 1)/med(goRes, 1)), fmtTimes(med(r, 2)/med(goRes, 2)))
}

func fmtMiB(v float64) string { return fmt.Sprintf("%.0f MiB", v) }

// arrowSamplePeriod is how often the Go heap is sampled for its peak.
const arrowSamplePeriod = time.Millisecond

// arrowBase is where the RSS and the Go heap stood before an allocator's
// first round.
type arrowBase struct{ rss, heap uint64 }

// arrowStart collects and scavenges the Go heap, resets the peak RSS and
// returns the baseline of an allocator's rounds.
func arrowStart() (arrowBase, error) {
	settle()
	resetPeakRSS()
	rss, err := rssBytes()
	return arrowBase{rss: uint64(rss), heap: heapObjectBytes()}, err
}

// arrowRun times one round: wall time, GC cycles, Go-heap allocations,
// and the peaks of the Go heap and of RSS above base, in MiB (the RSS's
// over every round since base).
func arrowRun(base arrowBase, round func() error) (Run, float64, float64, error) {
	heap0, rss0 := base.heap, int64(base.rss)
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(arrowSamplePeriod)
		defer t.Stop()
		for {
			if h := heapObjectBytes(); h > peak.Load() {
				peak.Store(h)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	before := readCounters()
	start := time.Now()
	err := round()
	elapsed := time.Since(start)
	after := readCounters()
	close(stop)
	wg.Wait()
	hwm, herr := peakRSS()
	run := Run{Iters: 1, Ops: 1, Elapsed: elapsed, Allocs: after.heapAllocs - before.heapAllocs,
		Faults: after.faults - before.faults, GCCPU: after.gcCPU - before.gcCPU,
		GCCycles: after.gcCycles - before.gcCycles, Procs: runtime.GOMAXPROCS(0)}
	heap := float64(max(peak.Load(), heap0)-heap0) / (1 << 20)
	rss := float64(max(hwm, rss0)-rss0) / (1 << 20)
	return run, heap, rss, errors.Join(err, herr)
}

// heapObjectBytes is the Go heap's live and unswept object bytes.
func heapObjectBytes() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// resetPeakRSS resets the kernel's peak RSS of the process (VmHWM) to
// the RSS now, so that peakRSS reads the peak of what follows.
func resetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// peakRSS reads VmHWM from /proc/self/status, in bytes.
func peakRSS() (int64, error) {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmHWM in /proc/self/status")
}

// arrowColumn is one record of the workload: a column and how to verify
// what is read back.
type arrowColumn struct {
	schema *arrow.Schema
	rec    arrow.RecordBatch
	verify func(chunks []arrow.Array) error
}

var (
	intsSchema    = arrow.NewSchema([]arrow.Field{{Name: "n", Type: arrow.PrimitiveTypes.Int64}}, nil)
	stringsSchema = arrow.NewSchema([]arrow.Field{{Name: "s", Type: arrow.BinaryTypes.String}}, nil)
)

// appendArrowString appends the i-th string of the strings column, 4 to
// 13 bytes, to dst: built in one reused buffer, so that the workload
// itself makes no garbage on the Go heap.
func appendArrowString(dst []byte, i int) []byte {
	dst = append(dst, 's')
	dst = strconv.AppendInt(dst, int64(i*2654435761%1000003), 10)
	dst = append(dst, '-')
	return append(dst, "xxxx"[:i%5]...)
}

// fnv1a folds b into the FNV-1a hash h (start with fnvOffset); unlike
// hash/fnv it takes a string without converting it.
func fnv1a[S string | []byte](h uint64, b S) uint64 {
	for i := range len(b) {
		h = (h ^ uint64(b[i])) * 1099511628211
	}
	return h
}

const fnvOffset = 14695981039346656037

// arrowColumns builds the two records with mem: 10M Int64 (i*7-3) and 1M
// strings, each with the checksum its verify compares.
func arrowColumns(mem memory.Allocator) []arrowColumn {
	ib := array.NewInt64Builder(mem)
	defer ib.Release()
	ib.Reserve(arrowInts)
	var sum int64
	for i := range arrowInts {
		v := int64(i)*7 - 3
		ib.UnsafeAppend(v)
		sum += v
	}
	ints := ib.NewInt64Array()
	defer ints.Release()
	sb := array.NewStringBuilder(mem)
	defer sb.Release()
	sb.Reserve(arrowStrings)
	strSum := uint64(fnvOffset)
	var str []byte
	for i := range arrowStrings {
		str = appendArrowString(str[:0], i)
		sb.BinaryBuilder.Append(str)
		strSum = fnv1a(strSum, str)
	}
	strs := sb.NewStringArray()
	defer strs.Release()
	return []arrowColumn{
		{intsSchema, array.NewRecordBatch(intsSchema, []arrow.Array{ints}, int64(arrowInts)), func(chunks []arrow.Array) error {
			var got int64
			n := 0
			for _, c := range chunks {
				for _, v := range c.(*array.Int64).Int64Values() {
					got += v
				}
				n += c.Len()
			}
			if got != sum || n != arrowInts {
				return fmt.Errorf("ints read back: %d values summing to %d, want %d summing to %d", n, got, arrowInts, sum)
			}
			return nil
		}},
		{stringsSchema, array.NewRecordBatch(stringsSchema, []arrow.Array{strs}, int64(arrowStrings)), func(chunks []arrow.Array) error {
			h := uint64(fnvOffset)
			n := 0
			for _, c := range chunks {
				c := c.(*array.String)
				for i := range c.Len() {
					h = fnv1a(h, c.Value(i))
				}
				n += c.Len()
			}
			if h != strSum || n != arrowStrings {
				return fmt.Errorf("strings read back: %d with checksum %x, want %d with %x", n, h, arrowStrings, strSum)
			}
			return nil
		}},
	}
}

// ipcRound builds the records, writes each as an IPC stream into sink,
// reads it back and verifies it.
func ipcRound(mem memory.Allocator, sink *bytes.Buffer) error {
	for _, col := range arrowColumns(mem) {
		sink.Reset()
		w := ipc.NewWriter(sink, ipc.WithSchema(col.schema), ipc.WithAllocator(mem))
		err := errors.Join(w.Write(col.rec), w.Close())
		col.rec.Release()
		if err != nil {
			return err
		}
		r, err := ipc.NewReader(bytes.NewReader(sink.Bytes()), ipc.WithAllocator(mem))
		if err != nil {
			return err
		}
		var chunks []arrow.Array
		for r.Next() {
			got := r.RecordBatch()
			got.Retain()
			defer got.Release()
			chunks = append(chunks, got.Column(0))
		}
		err = errors.Join(r.Err(), col.verify(chunks))
		r.Release()
		if err != nil {
			return err
		}
	}
	return nil
}

// parquetRound builds the records, writes each as a parquet file into
// sink with pqarrow, reads it back as a table and verifies it.
func parquetRound(mem memory.Allocator, sink *bytes.Buffer) error {
	for _, col := range arrowColumns(mem) {
		sink.Reset()
		props := parquet.NewWriterProperties(parquet.WithAllocator(mem), parquet.WithDictionaryDefault(false))
		w, err := pqarrow.NewFileWriter(col.schema, sink, props, pqarrow.NewArrowWriterProperties(pqarrow.WithAllocator(mem)))
		if err != nil {
			col.rec.Release()
			return err
		}
		err = errors.Join(w.Write(col.rec), w.Close())
		col.rec.Release()
		if err != nil {
			return err
		}
		tbl, err := pqarrow.ReadTable(context.Background(), bytes.NewReader(sink.Bytes()), parquet.NewReaderProperties(mem),
			pqarrow.ArrowReadProperties{}, mem)
		if err != nil {
			return err
		}
		err = col.verify(tbl.Column(0).Data().Chunks())
		tbl.Release()
		if err != nil {
			return err
		}
	}
	return nil
}
