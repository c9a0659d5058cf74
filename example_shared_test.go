// The parent's side and the child's side of one Shared Allocator. The test
// binary is its own child: init runs the child's side when it finds its
// argument in the environment.

package mmalloc_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"

	"github.com/mmalloc/mmalloc"
)

// childEnv carries the offset and the length of the buffer to the child.
const childEnv = "MMALLOC_EXAMPLE_CHILD"

func init() {
	if arg := os.Getenv(childEnv); arg != "" {
		os.Exit(child(arg))
	}
}

// child maps the memory file it got as its fd 3, reads the parent's
// request in the buffer at the offset it was given, and writes its answer
// in place: no byte of either goes through a pipe.
func child(arg string) int {
	var off int64
	var n int
	if _, err := fmt.Sscan(arg, &off, &n); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	v, err := mmalloc.OpenShared(os.NewFile(3, "mmalloc shared memory"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer v.Close()
	b, err := v.Bytes(off, n)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Printf("child read %q\n", bytes.TrimRight(b, "\x00"))
	copy(b, "pong")
	return 0
}

func ExampleAllocator_File() {
	a, err := mmalloc.New(mmalloc.Options{Shared: true})
	if err != nil {
		panic(err)
	}
	defer a.Close()

	b, _ := a.Alloc(64)
	copy(b, "ping")
	off, err := a.Offset(b) // where b lies in a.File()
	if err != nil {
		panic(err)
	}

	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d %d", childEnv, off, len(b)))
	cmd.ExtraFiles = []*os.File{a.File()} // the child's fd 3
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		panic(err)
	}
	fmt.Print(string(out))
	fmt.Printf("parent read %q\n", bytes.TrimRight(b, "\x00"))
	_ = a.Free(b)
	// Output:
	// child read "ping"
	// parent read "pong"
}
