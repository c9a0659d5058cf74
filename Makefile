# The two commands of the README: `make bench` runs the benchmark program
# with its default workload, `make test` runs every check CI runs.

FUZZTIME ?= 30s

.PHONY: test bench lint gotest invariants fuzz benchtest

test: lint gotest invariants fuzz benchtest

lint:
	@echo "== gofmt"
	@out="$$(gofmt -l .)"; if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	@echo "== go vet"
	go vet ./...

gotest:
	@echo "== go test -race"
	go test -race -count=1 ./...

# The suite once more with every public call followed by validate.
invariants:
	@echo "== go test -tags invariants (validate after every call)"
	go test -tags invariants -short -count=1 ./...

fuzz:
	@echo "== fuzz FuzzOps for $(FUZZTIME)"
	go test -run '^$$' -fuzz '^FuzzOps$$' -fuzztime $(FUZZTIME) .

# The benchmark program is its own module; its checks live in .ci/bench.
benchtest:
	@if [ -x .ci/bench ]; then echo "== bench module"; .ci/bench; fi

bench:
	@if [ -d bench ]; then go -C bench run .; \
	else go test -run '^$$' -bench 'AllocFree$$' -benchtime 200ms .; fi
