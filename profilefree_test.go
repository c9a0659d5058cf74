package mmalloc_test

import (
	"fmt"
	"maps"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mmalloc/mmalloc"
)

// freeEnv is what a freeCase works on: an Allocator sampling every
// allocation, a Cache of it, and another Allocator sampling every
// allocation too.
type freeEnv struct {
	t        *testing.T
	a, other *mmalloc.Allocator
	c        *mmalloc.Cache
}

// freeCase is one way of freeing an allocation, or of trying to.
type freeCase struct {
	name string
	size int    // the victim's size
	from string // who allocates the victim: "a" (default), "cache" or "other"
	// prep runs before the live sets are taken (a first free, a Close).
	prep func(e *freeEnv, v []byte)
	// op frees v, or tries to, and returns what it allocated (Realloc).
	op    func(e *freeEnv, v []byte) ([]byte, error)
	err   error // the error op must return; nil: none
	drops bool  // the victim's sample leaves the live set
}

// asRow and asRows view v as NewValue's and MakeSlice's results.
func asRow(v []byte) *row { return (*row)(unsafe.Pointer(unsafe.SliceData(v))) }
func asRows(v []byte) []row {
	return unsafe.Slice(asRow(v), cap(v)/int(unsafe.Sizeof(row{})))
}

func freeOnly(free func(e *freeEnv, v []byte) error) func(e *freeEnv, v []byte) ([]byte, error) {
	return func(e *freeEnv, v []byte) ([]byte, error) { return nil, free(e, v) }
}

func reallocTo(n int) func(e *freeEnv, v []byte) ([]byte, error) {
	return func(e *freeEnv, v []byte) ([]byte, error) { return e.a.Realloc(v, n) }
}

func freeFirst(e *freeEnv, v []byte) { require.NoError(e.t, e.a.Free(v)) }

