# The two commands of the README: `make bench` runs the benchmark program
# with its default workload, `make test` runs every check CI runs.

# Fuzzing is bounded by a count of executions, not by a duration: with a
# duration, go test's fuzzing coordinator can fail a target that found
# nothing ("context deadline exceeded") as its deadline fires, and a loaded
# machine makes that likelier. 10000 executions take 12-130 s per target on
# the project's machine. Each new input that widens coverage is minimized
# for at most FUZZMINIMIZE executions: the default (60 s) stalls a run for
# a minute at a time, and it only shrinks the cached corpus.
FUZZTIME ?= 10000x
FUZZMINIMIZE ?= 30x
SOAKTIME ?= 60s
FUZZTARGETS ?= FuzzOps FuzzFree FuzzRealloc

.PHONY: test bench results lint gofmt vet gotest rss fullsize invariants soak fuzz benchtest integration integration-more integration-guard

# The steps of `make test`, in order. Each runs even when an earlier one
# failed, so that one failure never hides another; the summary at the end
# gives one line per step, and make test fails if any step did.
STEPS ?= gofmt vet gotest rss fullsize invariants soak fuzz benchtest integration

test:
	@failed=""; summary=""; \
	for step in $(STEPS); do \
		start=$$(date +%s); \
		if $(MAKE) --no-print-directory $$step; then status=ok; else status=FAILED; failed="$$failed $$step"; fi; \
		summary="$$summary$$(printf '%-12s %-6s %5ss' $$step $$status $$(( $$(date +%s) - start )))\n"; \
	done; \
	printf '== summary of make test\n'"$$summary"; \
	if [ -n "$$failed" ]; then echo "make test: FAILED:$$failed"; exit 1; fi; \
	echo "make test: every step passed"

lint: gofmt vet

gofmt:
	@echo "== gofmt"
	@out="$$(gofmt -l .)"; if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	@echo "== go vet"
	go vet ./...

gotest:
	@echo "== go test -race"
	go test -race -count=1 -timeout 30m ./...

# The tests that bound RSS, without the race detector (whose shadow memory
# counts in RSS too).
rss:
	@echo "== RSS bounds, without -race"
	go test -count=1 -run '^(TestMemoryReturnsToOS|TestRetentionIsBounded|TestFreeGivesMemoryBack)$$' -v .

# The tests that -race runs smaller, at full size without it: the 1 GiB
# claims of docs/features.md (Realloc and Buffer growth without copying), whose RSS the
# race detector's shadow memory would double, and the million-operation
# property run. The tests fail if this step would shrink them.
fullsize:
	@echo "== full size (1 GiB claims, 10^6 operations), without -race"
	MMALLOC_FULL_SIZE=1 go test -count=1 -run '^(TestReallocLargeNoCopy|TestBufferGrowthNoCopy|TestProperty)$$' -v .

# The suite once more with every public call followed by validate.
invariants:
	@echo "== go test -tags invariants (validate after every call)"
	go test -tags invariants -short -count=1 ./...

# A mixed workload across goroutines for $(SOAKTIME): RSS flat, then back.
soak:
	@echo "== soak for $(SOAKTIME)"
	MMALLOC_SOAK=$(SOAKTIME) go test -run '^TestSoak$$' -count=1 -timeout 0 -v .

# Each fuzz target for $(FUZZTIME) executions, starting from its corpus in
# testdata/fuzz. go test's default -timeout (10m) holds while fuzzing too:
# 30m leaves a slow machine room, since a count has no deadline of its own.
fuzz:
	@failed=""; for f in $(FUZZTARGETS); do \
		echo "== fuzz $$f: $(FUZZTIME) executions"; \
		go test -run '^$$' -fuzz "^$$f\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE) -timeout 30m . || failed="$$failed $$f"; \
	done; \
	if [ -n "$$failed" ]; then echo "fuzz: FAILED:$$failed"; exit 1; fi

# The benchmark program is its own module; its checks live in .ci/bench.
benchtest:
	@if [ -x .ci/bench ]; then echo "== bench module"; .ci/bench; fi

# The adapters (arrowmem, parquetmem, httpmem) under their users' own
# test suites, from integration/, a module of its own: its tests (the
# mallocator's cases on arrowmem, a parquet file through parquetmem, a
# ReverseProxy through httpmem), then arrow-go's packages with Arrow's
# memory on mmalloc and without, and parquet-go's buffer pool tests on
# parquetmem (cmd/upstream; see integration/README.md), in every
# configuration: base (Arrow as released), mmalloc (DefaultAllocator on
# arrowmem) and goalloc (GoAllocator itself on it).
INTEGRATION_ARROW ?= arrow/array,arrow/ipc,arrow/memory,arrow/scalar,arrow/csv,arrow/compute
INTEGRATION_GOALLOC ?= $(INTEGRATION_ARROW)
integration:
	@echo "== integration: the adapters under their users' test suites"
	cd integration && test -z "$$(gofmt -l .)" && go vet ./... && go test -count=1 ./...
	cd integration && go run ./cmd/upstream -arrow $(INTEGRATION_ARROW) -goalloc-packages $(INTEGRATION_GOALLOC)

# parquet/pqarrow, arrow/internal/arrjson and the JSON integration
# test's command the same way, outside make test, to keep CI's time for
# the packages above; its output is integration/results/more.txt.
INTEGRATION_MORE ?= parquet/pqarrow,arrow/internal/arrjson,arrow/ipc/cmd/arrow-json-integration-test
integration-more:
	cd integration && go run ./cmd/upstream -arrow $(INTEGRATION_MORE) -parquet=false > results/more.txt.tmp; \
		status=$$?; cat results/more.txt.tmp; mv results/more.txt.tmp results/more.txt; exit $$status

# Every arrow package above under guard mode, one top-level test per
# process: what it finds goes to integration/results/guard.txt.
integration-guard:
	cd integration && go run ./cmd/upstream -guard -arrow $(INTEGRATION_ARROW),$(INTEGRATION_MORE) -results results/guard.txt

# Every file in bench/results (tables, chart, comparisons) made again;
# see bench/Makefile and bench/README.md.
results:
	$(MAKE) -C bench results

# The benchmark program's default run: its tables on the terminal, and its
# chart in bench/out/chart.png and bench/out/chart.svg (not committed; the
# committed chart, which docs/performance.md links, is
# bench/results/default.png). How long it takes: bench/results/make-bench.txt.
bench:
	@mkdir -p bench/out
	go -C bench run . -png out/chart.png -svg out/chart.svg
	@echo "make bench: the chart is in bench/out/chart.png and bench/out/chart.svg"
