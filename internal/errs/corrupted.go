package errs

import "errors"

// Corrupted is guard mode's report of memory written where no caller may
// write: past an object's end, or after its Free. Package mmalloc
// re-exports it as ErrCorrupted.
var Corrupted = errors.New("mmalloc: memory corrupted")
