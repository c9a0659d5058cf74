package mmalloc_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// unsupportedMessage is what a build for anything but 64-bit Linux stops
// with (internal/errs/unsupported.go).
const unsupportedMessage = "mmalloc requires 64-bit Linux: tested on amd64, builds on arm64"

// TestBuildsOnlyFor64BitLinux cross-builds the module: for another system
// (darwin) and for 32-bit Linux (386), go build and go vet fail with the
// one message that says mmalloc is for 64-bit Linux, not with an
// undefined system call or an overflowing constant; for linux/arm64 both
// succeed. With a cold build cache each target compiles the standard
// library first (about a minute on the project's machine); -short skips it.
func TestBuildsOnlyFor64BitLinux(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: cross builds compile the standard library per target")
	}
	goCmd, err := exec.LookPath("go")
	require.NoError(t, err, "the go command runs the cross builds")
	run := func(goos, goarch string, args ...string) (string, error) {
		cmd := exec.Command(goCmd, args...)
		cmd.Env = append(os.Environ(), "GOOS="+goos, "GOARCH="+goarch, "CGO_ENABLED=0", "GOFLAGS=")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	for _, target := range []struct{ goos, goarch, cmd string }{
		{"darwin", "amd64", "build"},
		{"darwin", "amd64", "vet"},
		{"linux", "386", "build"},
	} {
		out, err := run(target.goos, target.goarch, target.cmd, "./...")
		name := target.goos + "/" + target.goarch + " go " + target.cmd
		require.Error(t, err, "%s succeeded:\n%s", name, out)
		assert.Contains(t, out, unsupportedMessage, name)
		assert.NotContains(t, out, "undefined:", name)
		assert.NotContains(t, out, "overflows", name)
		for _, line := range strings.Split(out, "\n") {
			if strings.HasPrefix(line, "# ") {
				assert.Contains(t, line, "mmalloc/internal/errs", "%s: the one failing package is internal/errs", name)
			}
		}
	}
	for _, cmd := range []string{"build", "vet"} {
		out, err := run("linux", "arm64", cmd, "./...")
		assert.NoError(t, err, "linux/arm64 go %s:\n%s", cmd, out)
	}
}
