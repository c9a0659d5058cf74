package mmalloc

// PlantSlabForTest breaks guard mode's assumption on purpose: a slab of
// the smallest class, taken from its Central, is installed in a cache, a
// P's (c nil) or c's, as no path of guard mode does. The function it
// returns takes the slab back out and gives it back to the Central.
func (a *Allocator) PlantSlabForTest(c *Cache) (undo func(), err error) {
	const cls = 1
	s, err := a.centrals[cls].Acquire()
	if err != nil {
		return nil, err
	}
	var st *cacheState
	if c != nil {
		st = c.st
	}
	l := a.hold(st)
	if l == nil { // the P has no cache
		a.release(st, l)
		a.centrals[cls].Abandon(s, 0)
		return nil, ErrClosed
	}
	l.Install(cls, s)
	a.release(st, l)
	return func() { // the same cache, wherever the goroutine runs now
		old, unused := l.Install(cls, nil)
		a.centrals[cls].Abandon(old, unused)
	}, nil
}
