// Package live runs connscope's live pipeline for `trace` and `run`: it
// checks privileges, opens the sources (AF_PACKET capture, eBPF tracer),
// merges their events on one clock (event.Merger) and feeds the same
// analyze.Engine that offline analysis uses, optionally recording the
// captured packets with their process to pcapng. Trace and RunCommand are
// the two commands' whole logic; cmd/connscope only maps flags onto Config.
//
// It has its own home because it is the one place that composes sources and
// the engine at run time; the sources and the engine stay unaware of each
// other.
//
// # Sources
//
// Start opens what it can: the eBPF tracer if it loads (else packets alone,
// said in one line), the packet capture if it opens (else eBPF alone, said
// in one line), and fails only when neither can be had. The capture uses the
// eBPF flow filter from package bpf when it loads (connections are followed
// in the kernel from the SYN to the end of their connection phase, so bulk
// traffic never reaches user space), else capture's classic BPF filter.
// With Options.NetNS the AF_PACKET socket is created inside another network
// namespace (setns on a locked thread, then back): a packet socket only sees
// its own namespace's interfaces, so this is how `run` follows a command
// started with `ip netns exec`, or `trace` a container.
//
// # One stream
//
// Packets and kernel events are held for a reorder window (200 ms) and fed
// in time order. Two repairs happen while they wait:
//
//   - Linux reports a TCP socket's CLOSE→SYN_SENT before it has chosen the
//     local port and its ISN; portCompleter fills the port in from the
//     socket's next event or from its SYN, and the ISN from that next
//     event, so that the kernel's and the wire's view of an attempt meet,
//     exactly by the ISN (attribution.go, analyze's isn.go).
//   - processTable learns each socket's process from kernel events and
//     labels every packet with it (the label -w records, so that `analyze
//     FILE.pcapng` sees what the live engine saw).
//
// Under a process filter (run -- CMD, --pid) packets no traced process owns
// are left out before the engine — other processes' connects can neither be
// reported nor join a traced one — and connects without a process are not
// reported. DNS still groups with the command's connects: the tracer sees the
// resolver's UDP connect() to its server, which labels the queries.
//
// # Stopping
//
// Run stops when its context ends (Ctrl-C, SIGTERM, --duration, the traced
// command's exit), reads on for a moment so that what the kernel captured
// arrives, closes the sources, drains what they had read, and closes the
// engine: every open connect is decided and reported, the summary carries
// the kernel's packet drops and the eBPF ring buffer's losses, and the
// pcapng file is complete.
package live
