package report

import (
	"strings"
	"testing"

	"github.com/connscope/connscope/rollup"
)

// A pattern's causes are the pattern's own, then what its server's
// protocol adds through its registration (and nothing for none).
func TestPatternCausesFromProtocol(t *testing.T) {
	for _, tc := range []struct {
		id, protocol string
		want, never  string
	}{
		{rollup.AcceptBacklog, "mysql", "back_log", ""},
		{rollup.AcceptBacklog, "", "TcpExtListenOverflows", "back_log"},
		{rollup.TooManyConnections, "mysql", "max_connections", "superuser_reserved_connections"},
		{rollup.TooManyConnections, "postgres", "superuser_reserved_connections", "max_user_connections"},
		{rollup.TooManyConnections, "", "connection limit", "max_connections"},
		{rollup.HostBlocked, "mysql", "FLUSH HOSTS", ""},
	} {
		got := strings.Join(patternCauses(rollup.Pattern{ID: tc.id, Protocol: tc.protocol}), "\n")
		if !strings.Contains(got, tc.want) {
			t.Errorf("%s/%q: causes lack %q:\n%s", tc.id, tc.protocol, tc.want, got)
		}
		if tc.never != "" && strings.Contains(got, tc.never) {
			t.Errorf("%s/%q: causes name %q:\n%s", tc.id, tc.protocol, tc.never, got)
		}
	}
}
