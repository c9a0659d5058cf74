package integration

import (
	"bytes"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestArrowIPCRoundTrip: a record built with arrowmem, written to IPC and
// read back through it, holds the same values; under Arrow's
// CheckedAllocator nothing leaks, and mmalloc's Live is 0 after Release.
func TestArrowIPCRoundTrip(t *testing.T) {
	a, m := newArrowmem(t)
	mem := memory.NewCheckedAllocator(m)
	defer mem.AssertSize(t, 0)

	schema := arrow.NewSchema([]arrow.Field{{Name: "n", Type: arrow.PrimitiveTypes.Int64}, {Name: "s", Type: arrow.BinaryTypes.String}}, nil)
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	const rows = 200_000
	for i := range rows {
		b.Field(0).(*array.Int64Builder).Append(int64(i) * 3)
		b.Field(1).(*array.StringBuilder).Append(string(rune('a' + i%26)))
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	assert.Positive(t, a.Stats().Live, "the columns are off-heap")

	var buf bytes.Buffer
	w := ipc.NewWriter(&buf, ipc.WithSchema(schema), ipc.WithAllocator(mem))
	require.NoError(t, w.Write(rec))
	require.NoError(t, w.Close())
	r, err := ipc.NewReader(&buf, ipc.WithAllocator(mem))
	require.NoError(t, err)
	defer r.Release()
	require.True(t, r.Next())
	got := r.RecordBatch()
	require.EqualValues(t, rows, got.NumRows())
	ints := got.Column(0).(*array.Int64)
	strs := got.Column(1).(*array.String)
	for i := range rows {
		require.Equal(t, int64(i)*3, ints.Value(i))
		require.Equal(t, string(rune('a'+i%26)), strs.Value(i))
	}
}
