package large_test

import (
	"fmt"
	"os"

	"github.com/mmalloc/mmalloc/large"
)

// A large request gets whole pages: one byte past a page costs a page.
func ExampleRoundUp() {
	page := os.Getpagesize()
	fmt.Println(large.RoundUp(256<<10) == 256<<10, large.RoundUp(256<<10+1) == 256<<10+page)
	fmt.Println(large.RoundUp(0), large.RoundUp(-1))
	// Output:
	// true true
	// 0 0
}
