# The README's two commands are `go run ./cmd/custos serve` and
# `go test ./...`; these targets wrap them and the checks CI runs.
.PHONY: run test bench lint build

run:
	go run ./cmd/custos serve

build:
	go build -o custos ./cmd/custos

test:
	go test -count=1 -timeout 25m ./...

bench:
	go test -run '^$$' -bench . -benchtime 2s ./...

lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi
	go vet ./...
	go mod tidy -diff
