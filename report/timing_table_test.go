package report

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/connscope/connscope/analyze"
	"github.com/connscope/connscope/capture"
)

// TestTableClientFirstColumns: the table of a real client-first capture
// (testdata/clientfirst) shows the client's first byte, the server's
// response and the slow part, and no Greeting column; a MySQL capture's
// table shows none of the three (columns adapt to what the capture holds).
// A request that got no answer is not headed "never sent its greeting".
func TestTableClientFirstColumns(t *testing.T) {
	render := func(path string) string {
		t.Helper()
		r, err := capture.Open(path)
		if err != nil {
			t.Fatalf("open %s: %v", path, err)
		}
		defer r.Close()
		var out bytes.Buffer
		w := NewWriter(&out, Options{Format: Table})
		sum, err := analyze.RunSource(r, analyze.Options{OnConnect: func(c *analyze.Connect) {
			if err := w.Connect(c); err != nil {
				t.Fatal(err)
			}
		}})
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if err := w.Summary(sum); err != nil {
			t.Fatal(err)
		}
		return out.String()
	}
	tests := []struct {
		file      string
		want, not []string
	}{
		{"clientfirst/client-pause.pcap", []string{"│ Client first │ Response │ Slow ", "│ client 1.4 s │"}, []string{"Greeting"}},
		{"clientfirst/server-slow.pcap", []string{"│ Client first │ Response │ Slow ", "│ server 1.0 s │"}, []string{"Greeting"}},
		{"clientfirst/backlog-full.pcap", []string{"│ network 1.0 s │"}, []string{"Greeting"}},
		{"clientfirst/no-response.pcap", []string{"│ Client first │", "TCP connected and the client sent its request, but the server never answered."}, []string{"never sent its greeting", "Greeting"}},
		{"captures/greeting-5s-mariadb.any.pcap", []string{"│ Greeting │"}, []string{"Client first", "Response", "Slow"}},
	}
	for _, tc := range tests {
		got := render(filepath.Join("..", "testdata", tc.file))
		for _, s := range tc.want {
			if !strings.Contains(got, s) {
				t.Errorf("%s: table lacks %q:\n%s", tc.file, s, got)
			}
		}
		for _, s := range tc.not {
			if strings.Contains(got, s) {
				t.Errorf("%s: table has %q:\n%s", tc.file, s, got)
			}
		}
	}
}
