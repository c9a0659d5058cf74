// The buffer workload.

package main

import (
	"bytes"
	"fmt"

	"github.com/mmalloc/mmalloc"
)

// bufferSizes are the payloads the buffer workload builds.
var bufferSizes = []int{1 << 10, 64 << 10, 1 << 20, 16 << 20, 64 << 20}

// bufferWriteBytes is the size of each Write: a network or file read.
const bufferWriteBytes = 4 << 10

// bufferChunk is what every Write copies in.
var bufferChunk = bytes.Repeat([]byte("mmalloc "), bufferWriteBytes/8)

// runBuffer builds payloads in 4 KiB writes, from a fresh buffer each time:
// mmalloc's Buffer (on the mmalloc kind's Allocator; it grows through
// Realloc, large ones by mremap without copying) against bytes.Buffer (for
// the go-heap kind; it grows by copying into a new array). Other kinds have
// no growable buffer and are skipped.
func runBuffer(env *Env, rep *WorkloadReport) error {
	var ks []Kind
	for _, k := range env.Kinds {
		if k.Name == "mmalloc" || k.Name == "go-heap" {
			ks = append(ks, k)
		}
	}
	if len(ks) == 0 {
		rep.Notes = append(rep.Notes, "buffer compares mmalloc's Buffer with bytes.Buffer: choose -alloc mmalloc and/or go-heap")
		return nil
	}
	rep.Notes = append(rep.Notes, "mmalloc = mmalloc.Buffer on an Allocator with default Options, emptied with Free after each payload; "+
		"go-heap = bytes.Buffer, dropped after each payload (the GC reclaims it)")
	for _, size := range bufferSizes {
		runInterleaved(env, rep, sizeCase(size), ks, env.Time, func(k Kind, a Allocator) (Body, func() error, error) {
			if m, ok := a.(*mmallocAllocator); ok {
				return func(n int64) (int64, error) {
					for range n {
						b := mmalloc.NewBuffer(m.a)
						if err := fillBuffer(b.Write, size); err != nil {
							return 0, err
						}
						if b.Len() != size {
							return 0, fmt.Errorf("buffer holds %d bytes, want %d", b.Len(), size)
						}
						if err := b.Free(); err != nil {
							return 0, err
						}
					}
					return n, nil
				}, nil, nil
			}
			return func(n int64) (int64, error) {
				for range n {
					var b bytes.Buffer
					if err := fillBuffer(b.Write, size); err != nil {
						return 0, err
					}
					if b.Len() != size {
						return 0, fmt.Errorf("buffer holds %d bytes, want %d", b.Len(), size)
					}
				}
				return n, nil
			}, nil, nil
		})
	}
	return nil
}

// fillBuffer writes size bytes through write, bufferWriteBytes at a time.
func fillBuffer(write func([]byte) (int, error), size int) error {
	for left := size; left > 0; left -= bufferWriteBytes {
		if _, err := write(bufferChunk[:min(left, bufferWriteBytes)]); err != nil {
			return err
		}
	}
	return nil
}
