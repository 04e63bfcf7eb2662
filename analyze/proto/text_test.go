package proto

import "testing"

func TestCleanText(t *testing.T) {
	tests := []struct {
		in, want  string
		printable bool
	}{
		{"Access denied for user 'app'@'10.0.0.5'", "Access denied for user 'app'@'10.0.0.5'", true},
		{"", "", true},
		{"tab\there", "tab\uFFFDhere", false},
		{"bell\x07 and del\x7f", "bell\uFFFD and del\uFFFD", false},
		{"cut utf-8 \xe2\x82", "cut utf-8 \uFFFD", true},
		{"naïve", "naïve", true},
	}
	for _, tt := range tests {
		if got := CleanText([]byte(tt.in)); got != tt.want {
			t.Errorf("CleanText(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if got := Printable(tt.in); got != tt.printable {
			t.Errorf("Printable(%q) = %v, want %v", tt.in, got, tt.printable)
		}
	}
}
