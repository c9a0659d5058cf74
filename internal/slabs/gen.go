package slabs

//go:generate go run mksizeclasses.go -o sizeclasses.go
