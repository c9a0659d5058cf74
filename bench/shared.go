// The shared workload: payloads handed to a child process and back.

package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"unsafe"

	"github.com/mmalloc/mmalloc"
)

// sharedWorkload hands payloads of 1 KiB–16 MiB to a child process, which
// reads each and writes an answer of the same size, and reads the answer:
// through a Shared Allocator, only an offset crosses the pipe (row
// mmalloc); without it, the bytes are copied through the pipe both ways
// (row pipe). Both sides write every byte they send and read every byte
// they receive, so the rows differ by the transport alone. It compares
// transports, not allocators: -alloc does not apply.
var sharedWorkload = Workload{
	Name: "shared",
	Models: "handing a payload to a worker process and back: an offset into a Shared Allocator's memory file " +
		"over a pipe (mmalloc) against the bytes copied through the pipe (pipe)",
	Measure: "one round trip: the parent writes the payload, the child reads it and writes an answer of the same size, the parent reads it",
	Run:     runShared,
	OptIn:   true, // not an allocator race: memory shared with a child process against a pipe
}

// sharedSizes are the payloads of the shared workload.
var sharedSizes = []int{1 << 10, 64 << 10, 1 << 20, 16 << 20}

// sharedPipeBytes is the buffer asked for each pipe (F_SETPIPE_SZ): the
// most an unprivileged process may ask by default (fs.pipe-max-size),
// which spares the pipe row wake-ups. A refusal leaves the default 64 KiB.
const sharedPipeBytes = 1 << 20

// sharedChildEnv names the transport a re-executed child serves.
const sharedChildEnv = "MMALLOC_BENCH_SHARED_CHILD"

// The child's descriptors: requests in, answers out, and the memory file.
const (
	childReqFD = 3
	childRepFD = 4
	childMemFD = 5
)

