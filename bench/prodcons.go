// The prodcons workload: producers allocate in batches, consumers on other goroutines free.

package main

import (
	"fmt"
	"sync"
)

// Shape of the prodcons workload.
const (
	prodconsBatchLen = 256 // buffers a producer allocates and sends at once
	prodconsInFlight = 4   // batches in flight per pair: the channels' capacity
)

// sizeRange is an inclusive range of request sizes, drawn uniformly.
type sizeRange struct{ lo, hi int }

// String names the range as cases show it, e.g. 8B-128B.
func (r sizeRange) String() string { return sizeName(r.lo) + "-" + sizeName(r.hi) }

// pick maps random bits to a size in the range.
func (r sizeRange) pick(x uint64) int { return r.lo + int(x%uint64(r.hi-r.lo+1)) }

// prodconsSizes are the cases: small messages, and page-sized buffers.
var prodconsSizes = []sizeRange{{8, 128}, {1 << 10, 8 << 10}}

// prodconsPairs is how many producer/consumer pairs run: GOMAXPROCS, at
// least two.
func prodconsPairs(procs int) int { return max(2, procs) }

// prodconsPair is one producer and its consumer. The producer owns prod
// and rng, the consumer cons; batches move through full and come back
// empty through empty, so no batch slice is allocated while measuring.
type prodconsPair struct {
	prod, cons  Allocator
	rng         xorshift
	sizes       sizeRange
	full, empty chan [][]byte
}

// produce allocates n batches and sends each to the consumer.
func (p *prodconsPair) produce(n int64) error {
	for range n {
		b := <-p.empty
		for i := range b {
			size := p.sizes.pick(p.rng.next())
			buf, err := p.prod.Alloc(size)
			if err != nil {
				p.full <- nil // tell the consumer to stop
				return err
			}
			if err := touch(buf, size); err != nil {
				p.full <- nil
				return err
			}
			b[i] = buf
		}
		p.full <- b
	}
	return nil
}

// consume frees the buffers of n batches and sends each batch back. After
// a failed Free it keeps receiving, without freeing, so that the producer
// never blocks; it stops early when the producer sends nil.
func (p *prodconsPair) consume(n int64) error {
	var first error
	for range n {
		b := <-p.full
		if b == nil {
			return first
		}
		for i, buf := range b {
			if first == nil {
				first = p.cons.Free(buf)
			}
			b[i] = nil
		}
		p.empty <- b
	}
	return first
}

func runProdCons(env *Env, rep *WorkloadReport) error {
	pairs := prodconsPairs(env.Procs)
	rep.Notes = append(rep.Notes, fmt.Sprintf("%d producer/consumer pairs (%d goroutines) share one instance of each allocator; "+
		"batches of %d, %d in flight per pair; allocators run one after the other", pairs, 2*pairs, prodconsBatchLen, prodconsInFlight),
		"mmalloc-cache: every producer and every consumer has a Cache of its own; go-heap: the consumer drops the buffers")
	ks := freesEach(rep, env.Kinds)
	noteLocked(rep, ks, lockedWhy)
	for _, sizes := range prodconsSizes {
		runSequential(env, rep, "size="+sizes.String(), ks, env.Time, func(k Kind, a Allocator) (Body, func() error, error) {
			sh := shared(k, a)
			var handles []Allocator
			ps := make([]*prodconsPair, pairs)
			for i := range ps {
				prod, err := perGoroutine(sh)
				if err != nil {
					return nil, nil, err
				}
				cons, err := perGoroutine(sh)
				if err != nil {
					return nil, nil, err
				}
				handles = append(handles, prod, cons)
				p := &prodconsPair{prod: prod, cons: cons, rng: xorshift(0x9E3779B97F4A7C15 * uint64(i+1)), sizes: sizes,
					full: make(chan [][]byte, prodconsInFlight), empty: make(chan [][]byte, prodconsInFlight)}
				for range prodconsInFlight {
					p.empty <- make([][]byte, prodconsBatchLen)
				}
				ps[i] = p
			}
			errs := make([]error, 2*pairs)
			body := func(n int64) (int64, error) {
				var wg sync.WaitGroup
				for i, p := range ps {
					wg.Go(func() { errs[2*i] = p.produce(n) })
					wg.Go(func() { errs[2*i+1] = p.consume(n) })
				}
				wg.Wait()
				for _, err := range errs {
					if err != nil {
						return 0, err
					}
				}
				return n * prodconsBatchLen * int64(pairs), nil
			}
			return body, func() error { return closeHandles(sh, handles) }, nil
		})
	}
	addThroughput(rep)
	return nil
}

// freesEach returns the kinds that can free one object while others stay
// live, and notes the ones skipped.
func freesEach(rep *WorkloadReport, ks []Kind) []Kind {
	var out []Kind
	for _, k := range ks {
		if !k.FreesEach {
			rep.Notes = append(rep.Notes, k.Name+": skipped; it cannot free one object while others stay live")
			continue
		}
		out = append(out, k)
	}
	return out
}
