// A million allocations, each followed by a full validation in invariants
// builds (whose cost grows with the live set), would take hours there.

//go:build !invariants

package mmalloc_test

import (
	"encoding/binary"
	"fmt"
	"strconv"

	"github.com/mmalloc/mmalloc"
)

// ExampleRef builds a cache of a million values whose index the garbage
// collector never scans: the values live off the heap, and the map holds
// only integers (uint64 keys, Ref values). The same map with []byte
// values would keep a million slice headers on the Go heap, and every GC
// cycle would scan them all.
//
// Each value is stored with its length in front, so that a lookup needs
// nothing but the Ref.
func ExampleRef() {
	a, err := mmalloc.New(mmalloc.Options{})
	if err != nil {
		panic(err)
	}
	defer a.Close()

	const n = 1_000_000
	index := make(map[uint64]mmalloc.Ref, n) // no pointers: never scanned
	put := func(key uint64, val []byte) error {
		r, err := a.AllocRefUninit(2 + len(val))
		if err != nil {
			return err
		}
		b := r.UnsafeBytes(2 + len(val)) // just allocated with this size
		binary.LittleEndian.PutUint16(b, uint16(len(val)))
		copy(b[2:], val)
		if old, ok := index[key]; ok {
			if err := a.FreeRef(old); err != nil {
				return err
			}
		}
		index[key] = r
		return nil
	}
	get := func(key uint64) ([]byte, bool) {
		r, ok := index[key]
		if !ok {
			return nil, false
		}
		b, err := a.Bytes(r) // checked: a stale Ref is an error, not a fault
		if err != nil {
			return nil, false
		}
		return b[2 : 2+binary.LittleEndian.Uint16(b)], true
	}

	var val []byte
	for k := range uint64(n) {
		val = strconv.AppendUint(append(val[:0], "value-"...), k*k, 10)
		if err := put(k, val); err != nil {
			panic(err)
		}
	}
	fmt.Println("live values:", a.Stats().Live)
	for _, k := range []uint64{0, 7, 123_456, n - 1} {
		v, _ := get(k)
		fmt.Printf("%d: %s\n", k, v)
	}
	_, ok := get(n)
	fmt.Println("missing key found:", ok)

	for _, r := range index {
		if err := a.FreeRef(r); err != nil {
			panic(err)
		}
	}
	clear(index)
	fmt.Println("live values:", a.Stats().Live)
	// Output:
	// live values: 1000000
	// 0: value-0
	// 7: value-49
	// 123456: value-15241383936
	// 999999: value-999998000001
	// missing key found: false
	// live values: 0
}
