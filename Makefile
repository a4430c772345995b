.PHONY: test example bench
# Every test: vet, unit and race, integration against real servers.
test:
	./scripts/test.sh

# The quickstart on the in-memory default.
example:
	go run ./examples/quickstart

# Every benchmark scenario beside the Go peers, in one run; writes BENCHMARKS.md.
bench:
	./bench/run.sh
