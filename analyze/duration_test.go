package analyze

import (
	"testing"
	"time"
)

func TestFormatDuration(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0.000 ms"},
		{37 * time.Microsecond, "0.037 ms"},
		{44*time.Microsecond + 400, "0.044 ms"},
		{999 * time.Microsecond, "0.999 ms"},
		{999*time.Microsecond + 600, "1.0 ms"},
		{1234 * time.Microsecond, "1.2 ms"},
		{4500 * time.Microsecond, "4.5 ms"},
		{9960 * time.Microsecond, "10 ms"},
		{250 * time.Millisecond, "250 ms"},
		{999700 * time.Microsecond, "1.0 s"},
		{3008 * time.Millisecond, "3.0 s"},
		{75 * time.Second, "75.0 s"},
		{-120 * time.Microsecond, "-0.120 ms"},
	} {
		if got := FormatDuration(c.d); got != c.want {
			t.Errorf("FormatDuration(%v) = %q, want %q", c.d, got, c.want)
		}
		if got := FormatMS(float64(c.d) / float64(time.Millisecond)); got != c.want {
			t.Errorf("FormatMS(%v) = %q, want %q", c.d, got, c.want)
		}
	}
}
