// Package integration proves mmalloc's adapters — arrowmem, parquetmem,
// httpmem — with their users' own test suites. It is a module of its own,
// so that Arrow and parquet-go never enter the library's go.mod; see
// README.md.
package integration
