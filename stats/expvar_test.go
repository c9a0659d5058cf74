package stats

import (
	"encoding/json"
	"expvar"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPublish(t *testing.T) {
	calls := 0
	f := func() Snapshot {
		calls++
		return Snapshot{Mapped: 4 << 20, Live: 3, Classes: []Class{{Size: 8}, {Size: 16, Allocs: 3, Live: 3}, {Size: 32, Slabs: 1}}}
	}
	require.NoError(t, Publish("stats-test", f))
	assert.Zero(t, calls, "read lazily")

	var got Snapshot
	require.NoError(t, json.Unmarshal([]byte(expvar.Get("stats-test").String()), &got))
	assert.Equal(t, 1, calls)
	assert.Equal(t, int64(4<<20), got.Mapped)
	assert.Equal(t, []Class{{Size: 16, Allocs: 3, Live: 3}, {Size: 32, Slabs: 1}}, got.Classes, "only used rows")

	assert.ErrorIs(t, Publish("stats-test", f), ErrNameTaken)
	expvar.NewInt("stats-test-other")
	assert.ErrorIs(t, Publish("stats-test-other", f), ErrNameTaken)
	assert.Error(t, Publish("", f))
	assert.Error(t, Publish("stats-test-nil", nil))
	assert.Nil(t, expvar.Get("stats-test-nil"))
}
