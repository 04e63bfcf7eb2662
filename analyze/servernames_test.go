package analyze

import (
	"slices"
	"strings"
	"testing"

	"github.com/connscope/connscope/analyze/proto"
)

// TestAppendServerFirstNames checks the appended names against the list
// joined, for the registry as it is and with more server-first protocols
// (and one that is not) registered after it.
func TestAppendServerFirstNames(t *testing.T) {
	saved := protocols
	defer func() { protocols = saved }()
	for _, extra := range [][]*proto.Protocol{
		nil,
		{{Name: "Redis"}},
		{{Name: "SMTP", ServerFirst: true}, {Name: "HTTP"}, {Name: "FTP", ServerFirst: true}},
	} {
		protocols = append(slices.Clip(saved), extra...)
		want := strings.Join(ServerFirstProtocols(), " or ")
		if got := string(AppendServerFirstNames([]byte("x"))); got != "x"+want {
			t.Errorf("with %d more protocols: %q, want %q", len(extra), got, "x"+want)
		}
	}
	protocols = nil
	if got := string(AppendServerFirstNames(nil)); got != "" {
		t.Errorf("no protocols: %q", got)
	}
}
