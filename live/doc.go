// Package live runs connscope's live pipeline for `trace` and `run`: it
// checks privileges, opens the sources (AF_PACKET capture, eBPF tracer),
// merges their events on one clock (event.Merger) and feeds the same
// analyze.Engine that offline analysis uses, optionally recording the
// captured packets with their process to pcapng.
//
// It has its own home because it is the one place that composes sources and
// the engine at run time; cmd/connscope only maps flags onto it, and the
// sources and the engine stay unaware of each other.
package live
