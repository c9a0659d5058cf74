// A build for anything but 64-bit Linux stops here. See errs.go.

//go:build !linux || !(amd64 || arm64 || loong64 || mips64 || mips64le || ppc64 || ppc64le || riscv64 || s390x)

package errs

// mmalloc maps memory with Linux system calls (mmap, mremap, madvise,
// memfd_create) and sizes it for a 64-bit address space (MaxAllocBytes is
// 64 TiB). Every package of the module imports this one, so a build for
// another system or a 32-bit architecture fails here, with the message
// below, rather than deep inside with an undefined system call or an
// overflowing constant.
const unsupported int = "mmalloc requires 64-bit Linux: tested on amd64, builds on arm64"
