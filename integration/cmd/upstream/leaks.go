// What is still live at the end of a package's tests, by the test that
// allocated it.

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/google/pprof/profile"
)

// leakSites reads the heap profile a TestMain wrote (every allocation
// sampled, so exact) and sums what is still live by the first frame of
// its stack in a _test.go file: the test code that allocated it and
// never released it. Stacks with no such frame are summed by their
// outermost frame outside the testing package.
func leakSites(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	p, err := profile.Parse(f)
	if err != nil {
		return "unreadable profile: " + err.Error()
	}
	objIdx, bytesIdx := -1, -1
	for i, st := range p.SampleType {
		switch st.Type {
		case "inuse_objects":
			objIdx = i
		case "inuse_space":
			bytesIdx = i
		}
	}
	if objIdx < 0 || bytesIdx < 0 {
		return "profile without in-use samples"
	}
	type site struct {
		name          string
		objects, size int64
	}
	var b strings.Builder
	for _, by := range []struct {
		title string
		key   func(*profile.Sample) string
		rows  int
	}{
		{"by the test code that made them", siteOf, 12},
		{"by the library code that allocated them", originOf, 8},
	} {
		sites := map[string]*site{}
		for _, s := range p.Sample {
			if s.Value[objIdx] == 0 {
				continue
			}
			key := by.key(s)
			st := sites[key]
			if st == nil {
				st = &site{name: key}
				sites[key] = st
			}
			st.objects += s.Value[objIdx]
			st.size += s.Value[bytesIdx]
		}
		list := make([]*site, 0, len(sites))
		for _, s := range sites {
			list = append(list, s)
		}
		sort.Slice(list, func(i, j int) bool {
			if list[i].size != list[j].size {
				return list[i].size > list[j].size
			}
			return list[i].name < list[j].name
		})
		fmt.Fprintf(&b, "%s:\n", by.title)
		for i, s := range list {
			if i == by.rows {
				fmt.Fprintf(&b, "  ... and %d more\n", len(list)-i)
				break
			}
			fmt.Fprintf(&b, "  %6d allocations %10d B  %s\n", s.objects, s.size, s.name)
		}
	}
	return b.String()
}

// originOf names the innermost frame of a sample's stack outside Arrow's
// memory package, mmalloc and the runtime: the library code that asked
// for the buffer.
func originOf(s *profile.Sample) string {
	for _, loc := range s.Location {
		for _, l := range loc.Line {
			if l.Function == nil {
				continue
			}
			fn := l.Function.Name
			if strings.HasPrefix(fn, arrowModule+"/arrow/memory.") || strings.HasPrefix(fn, "github.com/mmalloc/") ||
				strings.HasPrefix(fn, "runtime.") || strings.HasPrefix(fn, "sync.") {
				continue
			}
			return fmt.Sprintf("%s (%s:%d)", short(fn), filepath.Base(l.Function.Filename), l.Line)
		}
	}
	return "?"
}

// siteOf names the test code a sample's stack comes from.
func siteOf(s *profile.Sample) string {
	outer := "?"
	for _, loc := range s.Location {
		for _, l := range loc.Line {
			if l.Function == nil {
				continue
			}
			if strings.HasSuffix(l.Function.Filename, "_test.go") {
				return fmt.Sprintf("%s (%s:%d)", short(l.Function.Name), filepath.Base(l.Function.Filename), l.Line)
			}
			if !strings.HasPrefix(l.Function.Name, "testing.") && !strings.HasPrefix(l.Function.Name, "runtime.") {
				outer = fmt.Sprintf("%s (%s:%d)", short(l.Function.Name), filepath.Base(l.Function.Filename), l.Line)
			}
		}
	}
	return outer
}

func short(fn string) string { return strings.TrimPrefix(fn, arrowModule+"/") }
