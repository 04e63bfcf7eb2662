# connscope — see README.md. Everything builds with CGO_ENABLED=0: one static binary.
GO      ?= go
export CGO_ENABLED := 0
BIN     := bin/connscope
DEMO    ?= testdata/captures/drop-mariadb.any.pcap
FUZZTIME ?= 20s

.PHONY: all build test demo lab-up lab-down testdata generate bench fuzz vet clean

all: build

# The commit goes into the binary also where Go's own VCS stamping cannot see
# it (a git worktree, whose .git is a file); connscope --version prints it.
COMMIT  := $(shell git rev-parse HEAD 2>/dev/null)$(shell git diff --quiet HEAD 2>/dev/null || echo -dirty)

build:
	$(GO) build -trimpath -ldflags "-X main.commit=$(COMMIT)" -o $(BIN) ./cmd/connscope

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

# Every performance goal: analyze vs the bare read loop and tshark (bench/run.sh,
# which also runs every package's Go benchmarks), the table and Markdown
# outputs vs JSON on a connect-heavy capture (bench/formats.sh), then as root the eBPF tracer's
# overhead (bench/bpf.sh), live trace's CPU, drops and bulk-throughput cost
# on loopback and a veth pair, and a server-side connect storm (bench/live.sh), and
# tracing every connect at 10,000 and 20,000/s beside bpftrace and tcpdump
# (bench/connect.sh; CONNECT_DURATION=60s for the full run).
# Each prints a Markdown table and fails when a target is missed.
bench: build
	@st=0; bash bench/run.sh || st=1; bash bench/formats.sh || st=1; \
	if [ "$$(id -u)" = 0 ]; then bash bench/bpf.sh || st=1; bash bench/live.sh || st=1; bash bench/connect.sh || st=1; \
	else echo "bench: the eBPF and live benchmarks need root: skipped"; fi; exit $$st

fuzz:
	bash bench/fuzz.sh $(FUZZTIME)

vet:
	$(GO) vet ./...

clean:
	rm -rf bin
