// Package analyze is connscope's correlation engine: it consumes the one
// time-ordered event stream (packets and kernel socket events, package event)
// and keeps state per connection attempt, groups attempts into logical
// connects (name resolution → each address attempt → outcome), and names each
// outcome with its evidence and likely causes.
//
// Offline analysis (pcap/pcapng files) and live tracing feed the same Engine.
package analyze
