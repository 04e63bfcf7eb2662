package bpf

// The generated *_bpfel.go and *_bpfel.o files are committed: building needs
// no clang. `make generate` (needs clang, llvm-strip and libbpf-dev's
// <bpf/*.h>) rebuilds them. -mcpu=v3 (kernel >= 5.1) for atomic fetch-and-add
// and 32-bit jumps.
//go:generate go run github.com/cilium/ebpf/cmd/bpf2go -target bpfel -cc clang -cflags "-O2 -g -Wall -Werror -mcpu=v3" -type event -type connect_event -type drop_event -type reset_event tracer connscope.bpf.c -- -I./headers
//go:generate go run github.com/cilium/ebpf/cmd/bpf2go -target bpfel -cc clang -cflags "-O2 -g -Wall -Werror -mcpu=v3" flowFilter flowfilter.bpf.c -- -I./headers
