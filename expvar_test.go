package mmalloc_test

import (
	"encoding/json"
	"expvar"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mmalloc/mmalloc"
	"github.com/mmalloc/mmalloc/stats"
)

// readVars fetches /debug/vars from a server of expvar.Handler and returns
// the variable name decoded as a Snapshot.
func readVars(t testing.TB, url, name string) stats.Snapshot {
	resp, err := http.Get(url + "/debug/vars")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var vars map[string]json.RawMessage
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&vars))
	require.Contains(t, vars, "memstats", "the runtime's own figures sit beside ours")
	require.Contains(t, vars, name)
	var s stats.Snapshot
	require.NoError(t, json.Unmarshal(vars[name], &s))
	return s
}

func TestPublishDebugVars(t *testing.T) {
	a := newAlloc(t, mmalloc.Options{})
	require.NoError(t, a.Publish("mmalloc-test"))
	assert.ErrorIs(t, a.Publish("mmalloc-test"), mmalloc.ErrNameTaken)

	srv := httptest.NewServer(expvar.Handler())
	defer srv.Close()

	got := readVars(t, srv.URL, "mmalloc-test")
	assert.Zero(t, got.Mapped)
	assert.Empty(t, got.Classes)

	var bufs [][]byte
	for _, n := range []int{100, 100, 1000, 3 * mib} {
		b, err := a.Alloc(n)
		require.NoError(t, err)
		bufs = append(bufs, b)
	}
	fill(bufs[3], 1) // 3 MiB written: resident
	want := a.Stats()
	got = readVars(t, srv.URL, "mmalloc-test")
	assert.Equal(t, want.Mapped, got.Mapped)
	assert.Equal(t, a.Resident(), want.Resident, "Stats measures it")
	assert.Equal(t, want.Resident, got.Resident, "and so does Publish")
	assert.GreaterOrEqual(t, got.Resident, int64(3*mib))
	assert.Equal(t, want.InUse, got.InUse)
	assert.Equal(t, int64(4), got.Live)
	assert.Equal(t, want.Mmaps, got.Mmaps)
	assert.Equal(t, want.Large, got.Large)
	require.Len(t, got.Classes, 2, "the rows of the two classes used")
	assert.Equal(t, 112, got.Classes[0].Size)
	assert.Equal(t, int64(2), got.Classes[0].Live)
	assert.Equal(t, 1024, got.Classes[1].Size)

	for _, b := range bufs {
		require.NoError(t, a.Free(b))
	}
	got = readVars(t, srv.URL, "mmalloc-test")
	assert.Zero(t, got.Live)
	assert.Equal(t, uint64(4), got.Frees)
}

// publishRuns counts the runs of TestPublishNames.
var publishRuns int

// TestPublishNames: a name anyone published is taken, an empty one is
// refused, and of two Allocators racing for one name exactly one gets it;
// a refused name publishes nothing.
func TestPublishNames(t *testing.T) {
	publishRuns++ // expvar never forgets a name: each run (-count) needs its own
	other := fmt.Sprintf("mmalloc-test-someone-else-%d", publishRuns)
	a := newAlloc(t, mmalloc.Options{})
	expvar.NewInt(other)
	assert.ErrorIs(t, a.Publish(other), mmalloc.ErrNameTaken)
	assert.Equal(t, "0", expvar.Get(other).String(), "the other variable stays")
	assert.ErrorIs(t, a.Publish(""), mmalloc.ErrInvalidOption)
	assert.Nil(t, expvar.Get(""))

	b := newAlloc(t, mmalloc.Options{})
	errc := make(chan error, 2)
	for _, x := range []*mmalloc.Allocator{a, b} {
		go func() { errc <- x.Publish(fmt.Sprintf("mmalloc-test-race-%d", publishRuns)) }()
	}
	e1, e2 := <-errc, <-errc
	if e1 != nil {
		e1, e2 = e2, e1
	}
	assert.NoError(t, e1, "one of the two gets the name")
	assert.ErrorIs(t, e2, mmalloc.ErrNameTaken, "the other is told it is taken")
}
