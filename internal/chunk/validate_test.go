package chunk

import (
	"strings"
	"sync/atomic"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestHeapValidateCatches breaks each invariant Heap.Validate checks, on a
// Heap with a chunk in use and an empty one kept, and shows the report;
// the function each case returns mends it, so that the Heap closes clean.
func TestHeapValidateCatches(t *testing.T) {
	owner := unsafe.Pointer(new(int))
	setup := func(t *testing.T) (h *Heap, used, empty *Chunk) {
		h, _ = newHeap(t, 1<<20, 4<<20)
		used, _, _, err := h.AllocPages(4, owner)
		require.NoError(t, err)
		spare, _, _, err := h.AllocPages(256, owner) // fills a second chunk
		require.NoError(t, err)
		h.FreePages(spare, 0, 256) // kept: the one empty chunk
		require.NoError(t, h.Validate())
		require.Len(t, h.empty, 1)
		return h, used, h.empty[0]
	}
	for _, tc := range []struct {
		name   string
		break_ func(h *Heap, used, empty *Chunk) (mend func())
		want   string
	}{
		{"state", func(h *Heap, used, _ *Chunk) func() {
			used.state = chunkEmpty
			return func() { used.state = chunkInUse }
		}, "in state"},
		{"free count", func(h *Heap, used, _ *Chunk) func() {
			used.nfree--
			return func() { used.nfree++ }
		}, "counts"},
		{"free page with an owner", func(h *Heap, used, _ *Chunk) func() {
			old := used.Owner(used.pages - 1)
			atomic.StorePointer(&used.owners[used.pages-1], owner)
			return func() { atomic.StorePointer(&used.owners[used.pages-1], old) }
		}, "free=true"},
		{"empty chunk listed in use", func(h *Heap, used, empty *Chunk) func() {
			h.inuse = append(h.inuse, empty)
			empty.state = chunkInUse
			return func() { h.inuse = h.inuse[:len(h.inuse)-1]; empty.state = chunkEmpty }
		}, "empty but listed in use"},
		{"chunk listed empty with pages in use", func(h *Heap, used, empty *Chunk) func() {
			empty.nfree--
			empty.free[0] &^= 1
			atomic.StorePointer(&empty.owners[0], owner)
			return func() {
				empty.nfree++
				empty.free[0] |= 1
				atomic.StorePointer(&empty.owners[0], nil)
			}
		}, "listed empty has"},
		{"unit naming another owner", func(h *Heap, used, _ *Chunk) func() {
			other := unsafe.Pointer(new(int))
			atomic.StorePointer(&used.units[0], other)
			return func() { atomic.StorePointer(&used.units[0], nil) }
		}, "unit 0 names"},
		{"not registered", func(h *Heap, used, _ *Chunk) func() {
			deregister(used)
			return func() { require.True(t, register(used)) }
		}, "not registered"},
		{"empty chunks over the budget", func(h *Heap, used, empty *Chunk) func() {
			limit := h.src.RetainBytes()
			h.src.SetRetainBytes(0)
			h.empty = append(h.empty, empty)
			return func() { h.empty = h.empty[:1]; h.src.SetRetainBytes(limit) }
		}, "more than the budget"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, used, empty := setup(t)
			mend := tc.break_(h, used, empty)
			err := h.Validate()
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.True(t, strings.HasPrefix(err.Error(), "chunk: "), "the report names this layer: %v", err)
			mend()
			require.NoError(t, h.Validate(), "mended")
		})
	}
}
