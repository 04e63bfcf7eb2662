// Package capture turns captured frames into event.Packet values: it owns
// reading pcap and pcapng files (plain or gzip-compressed, from a path or
// standard input), decoding frames down to the transport layer without
// allocating, live AF_PACKET capture with a kernel filter, and writing
// pcapng files that carry each packet's process.
//
// Decoding follows what the analyzer needs and nothing more: Ethernet
// (802.1Q/QinQ tags, PPPoE), Linux cooked v1/v2, raw IP, BSD loopback;
// IPv4 (first fragments) and IPv6 (extension headers, first fragments);
// TCP, UDP, and ICMP/ICMPv6 errors together with the header they quote.
// Tunnels are not followed. Everything else is counted, never silently lost:
// see event.Stats.
//
// A packet's process travels in a pcapng packet comment of the form
//
//	connscope: pid=1234 tid=1234 comm="mariadb" fd=3
//
// (see ProcessComment); Reader puts it into event.Packet.Process.
package capture
