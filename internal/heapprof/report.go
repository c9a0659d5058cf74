// The live samples as text, for leak reports. See doc.go.

package heapprof

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
)

// maxReportFrames bounds the frames printed per call stack.
const maxReportFrames = 16

// liveSite is one trimmed call stack's live allocations, scaled.
type liveSite struct {
	objects, bytes int64
	sizes          []int64 // distinct sizes, ascending
	frames         []frame
}

// WriteLive writes as text the call stacks that allocated what p still
// holds live, the most bytes first, at most top of them, each with its
// estimated live objects and bytes, and returns the estimates over every
// stack. With a rate of 1 the figures are exact.
func (p *Profile) WriteLive(w io.Writer, top int) (objects, bytes int64, err error) {
	rate := p.Rate()
	var sym symbolizer
	byStack := map[string]*liveSite{}
	for _, r := range p.records() {
		o, b := scale(max(r.allocs-r.frees, 0), r.size, rate)
		if o == 0 {
			continue
		}
		objects += o
		bytes += b
		var fs []frame
		for _, s := range sym.trim(r.stk, r.physical) {
			fs = append(fs, s.frames...)
		}
		var key strings.Builder
		for _, f := range fs {
			fmt.Fprintf(&key, "%s\x00%s\x00%d\x00", f.function, f.file, f.line)
		}
		site, ok := byStack[key.String()]
		if !ok {
			site = &liveSite{frames: fs}
			byStack[key.String()] = site
		}
		site.objects += o
		site.bytes += b
		if !slices.Contains(site.sizes, r.size) {
			site.sizes = append(site.sizes, r.size)
			slices.Sort(site.sizes)
		}
	}
	sites := make([]*liveSite, 0, len(byStack))
	for _, s := range byStack {
		sites = append(sites, s)
	}
	slices.SortFunc(sites, func(a, b *liveSite) int {
		if c := cmp.Compare(b.bytes, a.bytes); c != 0 {
			return c
		}
		return cmp.Compare(b.objects, a.objects)
	})
	for i, s := range sites {
		if i == top {
			_, err = fmt.Fprintf(w, "... and %d more call stacks\n", len(sites)-top)
			break
		}
		if _, err = fmt.Fprintf(w, "%d bytes in %s of %s bytes, allocated at\n", s.bytes, Count(s.objects, "allocation"), sizesText(s.sizes)); err != nil {
			break
		}
		for j, f := range s.frames {
			if j == maxReportFrames {
				_, err = fmt.Fprintf(w, "\t...\n")
				break
			}
			if _, err = fmt.Fprintf(w, "\t%s\n\t\t%s:%d\n", f.function, f.file, f.line); err != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	return objects, bytes, err
}

// Count writes n things: "1 allocation", "2 allocations".
func Count(n int64, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}

// sizesText lists sizes as "4096" or "16, 32 and 64".
func sizesText(sizes []int64) string {
	parts := make([]string, len(sizes))
	for i, n := range sizes {
		parts[i] = fmt.Sprint(n)
	}
	if len(parts) == 1 {
		return parts[0]
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
}
