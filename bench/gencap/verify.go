package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
)

// verify compares what `connscope analyze --format json` found in the
// capture (its summary line, in jsonl) with what gencap generated
// (capture.expected.json), prints both side by side, and reports whether
// they agree.
func verify(capture, jsonl string) (bool, error) {
	var exp expected
	b, err := os.ReadFile(capture + ".expected.json")
	if err != nil {
		return false, err
	}
	if err := json.Unmarshal(b, &exp); err != nil {
		return false, fmt.Errorf("%s.expected.json: %w", capture, err)
	}
	f, err := os.Open(jsonl)
	if err != nil {
		return false, err
	}
	defer f.Close()
	var sum struct {
		Kind            string         `json:"kind"`
		Packets         int            `json:"packets"`
		Duplicates      int            `json:"duplicates"`
		Malformed       int            `json:"malformed"`
		Outcomes        map[string]int `json:"outcomes"`
		ConnectOutcomes map[string]int `json:"connect_outcomes"`
	}
	rd := bufio.NewReaderSize(f, 1<<20)
	found := false
	for {
		line, err := rd.ReadBytes('\n')
		if len(line) > 0 && json.Unmarshal(line, &sum) == nil && sum.Kind == "summary" {
			found = true
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return false, err
		}
	}
	if !found {
		return false, fmt.Errorf("%s has no summary line", jsonl)
	}
	ok := true
	check := func(what string, want, got int) {
		mark := ""
		if what == "duplicate frames" {
			// The engine counts duplicates among the frames it examines,
			// not among bulk traffic it skips: at most what was generated.
			if got > want || (want > 0 && got == 0) {
				mark = "  <- more than generated, or none found"
				ok = false
			} else if got < want {
				mark = "  (only those of frames analyze examines)"
			}
			fmt.Printf("| %-34s | %9d | %9d |%s\n", what, want, got, mark)
			return
		}
		if want != got {
			mark = "  <- differs"
			ok = false
		}
		fmt.Printf("| %-34s | %9d | %9d |%s\n", what, want, got, mark)
	}
	fmt.Printf("| %-34s | %9s | %9s |\n", "", "generated", "analyze")
	fmt.Printf("|%s|%s|%s|\n", "------------------------------------", "----------:", "----------:")
	check("packets", exp.Packets, sum.Packets)
	check("duplicate frames", exp.DuplicateFrames, sum.Duplicates)
	check("malformed", 0, sum.Malformed)
	for _, k := range keys(exp.Attempts, sum.Outcomes) {
		check("attempts "+k, exp.Attempts[k], sum.Outcomes[k])
	}
	for _, k := range keys(exp.Connects, sum.ConnectOutcomes) {
		check("connects "+k, exp.Connects[k], sum.ConnectOutcomes[k])
	}
	return ok, nil
}

func keys(ms ...map[string]int) []string {
	set := map[string]bool{}
	for _, m := range ms {
		for k := range m {
			set[k] = true
		}
	}
	var out []string
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
