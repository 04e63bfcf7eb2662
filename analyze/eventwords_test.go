package analyze

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestEngineWritesNoEventWords: the engine and its protocol plug-ins record
// a timeline step as a kind and facts; its words are made by the report
// when it renders (report/eventwords.go, and the protocols' Words). No
// source file under analyze/ sets an Event's What (a What: field in a
// composite literal, or an assignment to .What), and no lab capture's
// timeline comes out of the engine with words.
func TestEngineWritesNoEventWords(t *testing.T) {
	var files []string
	err := filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 20 {
		t.Fatalf("found only %d source files under analyze/: %v", len(files), files)
	}
	fset := token.NewFileSet()
	for _, path := range files {
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.KeyValueExpr:
				if id, ok := n.Key.(*ast.Ident); ok && id.Name == "What" {
					t.Errorf("%s: sets What: the engine records facts (EventAttrs); the report makes the words", fset.Position(n.Pos()))
				}
			case *ast.AssignStmt:
				for _, l := range n.Lhs {
					if sel, ok := l.(*ast.SelectorExpr); ok && sel.Sel.Name == "What" {
						t.Errorf("%s: assigns .What: the engine records facts (EventAttrs); the report makes the words", fset.Position(n.Pos()))
					}
				}
			}
			return true
		})
	}

	paths, _ := filepath.Glob(filepath.Join(capturesDir, "*.pcap"))
	if len(paths) == 0 {
		t.Skipf("no lab captures in %s (make testdata records them); the source check ran", capturesDir)
	}
	events := 0
	for _, path := range paths {
		cs, _ := analyzeFile(t, path)
		for _, c := range cs {
			for _, a := range c.Attempts {
				for _, e := range a.Events {
					events++
					if e.What != "" {
						t.Errorf("%s: the engine gave a %s step the words %q", filepath.Base(path), e.Kind, e.What)
					}
				}
			}
		}
	}
	if events == 0 {
		t.Errorf("the lab captures gave no timeline steps to check")
	}
}