// freeCases: every way of freeing an allocation, each of which must drop
// its sample and no other, and every way of not freeing one (ignored or
// refused), none of which may drop any sample.
var freeCases = []freeCase{
	{name: "Free small", size: 100, op: freeOnly(func(e *freeEnv, v []byte) error { return e.a.Free(v) }), drops: true},
	{name: "Free large", size: 1 * mib, op: freeOnly(func(e *freeEnv, v []byte) error { return e.a.Free(v) }), drops: true},
	{name: "Free resliced", size: 100, op: freeOnly(func(e *freeEnv, v []byte) error { return e.a.Free(v[:0]) }), drops: true},
	{name: "Free of a Cache's", size: 100, from: "cache", op: freeOnly(func(e *freeEnv, v []byte) error { return e.a.Free(v) }), drops: true},
	{name: "Cache.Free small", size: 100, from: "cache", op: freeOnly(func(e *freeEnv, v []byte) error { return e.c.Free(v) }), drops: true},
	{name: "Cache.Free large", size: 1 * mib, from: "cache", op: freeOnly(func(e *freeEnv, v []byte) error { return e.c.Free(v) }), drops: true},
	{name: "Cache.Free of the Allocator's", size: 100, op: freeOnly(func(e *freeEnv, v []byte) error { return e.c.Free(v) }), drops: true},
	{name: "FreeRef small", size: 100, op: freeOnly(func(e *freeEnv, v []byte) error { return e.a.FreeRef(mmalloc.RefOf(v)) }), drops: true},
	{name: "FreeRef large", size: 1 * mib, op: freeOnly(func(e *freeEnv, v []byte) error { return e.a.FreeRef(mmalloc.RefOf(v)) }), drops: true},
	{name: "Cache.FreeRef small", size: 100, from: "cache", op: freeOnly(func(e *freeEnv, v []byte) error { return e.c.FreeRef(mmalloc.RefOf(v)) }), drops: true},
	{name: "Cache.FreeRef large", size: 1 * mib, op: freeOnly(func(e *freeEnv, v []byte) error { return e.c.FreeRef(mmalloc.RefOf(v)) }), drops: true},
	{name: "FreeValue", size: int(unsafe.Sizeof(row{})), op: freeOnly(func(e *freeEnv, v []byte) error { return mmalloc.FreeValue(e.a, asRow(v)) }), drops: true},
	{name: "FreeSlice", size: 1600, op: freeOnly(func(e *freeEnv, v []byte) error { return mmalloc.FreeSlice(e.a, asRows(v)[:3]) }), drops: true},
	{name: "Realloc small in place", size: 100, op: reallocTo(112), drops: true},
	{name: "Realloc small moved", size: 100, op: reallocTo(1000), drops: true},
	{name: "Realloc small to large", size: 1000, op: reallocTo(1 * mib), drops: true},
	{name: "Realloc large remapped", size: 1 * mib, op: reallocTo(8 * mib), drops: true},
	{name: "Realloc large in place", size: 1 * mib, op: reallocTo(1*mib - 100), drops: true},
	{name: "Realloc large to small", size: 1 * mib, op: reallocTo(1000), drops: true},
	{name: "Realloc to nothing", size: 1000, op: reallocTo(0), drops: true},
	{name: "Realloc of a Cache's", size: 100, from: "cache", op: reallocTo(1000), drops: true},

	// Ignored: an empty slice, whatever its address.
	{name: "Free empty", size: 100, op: freeOnly(func(e *freeEnv, v []byte) error { return e.a.Free(v[:0:0]) })},
	{name: "Free empty large", size: 1 * mib, op: freeOnly(func(e *freeEnv, v []byte) error { return e.a.Free(v[:0:0]) })},
	{name: "Cache.Free empty", size: 100, from: "cache", op: freeOnly(func(e *freeEnv, v []byte) error { return e.c.Free(v[:0:0]) })},
	{name: "Cache.Free empty large", size: 1 * mib, op: freeOnly(func(e *freeEnv, v []byte) error { return e.c.Free(v[:0:0]) })},
	{name: "FreeSlice empty", size: 1600, op: freeOnly(func(e *freeEnv, v []byte) error { return mmalloc.FreeSlice(e.a, asRows(v)[:0:0]) })},
	{name: "Realloc empty", size: 100, op: func(e *freeEnv, v []byte) ([]byte, error) { return e.a.Realloc(v[:0:0], 100) }},

	// Refused.
	{name: "Free interior", size: 100, op: freeOnly(func(e *freeEnv, v []byte) error { return e.a.Free(v[16:]) }), err: mmalloc.ErrInvalidPointer},
	{name: "Free interior large", size: 1 * mib, op: freeOnly(func(e *freeEnv, v []byte) error { return e.a.Free(v[4096:]) }), err: mmalloc.ErrInvalidPointer},
	{name: "Cache.Free interior", size: 100, op: freeOnly(func(e *freeEnv, v []byte) error { return e.c.Free(v[16:]) }), err: mmalloc.ErrInvalidPointer},
	{name: "FreeRef interior", size: 100, op: freeOnly(func(e *freeEnv, v []byte) error { return e.a.FreeRef(mmalloc.RefOf(v) + 16) }), err: mmalloc.ErrInvalidPointer},
	{name: "Cache.FreeRef interior", size: 1 * mib, op: freeOnly(func(e *freeEnv, v []byte) error { return e.c.FreeRef(mmalloc.RefOf(v) + 4096) }), err: mmalloc.ErrInvalidPointer},
	{name: "Realloc interior", size: 100, op: func(e *freeEnv, v []byte) ([]byte, error) { return e.a.Realloc(v[16:], 1000) }, err: mmalloc.ErrInvalidPointer},
	{name: "Realloc bad size", size: 100, op: reallocTo(-1), err: mmalloc.ErrInvalidSize},
	{name: "Realloc past Limit", size: 1 * mib, op: reallocTo(64 * mib), err: mmalloc.ErrOutOfMemory},
	{name: "Realloc small past Limit", size: 1000, op: reallocTo(64 * mib), err: mmalloc.ErrOutOfMemory},
	{name: "Free foreign", size: 100, from: "other", op: freeOnly(func(e *freeEnv, v []byte) error { return e.a.Free(v) }), err: mmalloc.ErrForeignPointer},
	{name: "Free foreign large", size: 1 * mib, from: "other", op: freeOnly(func(e *freeEnv, v []byte) error { return e.a.Free(v) }), err: mmalloc.ErrForeignPointer},
	{name: "Cache.Free foreign", size: 100, from: "other", op: freeOnly(func(e *freeEnv, v []byte) error { return e.c.Free(v) }), err: mmalloc.ErrForeignPointer},
	{name: "FreeRef foreign", size: 100, from: "other", op: freeOnly(func(e *freeEnv, v []byte) error { return e.a.FreeRef(mmalloc.RefOf(v)) }), err: mmalloc.ErrForeignPointer},
	{name: "Realloc foreign", size: 100, from: "other", op: reallocTo(1000), err: mmalloc.ErrForeignPointer},
	{name: "Free double", size: 100, prep: freeFirst, op: freeOnly(func(e *freeEnv, v []byte) error { return e.a.Free(v) }), err: mmalloc.ErrDoubleFree},
	{name: "Free double large", size: 1 * mib, prep: freeFirst, op: freeOnly(func(e *freeEnv, v []byte) error { return e.a.Free(v) }), err: mmalloc.ErrDoubleFree},
	{name: "Cache.Free double", size: 100, prep: freeFirst, op: freeOnly(func(e *freeEnv, v []byte) error { return e.c.Free(v) }), err: mmalloc.ErrDoubleFree},
	{name: "FreeRef double", size: 100, prep: freeFirst, op: freeOnly(func(e *freeEnv, v []byte) error { return e.a.FreeRef(mmalloc.RefOf(v)) }), err: mmalloc.ErrDoubleFree},
	{name: "FreeValue double", size: int(unsafe.Sizeof(row{})), prep: freeFirst, op: freeOnly(func(e *freeEnv, v []byte) error { return mmalloc.FreeValue(e.a, asRow(v)) }), err: mmalloc.ErrDoubleFree},
	{name: "Realloc double", size: 100, prep: freeFirst, op: reallocTo(1000), err: mmalloc.ErrDoubleFree},
	{name: "Cache.Free closed Cache", size: 100, prep: func(e *freeEnv, v []byte) { require.NoError(e.t, e.c.Close()) },
		op: freeOnly(func(e *freeEnv, v []byte) error { return e.c.Free(v) }), err: mmalloc.ErrClosed},
	{name: "Cache.FreeRef closed Cache", size: 100, prep: func(e *freeEnv, v []byte) { require.NoError(e.t, e.c.Close()) },
		op: freeOnly(func(e *freeEnv, v []byte) error { return e.c.FreeRef(mmalloc.RefOf(v)) }), err: mmalloc.ErrClosed},
	{name: "Free closed", size: 100, prep: func(e *freeEnv, v []byte) { require.NoError(e.t, e.a.Close()) },
		op: freeOnly(func(e *freeEnv, v []byte) error { return e.a.Free(v) }), err: mmalloc.ErrClosed},
	{name: "Cache.Free closed", size: 1 * mib, prep: func(e *freeEnv, v []byte) { require.NoError(e.t, e.a.Close()) },
		op: freeOnly(func(e *freeEnv, v []byte) error { return e.c.Free(v) }), err: mmalloc.ErrClosed},
	{name: "FreeRef closed", size: 100, prep: func(e *freeEnv, v []byte) { require.NoError(e.t, e.a.Close()) },
		op: freeOnly(func(e *freeEnv, v []byte) error { return e.a.FreeRef(mmalloc.RefOf(v)) }), err: mmalloc.ErrClosed},
	{name: "Realloc closed", size: 100, prep: func(e *freeEnv, v []byte) { require.NoError(e.t, e.a.Close()) }, op: reallocTo(1000), err: mmalloc.ErrClosed},
}

