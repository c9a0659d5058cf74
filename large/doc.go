// Package large gives every large allocation a mapping of its own and keeps
// the registry that recognises them on Free.
//
// # Design
//
// A large allocation is one mmap(PROT_READ|PROT_WRITE, MAP_PRIVATE|
// MAP_ANONYMOUS) of the request rounded up to whole pages, and its Free is one
// munmap of the same range: the memory goes back to the OS at once and nothing
// is wasted beyond the last page. Fresh mappings read as zero, so they are
// never cleared.
//
// The registry maps each mapping's first address to its length. Free looks
// the address up: a hit is unmapped; a miss is classified by a scan (the
// error path only) as an interior pointer of a live mapping, a mapping freed
// recently (a double free), or an address this registry never handed out.
//
// # Locking
//
// A Registry is safe for concurrent use. Its mutex protects the map, the
// recently-freed ring and the counters; the mmap and munmap calls themselves
// run outside it.
//
// See the mmalloc package for the overview.
package large
