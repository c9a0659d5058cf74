// Package mappings is the engine of package large's layer: the Registry of
// large allocations, one mapping each, kept for reuse within the retention
// budget. Its design is documented in package large.
package mappings
