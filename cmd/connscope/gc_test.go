package main

import "testing"

func TestAnalyzeGCSettings(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     map[string]string
		percent int
		limit   int64
	}{
		{"defaults", nil, analyzeGCPercent, analyzeMemoryLimit},
		{"GOGC set", map[string]string{"GOGC": "100"}, -1, analyzeMemoryLimit},
		{"GOGC off", map[string]string{"GOGC": "off"}, -1, analyzeMemoryLimit},
		{"GOMEMLIMIT set", map[string]string{"GOMEMLIMIT": "1GiB"}, analyzeGCPercent, -1},
		{"both set", map[string]string{"GOGC": "50", "GOMEMLIMIT": "1GiB"}, -1, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, l := analyzeGCSettings(func(k string) string { return tc.env[k] })
			if p != tc.percent || l != tc.limit {
				t.Errorf("analyzeGCSettings(%v) = %d, %d; want %d, %d", tc.env, p, l, tc.percent, tc.limit)
			}
		})
	}
}

func TestLiveGCSettings(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     map[string]string
		percent int
		limit   int64
	}{
		{"defaults", nil, liveGCPercent, liveMemoryLimit},
		{"GOGC set", map[string]string{"GOGC": "100"}, -1, liveMemoryLimit},
		{"GOMEMLIMIT set", map[string]string{"GOMEMLIMIT": "1GiB"}, liveGCPercent, -1},
		{"both set", map[string]string{"GOGC": "50", "GOMEMLIMIT": "1GiB"}, -1, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, l := liveGCSettings(func(k string) string { return tc.env[k] })
			if p != tc.percent || l != tc.limit {
				t.Errorf("liveGCSettings(%v) = %d, %d; want %d, %d", tc.env, p, l, tc.percent, tc.limit)
			}
		})
	}
}
