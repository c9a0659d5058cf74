// The churn workload: a larson-style server mix with cross-goroutine frees.

package main

import (
	"fmt"
	"sync"
)

// Shape of the churn workload.
const (
	churnLive       = 100_000 // live buffers over all goroutines
	churnMinShift   = 4       // smallest size 16 B
	churnMaxShift   = 13      // largest size 8 KiB
	churnRemoteMask = 7       // 1 in churnRemoteMask+1 frees goes to another goroutine
	churnBatchLen   = 64      // remote frees travel in batches, so channel costs stay small
	churnPollMask   = 63      // a goroutine checks its inbox every churnPollMask+1 ops
	churnInboxLen   = 64      // batches a goroutine's inbox can hold; past that, frees stay local
	churnSpares     = 16      // empty batches a goroutine keeps for reuse
)

// xorshift is a small, fast pseudo-random generator (xorshift64*).
// Not safe for concurrent use; each goroutine has its own.
type xorshift uint64

func (x *xorshift) next() uint64 {
	v := uint64(*x)
	v ^= v >> 12
	v ^= v << 25
	v ^= v >> 27
	*x = xorshift(v)
	return v * 2685821657736338717
}

// churnSize maps random bits to a size in [16 B, 8 KiB], log-uniform: every
// power-of-two range is equally likely, so small buffers dominate the count
// and large ones the bytes, as in a server.
func churnSize(r uint64) int {
	span := uint64(churnMaxShift - churnMinShift)
	shift := churnMinShift + int(r%span)
	lo := 1 << shift
	return lo + int((r>>8)%uint64(lo)) + 1
}

// churnWorker is one goroutine's share of the churn workload.
// Owned by its goroutine, except inbox, which its sender writes.
type churnWorker struct {
	h      Allocator
	slots  [][]byte
	rng    xorshift
	batch  [][]byte   // frees on their way to the next goroutine
	spares [][][]byte // empty batches for reuse
	inbox  chan [][]byte
	next   *churnWorker // where this worker's remote frees go
}

// freeBatch frees every buffer in b and keeps the empty batch for reuse.
func (w *churnWorker) freeBatch(b [][]byte) error {
	for i, p := range b {
		if err := w.h.Free(p); err != nil {
			return err
		}
		b[i] = nil
	}
	if len(w.spares) < churnSpares {
		w.spares = append(w.spares, b[:0])
	}
	return nil
}

// poll frees whatever batches have arrived.
func (w *churnWorker) poll() error {
	for {
		select {
		case b := <-w.inbox:
			if err := w.freeBatch(b); err != nil {
				return err
			}
		default:
			return nil
		}
	}
}

// remoteFree queues p to be freed by the next goroutine.
func (w *churnWorker) remoteFree(p []byte) error {
	if w.batch == nil {
		if k := len(w.spares); k > 0 {
			w.batch, w.spares = w.spares[k-1], w.spares[:k-1]
		} else {
			w.batch = make([][]byte, 0, churnBatchLen)
		}
	}
	w.batch = append(w.batch, p)
	if len(w.batch) < churnBatchLen {
		return nil
	}
	select {
	case w.next.inbox <- w.batch:
		w.batch = nil
		return nil
	default: // the receiver is behind: free here rather than wait
		err := w.freeBatch(w.batch)
		w.batch = nil
		return err
	}
}

// ops does n churn operations.
func (w *churnWorker) ops(n int64) error {
	for i := range n {
		if i&churnPollMask == 0 {
			if err := w.poll(); err != nil {
				return err
			}
		}
		r := w.rng.next()
		slot := int((r >> 32) % uint64(len(w.slots)))
		if old := w.slots[slot]; old != nil {
			var err error
			if (r>>24)&churnRemoteMask == 0 {
				err = w.remoteFree(old)
			} else {
				err = w.h.Free(old)
			}
			if err != nil {
				return err
			}
		}
		size := churnSize(r)
		b, err := w.h.Alloc(size)
		if err != nil {
			return err
		}
		if err := touch(b, size); err != nil {
			return err
		}
		w.slots[slot] = b
	}
	return nil
}

// drain frees everything the worker holds or has been sent.
func (w *churnWorker) drain() error {
	if err := w.poll(); err != nil {
		return err
	}
	if w.batch != nil {
		if err := w.freeBatch(w.batch); err != nil {
			return err
		}
		w.batch = nil
	}
	for i, p := range w.slots {
		if p != nil {
			if err := w.h.Free(p); err != nil {
				return err
			}
			w.slots[i] = nil
		}
	}
	return nil
}

// churnGoroutines is how many goroutines churn uses: GOMAXPROCS, but at
// least two so that cross-goroutine frees happen.
func churnGoroutines(procs int) int { return max(2, procs) }

func runChurn(env *Env, rep *WorkloadReport) error {
	g := churnGoroutines(env.Procs)
	rep.Notes = append(rep.Notes, fmt.Sprintf("%d goroutines share one instance of each allocator; allocators run one after the other", g),
		"GC CPU = the GC's share of all CPUs during the runs (runtime/metrics /cpu/classes/gc/total:cpu-seconds)")
	ks := freesEach(rep, env.Kinds)
	noteLocked(rep, ks, lockedWhy)
	c := fmt.Sprintf("live=%dk", churnLive/1000)
	runSequential(env, rep, c, ks, gcTimeFactor*env.Time, func(k Kind, a Allocator) (Body, func() error, error) {
		sh := shared(k, a)
		ws := make([]*churnWorker, g)
		handles := make([]Allocator, g)
		for i := range ws {
			h, err := perGoroutine(sh)
			if err != nil {
				return nil, nil, err
			}
			handles[i] = h
			ws[i] = &churnWorker{
				h:     h,
				slots: make([][]byte, churnLive/g),
				rng:   xorshift(0x9E3779B97F4A7C15 * uint64(i+1)),
				inbox: make(chan [][]byte, churnInboxLen),
			}
		}
		for i, w := range ws {
			w.next = ws[(i+1)%g]
			for j := range w.slots {
				size := churnSize(w.rng.next())
				b, err := w.h.Alloc(size)
				if err != nil {
					return nil, nil, err
				}
				w.slots[j] = b
			}
		}
		errs := make([]error, g)
		body := func(n int64) (int64, error) {
			var wg sync.WaitGroup
			for i, w := range ws {
				wg.Go(func() { errs[i] = w.ops(n) })
			}
			wg.Wait()
			for _, err := range errs {
				if err != nil {
					return 0, err
				}
			}
			return n * int64(g), nil
		}
		cleanup := func() error {
			// Every send happened before the body returned, and drain
			// sends nothing, so one pass frees everything.
			for _, w := range ws {
				if err := w.drain(); err != nil {
					return err
				}
			}
			return closeHandles(sh, handles)
		}
		return body, cleanup, nil
	})
	for _, r := range rep.Results {
		f := Figure{Label: "GC CPU", Unit: "gc-cpu-%", Format: fmtPercent}
		for _, run := range r.Runs {
			f.Values = append(f.Values, 100*run.GCShare())
		}
		r.Figures = append(r.Figures, f)
	}
	return nil
}
