module github.com/connscope/connscope

go 1.26.8

require (
	github.com/cilium/ebpf v0.22.0
	github.com/clipperhouse/displaywidth v0.10.0
	github.com/gopacket/gopacket v1.7.7
	github.com/vishvananda/netlink v1.3.1
	golang.org/x/net v0.62.0
	golang.org/x/sys v0.49.0
)

require (
	github.com/clipperhouse/uax29/v2 v2.6.0 // indirect
	github.com/vishvananda/netns v0.0.5 // indirect
)
