package mmalloc

// ReservationForTest returns the first address and the size of the
// Allocator's reservation (Options.Shared or Reserve), or zeros.
func (a *Allocator) ReservationForTest() (base, bytes uintptr) {
	if a.space == nil {
		return 0, 0
	}
	return a.space.Base(), a.space.Bytes()
}
