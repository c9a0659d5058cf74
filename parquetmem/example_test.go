package parquetmem_test

import (
	"fmt"
	"io"

	"github.com/mmalloc/mmalloc"
	"github.com/mmalloc/mmalloc/parquetmem"
)

// A parquet writer takes the pool with one option,
// parquet.ColumnPageBuffers(parquetmem.NewBufferPool(a)); here the pool
// is used as the writer uses it.
func Example() {
	a, err := mmalloc.New(mmalloc.Options{})
	if err != nil {
		panic(err)
	}
	defer a.Close()
	pool := parquetmem.NewBufferPool(a)

	buf := pool.GetBuffer()
	for range 1000 {
		io.WriteString(buf, "a page of column values ")
	}
	end, _ := buf.Seek(0, io.SeekEnd)
	fmt.Println(end, a.Stats().Live) // 24000 bytes in chunks of 4, 8 and 16 KiB

	buf.Seek(0, io.SeekStart)
	head := make([]byte, 23)
	io.ReadFull(buf, head)
	fmt.Printf("%q\n", head)

	pool.PutBuffer(buf) // every chunk back to mmalloc
	fmt.Println(a.Stats().Live)
	// Output:
	// 24000 3
	// "a page of column values"
	// 0
}
