package osmem

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMaxMapCount: the kernel's figure is read as it is written, and a
// missing or unreadable file gives the kernel's default.
func TestMaxMapCount(t *testing.T) {
	data, err := os.ReadFile(maxMapCountPath)
	require.NoError(t, err, "Linux publishes vm.max_map_count")
	assert.Equal(t, string(data), fmtInt(MaxMapCount())+"\n")

	dir := t.TempDir()
	for name, c := range map[string]struct {
		content string
		want    int64
	}{
		"a number":          {"262144\n", 262144},
		"no newline":        {"1000", 1000},
		"garbage":           {"many\n", DefaultMaxMapCount},
		"zero":              {"0\n", DefaultMaxMapCount},
		"negative":          {"-5\n", DefaultMaxMapCount},
		"empty":             {"", DefaultMaxMapCount},
		"larger than int64": {"99999999999999999999\n", DefaultMaxMapCount},
	} {
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, []byte(c.content), 0o600))
		assert.Equal(t, c.want, readMaxMapCount(path), name)
	}
	assert.Equal(t, int64(DefaultMaxMapCount), readMaxMapCount(filepath.Join(dir, "missing")))
}

func fmtInt(n int64) string { return strconv.FormatInt(n, 10) }
