//go:build !mmalloc_nofp

// The frame pointer, for unwind_fp.go.

#include "textflag.h"

// func framePointer() unsafe.Pointer
//
// NOFRAME: no frame of its own, so R29 still holds its caller's frame
// pointer.
TEXT ·framePointer(SB), NOSPLIT|NOFRAME, $0-8
	MOVD R29, ret+0(FP)
	RET
