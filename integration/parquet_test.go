package integration

import (
	"bytes"
	"fmt"
	"io"
	"testing"

	"github.com/parquet-go/parquet-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mmalloc/mmalloc"
	"github.com/mmalloc/mmalloc/parquetmem"
)

// parquetmem satisfies parquet-go's own interface.
var _ parquet.BufferPool = (*parquetmem.BufferPool)(nil)

type row struct {
	ID    int64   `parquet:"id"`
	Name  string  `parquet:"name"`
	Score float64 `parquet:"score"`
	Tags  []byte  `parquet:"tags"`
}

// TestParquetFileThroughPool: a file of 300,000 rows written with every
// page buffered in the pool, and read back, row for row; the pool was
// used, and every buffer went back to mmalloc.
func TestParquetFileThroughPool(t *testing.T) {
	a, err := mmalloc.New(mmalloc.Options{})
	require.NoError(t, err)
	defer a.Close()
	pool := parquetmem.NewBufferPool(a)

	const rows = 300_000
	want := make([]row, rows)
	for i := range want {
		want[i] = row{ID: int64(i), Name: fmt.Sprintf("name-%d", i%977), Score: float64(i) / 7, Tags: []byte{byte(i), byte(i >> 8)}}
	}
	var file bytes.Buffer
	w := parquet.NewGenericWriter[row](&file, parquet.ColumnPageBuffers(pool), parquet.PageBufferSize(256<<10))
	for i := 0; i < rows; i += 10_000 {
		_, err := w.Write(want[i : i+10_000])
		require.NoError(t, err)
	}
	used := a.Stats().Allocs
	require.NoError(t, w.Close())
	assert.Positive(t, used, "the writer buffered its pages in the pool")
	assert.Zero(t, a.Stats().Live, "every page buffer went back to mmalloc")
	assert.Zero(t, pool.Foreign())

	r := parquet.NewGenericReader[row](bytes.NewReader(file.Bytes()))
	defer r.Close()
	got := make([]row, rows)
	n, err := r.Read(got)
	if err != io.EOF {
		require.NoError(t, err)
	}
	require.Equal(t, rows, n)
	for i := range want {
		require.Equal(t, want[i], got[i], "row %d", i)
	}
}
