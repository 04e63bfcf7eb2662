package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/connscope/connscope/analyze"
	"github.com/connscope/connscope/capture"
	"github.com/connscope/connscope/progress"
	"github.com/connscope/connscope/report"
)

// expandFiles turns the command line's files into the list to read: the
// files of each -r directory (in name order, hidden files left out), and a
// quoted glob (a name with * ? or [ that is not itself a file) expanded.
// The same file named twice is an error: every packet would be a duplicate.
func expandFiles(files, dirs []string) ([]string, error) {
	var out []string
	for _, name := range files {
		if name == "-" || !strings.ContainsAny(name, "*?[") {
			out = append(out, name)
			continue
		}
		if _, err := os.Stat(name); err == nil {
			out = append(out, name)
			continue
		}
		matches, err := filepath.Glob(name)
		if err != nil {
			return nil, fmt.Errorf("%q: bad pattern: %v", name, err)
		}
		if len(matches) == 0 {
			return nil, fmt.Errorf("%q: no file matches this pattern", name)
		}
		out = append(out, matches...) // Glob sorts them
	}
	for _, dir := range dirs {
		ents, err := os.ReadDir(dir)
		if err != nil {
			return nil, fmt.Errorf("-r %s: %v", dir, err)
		}
		n := 0
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), ".") || !e.Type().IsRegular() {
				continue
			}
			out = append(out, filepath.Join(dir, e.Name()))
			n++
		}
		if n == 0 {
			return nil, fmt.Errorf("-r %s: the directory has no capture files", dir)
		}
	}
	seen := make(map[string]string, len(out))
	for _, name := range out {
		key := name
		if name == "-" {
			continue // standard input named twice: the caller's usage error
		}
		{
			if abs, err := filepath.Abs(name); err == nil {
				key = abs
			}
		}
		if prev, ok := seen[key]; ok {
			return nil, fmt.Errorf("%s is named twice (as %s and %s): each file is read once, a file given twice would be all duplicates", name, prev, name)
		}
		seen[key] = name
	}
	return out, nil
}

// analyzeSet analyzes several captures as one incident: their packets are
// merged by timestamp into one stream for one engine (capture.Merged), so a
// connect whose SYN is in one rotated file and whose greeting is in the
// next is one connect, and a packet seen in two captures (two interfaces,
// overlapping rotations) is a duplicate frame, recognised and counted as
// within one file. It returns the summary and the errors, each naming its
// file (and, for a damaged file, the packet number and byte offset).
func analyzeSet(names []string, stdin io.Reader, w *report.Writer, opts analyze.Options, m *progress.Meter) (analyze.Summary, []error) {
	inputs := make([]capture.Input, len(names))
	for i, name := range names {
		inputs[i] = capture.FileInput(name, stdin)
		if m != nil { // the same, with the file's bytes counted
			through := m.Through(i)
			if name == "-" {
				inputs[i].Open = func() (*capture.Reader, error) { return capture.NewReader(through(stdin), "stdin") }
			} else {
				inputs[i].Open = func() (*capture.Reader, error) { return capture.OpenThrough(name, through) }
			}
		}
		// Learned first, so that under --redact an error quoting the file
		// name shows its pseudonym.
	}
	shown := make([]string, len(inputs))
	for i, in := range inputs {
		shown[i] = in.Name
	}
	// Named first, so that under --redact an error quoting a file name
	// shows its pseudonym.
	if err := w.SetSources(shown); err != nil {
		return analyze.Summary{}, []error{err}
	}
	mg := capture.NewMerged(inputs)
	defer mg.Close()
	var writeErr error
	opts.OnConnect = func(c *analyze.Connect) {
		if err := w.Connect(c); err != nil && writeErr == nil {
			writeErr = err
		}
	}
	opts.Pipeline = mayPipeline(names)
	e := analyze.NewEngine(opts)
	for {
		p, err := mg.Next()
		if err != nil {
			break // io.EOF: Merged keeps each file's error in its result
		}
		m.Packet()
		e.Packet(p)
	}
	var errs []error
	var openErrs []string
	for _, res := range mg.Results() {
		if res.OpenErr != nil {
			openErrs = append(openErrs, res.OpenErr.Error())
			errs = append(errs, fmt.Errorf("%v\n  (nothing was analyzed from %s)", res.OpenErr, res.Name))
			continue
		}
		e.AddStats(res.Stats)
		if res.Stats.Err != "" {
			errs = append(errs, errors.New(res.Stats.Err))
		} else if err := undecodable(res.Name, analyze.Summary{Packets: res.Stats.Packets, Malformed: res.Stats.Malformed}); err != nil {
			openErrs = append(openErrs, err.Error())
			errs = append(errs, err)
		}
	}
	sum := e.Close()
	sum.Errors = append(sum.Errors, openErrs...)
	if writeErr != nil {
		errs = append([]error{writeErr}, errs...)
	}
	return sum, errs
}