func init() {
	if mode := os.Getenv(sharedChildEnv); mode != "" {
		if err := sharedChild(mode); err != nil {
			fmt.Fprintln(os.Stderr, "shared child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
}

// runShared measures both transports on every payload size.
func runShared(env *Env, rep *WorkloadReport) error {
	ks := []Kind{
		{Name: mmallocKind, Doc: "a Shared Allocator's buffer; its offset crosses the pipe", FreesEach: true,
			New: func() (Allocator, error) { return startTransport("shared") }},
		{Name: "pipe", Doc: "the payload's bytes written through the pipe and read back", FreesEach: true,
			New: func() (Allocator, error) { return startTransport("pipe") }},
	}
	for _, size := range sharedSizes {
		runInterleaved(env, rep, sizeCase(size), ks, env.Time, func(_ Kind, a Allocator) (Body, func() error, error) {
			t := a.(*transport)
			return func(n int64) (int64, error) {
				for i := range n {
					if err := t.roundTrip(size, byte(i)); err != nil {
						return 0, err
					}
				}
				return n, nil
			}, nil, nil
		})
		if m, p := rep.Find(sizeCase(size), mmallocKind), rep.Find(sizeCase(size), "pipe"); m != nil && p != nil {
			mLo, _ := m.MinMaxNs()
			pLo, _ := p.MinMaxNs()
			rep.Notes = append(rep.Notes, fmt.Sprintf("%s: the pipe takes %.2f× the time of the shared buffer (medians), %.2f× (fastest runs)",
				sizeName(size), p.MedianNs()/m.MedianNs(), pLo/mLo))
		}
	}
	return nil
}

// transport is the parent's end of one child process. It is an Allocator
// so that the runner can drive it: Alloc and Free serve its payloads, from
// the Shared Allocator or from the Go heap.
type transport struct {
	mode     string
	shared   *mmalloc.Allocator // mode "shared"
	buf      []byte             // mode "pipe": the payload, reused
	req, rep *os.File
	cmd      *exec.Cmd
	msg      [16]byte
}

// startTransport starts a child serving mode.
func startTransport(mode string) (*transport, error) {
	t := &transport{mode: mode}
	reqR, reqW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	repR, repW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	for _, f := range []*os.File{reqW, repW} {
		growPipe(f)
	}
	files := []*os.File{reqR, repW}
	if mode == "shared" {
		if t.shared, err = newMmallocAt(mmalloc.Options{Shared: true}); err != nil {
			return nil, err
		}
		files = append(files, t.shared.File())
	}
	t.cmd = exec.Command(os.Args[0])
	t.cmd.Env = append(os.Environ(), sharedChildEnv+"="+mode)
	t.cmd.ExtraFiles = files
	t.cmd.Stderr = os.Stderr
	if err := t.cmd.Start(); err != nil {
		return nil, err
	}
	_ = reqR.Close()
	_ = repW.Close()
	t.req, t.rep = reqW, repR
	return t, nil
}

// growPipe asks for a pipe buffer of sharedPipeBytes.
func growPipe(f *os.File) {
	const fSetPipeSz = 1031 // F_SETPIPE_SZ
	if rc, err := f.SyscallConn(); err == nil {
		_ = rc.Control(func(fd uintptr) {
			_, _, _ = syscall.Syscall(syscall.SYS_FCNTL, fd, fSetPipeSz, sharedPipeBytes)
		})
	}
}

// Alloc returns an n-byte payload buffer (contents unspecified).
func (t *transport) Alloc(n int) ([]byte, error) {
	if t.shared != nil {
		return t.shared.AllocUninit(n)
	}
	if cap(t.buf) < n {
		t.buf = make([]byte, n)
	}
	return t.buf[:n], nil
}

// Free gives a payload buffer back.
func (t *transport) Free(b []byte) error {
	if t.shared != nil {
		return t.shared.Free(b)
	}
	return nil
}

// Close ends the child (its requests end) and waits for it.
func (t *transport) Close() error {
	_ = t.req.Close()
	err := t.cmd.Wait()
	_ = t.rep.Close()
	if t.shared != nil {
		err = errors.Join(err, t.shared.Close())
	}
	return err
}

// roundTrip hands one payload of size bytes, stamped with seed, to the
// child and reads its answer, stamped with seed+1.
func (t *transport) roundTrip(size int, seed byte) error {
	b, err := t.Alloc(size)
	if err != nil {
		return err
	}
	produce(b, seed)
	if t.shared != nil {
		off, err := t.shared.Offset(b)
		if err != nil {
			return err
		}
		binary.LittleEndian.PutUint64(t.msg[:8], uint64(off))
		binary.LittleEndian.PutUint64(t.msg[8:], uint64(size))
		if _, err := t.req.Write(t.msg[:]); err != nil {
			return err
		}
		if _, err := io.ReadFull(t.rep, t.msg[:]); err != nil {
			return err
		}
	} else {
		binary.LittleEndian.PutUint64(t.msg[:8], uint64(size))
		if _, err := t.req.Write(t.msg[:8]); err != nil {
			return err
		}
		if _, err := t.req.Write(b); err != nil {
			return err
		}
		if _, err := io.ReadFull(t.rep, b); err != nil {
			return err
		}
	}
	if b[0] != seed+1 || b[size-1] != seed+1 {
		return fmt.Errorf("answer stamped %d..%d, want %d", b[0], b[size-1], seed+1)
	}
	consumeSink ^= consume(b)
	return t.Free(b)
}

// sharedChild serves requests until the parent closes the pipe: it reads
// each payload, checks its stamp, and writes an answer stamped one more.
func sharedChild(mode string) error {
	req := os.NewFile(childReqFD, "requests")
	rep := os.NewFile(childRepFD, "answers")
	var view *mmalloc.SharedView
	if mode == "shared" {
		var err error
		if view, err = mmalloc.OpenShared(os.NewFile(childMemFD, "memory")); err != nil {
			return err
		}
		defer view.Close()
	}
	var msg [16]byte
	var buf []byte
	for {
		var b []byte
		if view != nil {
			if _, err := io.ReadFull(req, msg[:]); err != nil {
				return endOfRequests(err)
			}
			var err error
			b, err = view.Bytes(int64(binary.LittleEndian.Uint64(msg[:8])), int(binary.LittleEndian.Uint64(msg[8:])))
			if err != nil {
				return err
			}
		} else {
			if _, err := io.ReadFull(req, msg[:8]); err != nil {
				return endOfRequests(err)
			}
			n := int(binary.LittleEndian.Uint64(msg[:8]))
			if cap(buf) < n {
				buf = make([]byte, n)
			}
			b = buf[:n]
			if _, err := io.ReadFull(req, b); err != nil {
				return err
			}
		}
		seed := b[0]
		if b[len(b)-1] != seed {
			return fmt.Errorf("payload stamped %d..%d", seed, b[len(b)-1])
		}
		consumeSink ^= consume(b)
		produce(b, seed+1)
		out := msg[:]
		if view == nil {
			out = b
		}
		if _, err := rep.Write(out); err != nil {
			return err
		}
	}
}

// endOfRequests turns the parent's closing of the pipe into a clean end.
func endOfRequests(err error) error {
	if errors.Is(err, io.EOF) {
		return nil
	}
	return err
}

// payloadTemplate is what produce copies into every payload.
var payloadTemplate = bytes.Repeat([]byte("mmalloc shared payload. "), (64<<10)/24+1)[:64<<10]

// produce writes every byte of b, at memmove speed, and stamps its first
// and last byte with seed.
func produce(b []byte, seed byte) {
	for i := 0; i < len(b); i += len(payloadTemplate) {
		copy(b[i:], payloadTemplate)
	}
	b[0], b[len(b)-1] = seed, seed
}

// consumeSink keeps consume's result alive.
var consumeSink uint64

// consume reads every byte of b: a sum of its 8-byte words, and of the
// bytes past the last whole word.
func consume(b []byte) uint64 {
	words := unsafe.Slice((*uint64)(unsafe.Pointer(unsafe.SliceData(b))), len(b)/8)
	var sum uint64
	for _, w := range words {
		sum += w
	}
	for _, c := range b[len(words)*8:] {
		sum += uint64(c)
	}
	return sum
}