// TestProfileFreesDropTheirOwnSample: with every allocation sampled, each
// way of freeing takes exactly the freed allocation's sample out of the
// live set (and a Realloc puts its result's in), and each free that is
// ignored or refused takes none, in either mode. Beside the victim live
// small and large allocations of the Allocator, of a Cache and of another
// Allocator, whose samples must stay; and at every quiet point the live
// samples are the live allocations Stats counts.
func TestProfileFreesDropTheirOwnSample(t *testing.T) {
	for _, guard := range []bool{false, true} {
		for _, fc := range freeCases {
			t.Run(fmt.Sprintf("guard=%v/%s", guard, fc.name), func(t *testing.T) {
				opts := mmalloc.Options{ProfileRate: 1, Guard: guard, Limit: 48 * mib}
				e := &freeEnv{t: t, a: newAlloc(t, opts), other: newAlloc(t, opts)}
				e.c = e.a.NewCache()
				t.Cleanup(func() { _ = e.c.Close() })
				var neighbours [][]byte
				for _, alloc := range []func(int) ([]byte, error){e.a.Alloc, e.c.Alloc, e.other.Alloc} {
					for _, n := range []int{100, 5000, 1 * mib} {
						b, err := alloc(n)
						require.NoError(t, err)
						neighbours = append(neighbours, b)
					}
				}
				owner, alloc := e.a, e.a.Alloc
				switch fc.from {
				case "cache":
					alloc = e.c.Alloc
				case "other":
					owner, alloc = e.other, e.other.Alloc
				}
				v, err := alloc(fc.size)
				require.NoError(t, err)
				require.Contains(t, mmalloc.ProfileLiveSet(owner), addr(v), "every allocation is sampled")
				if fc.prep != nil {
					fc.prep(e, v)
				}
				beforeA, beforeOther := mmalloc.ProfileLiveSet(e.a), mmalloc.ProfileLiveSet(e.other)
				assertLiveIsSampled(t, e.a)

				got, err := fc.op(e, v)
				if fc.err == nil {
					require.NoError(t, err)
				} else {
					require.ErrorIs(t, err, fc.err)
				}

				wantA, wantOther := maps.Clone(beforeA), maps.Clone(beforeOther)
				want := wantA
				if owner == e.other {
					want = wantOther
				}
				if fc.drops {
					require.Contains(t, want, addr(v))
					delete(want, addr(v))
				}
				if cap(got) > 0 {
					wantA[addr(got)] = int64(cap(got))
				}
				assert.Equal(t, wantA, mmalloc.ProfileLiveSet(e.a), "the Allocator's live samples")
				assert.Equal(t, wantOther, mmalloc.ProfileLiveSet(e.other), "the other Allocator's live samples")
				assertLiveIsSampled(t, e.a)
				assertLiveIsSampled(t, e.other)
			})
		}
	}
}

// assertLiveIsSampled checks, on an open Allocator sampling every
// allocation, that its live samples are as many as its live allocations.
func assertLiveIsSampled(t *testing.T, a *mmalloc.Allocator) {
	t.Helper()
	if _, err := a.Bytes(0); err != nil { // closed: Stats has forgotten, the profile not
		return
	}
	assert.Equal(t, a.Stats().Live, int64(len(mmalloc.ProfileLiveSet(a))), "live allocations and live samples")
}
