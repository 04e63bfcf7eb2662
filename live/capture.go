package live

import (
	"context"
	"errors"
	"fmt"
	"github.com/connscope/connscope/analyze"
	"net"
	"os"

	"golang.org/x/sys/unix"

	"github.com/connscope/connscope/bpf"
	"github.com/connscope/connscope/capture"
)

// captureRingSize is the packet ring: at 10,000 connects/s on loopback
// (about 80,000 frames/s) 32 MiB holds roughly 2 s of traffic, slack for a
// pipeline that another process starves of CPU for a while.
const captureRingSize = 32 << 20

// packetCapture is the open AF_PACKET capture and the kernel filter on it.
type packetCapture struct {
	reader *capture.LiveReader
	// flowFilter is the eBPF flow filter attached to the socket, nil when
	// the classic filter is used. Kept open for its counters.
	flowFilter *bpf.FlowFilter
	// filterNote says which kernel filter runs and, for the classic one, why.
	filterNote string
	where      string // "all interfaces" / "cs-c0", plus the namespace
}

// filterName is the kernel filter in use, for notices and the summary.
func (c *packetCapture) filterName() string {
	if c.flowFilter != nil {
		return "eBPF flow filter"
	}
	return "classic BPF filter"
}

// openCapture opens the live capture: with the eBPF flow filter when
// tryEBPF and it loads (established connections' payload then never leaves
// the kernel), else with capture's classic filter. The socket is created in
// opts.NetNS when set.
func openCapture(ctx context.Context, opts Options, tryEBPF bool) (*packetCapture, error) {
	c := &packetCapture{where: "all interfaces"}
	if opts.Interface != "" {
		c.where = opts.Interface
	}
	if opts.NetNS != "" {
		c.where += " of network namespace " + opts.NetNS
	} else {
		c.where += " of this network namespace"
	}
	payloadPorts := opts.Ports
	if len(payloadPorts) == 0 {
		// The registered application protocols' default ports: the only
		// source of payload ports besides --port (capture knows none).
		payloadPorts = analyze.ProtocolPorts()
	}
	lo := capture.LiveOptions{
		Context:      ctx, // Next returns io.EOF once the session stops its readers
		Interface:    opts.Interface,
		PayloadPorts: payloadPorts,
		KeepFrames:   opts.Record != nil,
		// Packets wake the reader as the kernel hands over ring blocks
		// (at most 10 ms after their first frame); an idle reader waits
		// without waking.
		BufferSize: captureRingSize,
	}
	if tryEBPF {
		f, err := bpf.LoadFlowFilter(bpf.FlowFilterOptions{Ports: opts.Ports})
		if err != nil {
			c.filterNote = fmt.Sprintf("the eBPF flow filter did not load (%v), so the classic BPF filter runs: payload of established connections to the target ports reaches user space", err)
		} else {
			c.flowFilter = f
			lo.EBPFFilterFD = f.FD()
		}
	} else {
		c.filterNote = "eBPF is not available, so the classic BPF filter runs: payload of established connections to the target ports reaches user space"
	}
	var reader *capture.LiveReader
	err := inNetns(opts.NetNS, func() error {
		var err error
		reader, err = capture.OpenLive(lo)
		return err
	})
	if err != nil {
		if reader != nil {
			reader.Close()
		}
		c.close()
		return nil, err
	}
	c.reader = reader
	return c, nil
}

// checkCaptureTarget fails when the namespace or interface the user named
// does not exist: a typo must stop the trace, not quietly turn it into an
// eBPF-only one. (Whether the capture can then be opened is another matter:
// that failure falls back to eBPF alone.)
func checkCaptureTarget(opts Options) error {
	if opts.NetNS != "" {
		path := netnsPath(opts.NetNS)
		if _, err := os.Stat(path); err != nil {
			return fmt.Errorf("--netns %s: %s does not exist (see `ip netns list`; a path such as /proc/PID/ns/net works too)", opts.NetNS, path)
		}
	}
	if opts.Interface == "" {
		return nil
	}
	err := inNetns(opts.NetNS, func() error {
		_, err := net.InterfaceByName(opts.Interface)
		return err
	})
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.EPERM):
		return nil // cannot enter the namespace to look: the capture will say
	case opts.NetNS != "":
		return fmt.Errorf("-i %s: no such interface in network namespace %s (see `ip -n %s link`)", opts.Interface, opts.NetNS, opts.NetNS)
	default:
		return fmt.Errorf("-i %s: no such interface (see `ip link`)", opts.Interface)
	}
}

// close releases the flow filter (the reader is closed by the session).
func (c *packetCapture) close() {
	if c.flowFilter != nil {
		c.flowFilter.Close()
	}
}
