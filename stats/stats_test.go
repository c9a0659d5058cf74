package stats

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestFormatBytes(t *testing.T) {
	for _, tc := range []struct {
		n    int64
		want string
	}{
		{0, "0 B"}, {1023, "1023 B"}, {1024, "1.0 KiB"}, {1536, "1.5 KiB"},
		{4 << 20, "4.0 MiB"}, {3 << 30, "3.0 GiB"}, {5 << 40, "5.0 TiB"}, {-2048, "-2.0 KiB"},
	} {
		assert.Equal(t, tc.want, formatBytes(tc.n), "%d", tc.n)
	}
}

func TestSnapshotString(t *testing.T) {
	s := Snapshot{Mapped: 4 << 20, Held: 4 << 20, PeakHeld: 8 << 20, Limit: 1 << 30, Mmaps: 3, Munmaps: 1, Chunks: 1, ChunkBytes: 4 << 20,
		InUse: 1<<20 + 32, Live: 3, Allocs: 6, Frees: 3}
	s.Classes = []Class{
		{Size: 16, Slabs: 1, Live: 2, InUse: 32, Allocs: 5, Frees: 3},
		{Size: 32}, // never used: not printed
	}
	s.Large = Class{Live: 1, InUse: 1 << 20, Allocs: 1}
	out := s.String()
	assert.Contains(t, out, "mapped 4.0 MiB, 0 B of it released (peak held 8.0 MiB, limit 1.0 GiB), in use 1.0 MiB in 3 live allocations")
	assert.Contains(t, out, "allocs 6, frees 3, mmaps 3, munmaps 1, chunks 1 in use + 0 empty of 4.0 MiB")
	assert.Regexp(t, `(?m)^\s+1\s+16\s+1\s+2\s+32 B\s+5\s+3\s*$`, out)
	assert.Regexp(t, `(?m)^\s+large\s+-\s+-\s+1\s+1.0 MiB\s+1\s+0\s*$`, out)
	assert.NotRegexp(t, `(?m)^\s+2\s+32\s`, out)
}

func TestSnapshotStringGuardMode(t *testing.T) {
	assert.NotContains(t, Snapshot{}.String(), "guard mode")
	out := Snapshot{Quarantined: 3 << 20, Corrupted: 2}.String()
	assert.Contains(t, out, "guard mode: 3.0 MiB quarantined, 2 corruptions found")
}

func TestSnapshotStringResident(t *testing.T) {
	assert.NotContains(t, Snapshot{Mapped: 4 << 20, Resident: -1}.String(), "resident", "not measured")
	assert.Contains(t, Snapshot{Mapped: 4 << 20, Resident: 3 << 20}.String(), ", resident 3.0 MiB\n")
}
