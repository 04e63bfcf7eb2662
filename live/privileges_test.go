package live

import (
	"strings"
	"testing"
)

func TestPrivilegesCheck(t *testing.T) {
	tests := []struct {
		name        string
		caps        uint64
		wantErr     bool
		wantMissing []string
	}{
		{"root-like full set", 0x000001ffffffffff, false, nil},
		{"the four capabilities", 1<<capBPF | 1<<capPerfmon | 1<<capNetRaw | 1<<capNetAdmin, false, nil},
		{"sys_admin instead of bpf+perfmon", 1<<capSysAdmin | 1<<capNetRaw | 1<<capNetAdmin, false, nil},
		{"none", 0, true, []string{"CAP_NET_RAW", "CAP_NET_ADMIN", "CAP_BPF", "CAP_PERFMON"}},
		{"capture only", 1<<capNetRaw | 1<<capNetAdmin, true, []string{"CAP_BPF", "CAP_PERFMON"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := privilegesFromCaps(tt.caps, false).Check()
			if (err != nil) != tt.wantErr {
				t.Fatalf("Check() = %v, wantErr %v", err, tt.wantErr)
			}
			for _, m := range tt.wantMissing {
				if !strings.Contains(err.Error(), "lacks") || !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not name %s", err, m)
				}
			}
		})
	}
}
