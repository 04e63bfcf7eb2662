# connscope — see README.md. Everything builds with CGO_ENABLED=0: one static binary.
GO      ?= go
export CGO_ENABLED := 0
BIN     := bin/connscope
DEMO    ?= testdata/captures/drop-mariadb.any.pcap
FUZZTIME ?= 20s

.PHONY: all build test demo lab-up lab-down testdata generate bench fuzz vet clean

all: build

build:
	$(GO) build -trimpath -o $(BIN) ./cmd/connscope

# The whole suite. As root it first installs the lab's Debian packages if any
# are missing (lab/deps.sh says what it installs); without root the lab, eBPF
# and end-to-end tests skip with their reason.
test: build
	@bash lab/deps.sh
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 30m ./...

# Build, then analyze a bundled lab capture: a firewall DROP seen by the mariadb client.
demo: build
	./$(BIN) analyze $(DEMO)

lab-up:
	bash lab/lab.sh up

lab-down:
	bash lab/lab.sh down

# Regenerate every capture in testdata/captures/ and its manifest from the lab.
testdata: build
	bash lab/record.sh

# Regenerate the eBPF objects (needs clang llvm libbpf-dev).
generate:
	cd bpf && $(GO) generate ./...

bench: build
	bash bench/run.sh

fuzz:
	bash bench/fuzz.sh $(FUZZTIME)

vet:
	$(GO) vet ./...

clean:
	rm -rf bin
