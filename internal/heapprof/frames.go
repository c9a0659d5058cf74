// From recorded PCs to the frames a profile shows. See doc.go.

package heapprof

import (
	"runtime"
	"strings"
)

// modulePath is the module whose library packages' frames are trimmed
// from the leaf end of every stack.
const modulePath = "github.com/mmalloc/mmalloc"

// frame is one logical frame: a function, inlined or not, at a line.
type frame struct {
	function, file string
	line           int
}

// site is one PC of a trimmed stack: the PC and its frames, innermost
// first (more than one when calls were inlined at that PC).
type site struct {
	pc     uintptr
	frames []frame
}

// symbolizer expands PCs to frames, each PC once.
type symbolizer struct {
	byPC     map[uintptr][]frame
	expanded map[uintptr][]uintptr // physical PC: its logical PCs (see logical)
}

// frames returns the logical frames at return PC pc, innermost first.
func (s *symbolizer) frames(pc uintptr) []frame {
	if fs, ok := s.byPC[pc]; ok {
		return fs
	}
	var fs []frame
	it := runtime.CallersFrames([]uintptr{pc})
	for {
		f, more := it.Next()
		if f.Function != "" || f.File != "" {
			fs = append(fs, frame{function: f.Function, file: f.File, line: f.Line})
		}
		if !more {
			break
		}
	}
	if s.byPC == nil {
		s.byPC = make(map[uintptr][]frame)
	}
	s.byPC[pc] = fs
	return fs
}

// trim returns stk as sites, the leading frames of this module's library
// packages removed (within the first PC that has any other frame too, and
// every whole PC before it), and runtime.goexit, the root of every
// goroutine, removed at the other end. A stack all of this module's
// (a goroutine started inside it) is kept whole.
func (s *symbolizer) trim(stk []uintptr, physical bool) []site {
	if physical {
		stk = s.logical(stk)
	}
	sites := make([]site, 0, len(stk))
	trimming := true
	for _, pc := range stk {
		fs := s.frames(pc)
		if trimming {
			k := 0
			for k < len(fs) && internal(fs[k].function) {
				k++
			}
			if k == len(fs) {
				continue
			}
			fs, trimming = fs[k:], false
		}
		if len(fs) == 1 && fs[0].function == "runtime.goexit" {
			continue
		}
		sites = append(sites, site{pc: pc, frames: fs})
	}
	if len(sites) == 0 && len(stk) > 0 {
		for _, pc := range stk {
			sites = append(sites, site{pc: pc, frames: s.frames(pc)})
		}
	}
	return sites
}

// internal reports whether function belongs to one of this module's
// library packages (not to a test package, nor to a command).
func internal(function string) bool {
	pkg := packageOf(function)
	if pkg != modulePath && !strings.HasPrefix(pkg, modulePath+"/") {
		return false
	}
	return !strings.HasSuffix(pkg, "_test")
}

// packageOf returns the import path of the package of a function name as
// the runtime spells it ("path/to/pkg.(*T).Method", "pkg.F[...]",
// "pkg.F.func1").
func packageOf(function string) string {
	name := function
	if i := strings.IndexByte(name, '['); i >= 0 {
		name = name[:i]
	}
	slash := strings.LastIndexByte(name, '/')
	dot := strings.IndexByte(name[slash+1:], '.')
	if dot < 0 {
		return name
	}
	return name[:slash+1+dot]
}
