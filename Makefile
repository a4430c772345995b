.PHONY: test example
# Every test: vet, unit and race, integration against real servers.
test:
	./scripts/test.sh

# The quickstart on the in-memory default.
example:
	go run ./examples/quickstart
