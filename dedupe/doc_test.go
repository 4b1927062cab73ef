package dedupe

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// TestDocComments checks the package comment and that every exported
// identifier has a doc comment that starts with its name.
func TestDocComments(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	pkgDoc := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		if f.Doc != nil {
			pkgDoc++
			if !strings.HasPrefix(f.Doc.Text(), "Package dedupe ") {
				t.Errorf("%s: package comment %q does not start with \"Package dedupe \"", name, f.Doc.Text())
			}
		}
		check := func(id *ast.Ident, docs ...*ast.CommentGroup) {
			if !id.IsExported() {
				return
			}
			for _, d := range docs {
				if d != nil {
					if text := d.Text(); !strings.HasPrefix(text, id.Name+" ") {
						t.Errorf("%s: doc of %s starts %q", fset.Position(id.Pos()), id.Name, text)
					}
					return
				}
			}
			t.Errorf("%s: %s is not documented", fset.Position(id.Pos()), id.Name)
		}
		for _, decl := range f.Decls {
			switch d := decl.(type) {
			case *ast.FuncDecl:
				check(d.Name, d.Doc)
			case *ast.GenDecl:
				for _, spec := range d.Specs {
					switch s := spec.(type) {
					case *ast.TypeSpec:
						check(s.Name, s.Doc, d.Doc)
					case *ast.ValueSpec:
						for _, n := range s.Names {
							check(n, s.Doc, d.Doc)
						}
					}
				}
			}
		}
	}
	if pkgDoc != 1 {
		t.Errorf("%d files have a package comment, want exactly 1", pkgDoc)
	}
}
