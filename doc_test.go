// Package trawl_test holds checks that span the whole module.
package trawl_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDocComments checks every package of the module (STYLE.md §7): one
// package comment ("Package x …", or "Command x …" for a main package), and a
// doc comment starting with its name on every exported identifier, plus a
// comment on every exported struct field.
func TestDocComments(t *testing.T) {
	dirs := map[string]bool{}
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			name := d.Name()
			if path != "." && (strings.HasPrefix(name, ".") || name == "testdata") {
				return filepath.SkipDir
			}
			if path != "." {
				if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil {
					return filepath.SkipDir // another module (bench/peers/…)
				}
			}
			return nil
		}
		if strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") {
			dirs[filepath.Dir(path)] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) < 10 {
		t.Fatalf("found only %d package directories: %v", len(dirs), dirs)
	}
	for dir := range dirs {
		t.Run(dir, func(t *testing.T) { checkPackageDocs(t, dir) })
	}
}

func checkPackageDocs(t *testing.T, dir string) {
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, dir, func(fi fs.FileInfo) bool {
		return !strings.HasSuffix(fi.Name(), "_test.go")
	}, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	for name, pkg := range pkgs {
		want := "Package " + name + " "
		if name == "main" {
			want = "Command " + filepath.Base(dir) + " "
		}
		docs := 0
		for _, f := range pkg.Files {
			if f.Doc != nil {
				docs++
				if !strings.HasPrefix(f.Doc.Text(), want) {
					t.Errorf("%s: package comment starts %q, want %q", fset.Position(f.Package), firstLine(f.Doc.Text()), want)
				}
			}
			for _, decl := range f.Decls {
				checkDecl(t, fset, decl)
			}
		}
		if docs != 1 {
			t.Errorf("%s: %d files have a package comment, want exactly 1", dir, docs)
		}
	}
}

func checkDecl(t *testing.T, fset *token.FileSet, decl ast.Decl) {
	named := func(id *ast.Ident, docs ...*ast.CommentGroup) {
		if !id.IsExported() {
			return
		}
		for _, d := range docs {
			if d != nil {
				if text := d.Text(); !strings.HasPrefix(text, id.Name+" ") {
					t.Errorf("%s: doc of %s starts %q", fset.Position(id.Pos()), id.Name, firstLine(text))
				}
				return
			}
		}
		t.Errorf("%s: %s is not documented", fset.Position(id.Pos()), id.Name)
	}
	switch d := decl.(type) {
	case *ast.FuncDecl:
		if d.Recv != nil && !exportedRecv(d.Recv) {
			return // methods of unexported types are not API
		}
		named(d.Name, d.Doc)
	case *ast.GenDecl:
		for _, spec := range d.Specs {
			switch s := spec.(type) {
			case *ast.TypeSpec:
				named(s.Name, s.Doc, d.Doc)
				if st, ok := s.Type.(*ast.StructType); ok && s.Name.IsExported() {
					for _, f := range st.Fields.List {
						for _, n := range f.Names {
							if n.IsExported() && f.Doc == nil && f.Comment == nil {
								t.Errorf("%s: field %s.%s is not documented", fset.Position(n.Pos()), s.Name, n)
							}
						}
					}
				}
			case *ast.ValueSpec:
				if s.Doc == nil && (s.Comment != nil || d.Lparen.IsValid() && d.Doc != nil) {
					continue // a line comment, or one of a documented group (const ( … ))
				}
				for _, n := range s.Names {
					named(n, s.Doc, d.Doc)
				}
			}
		}
	}
}

// exportedRecv reports whether a method's receiver type is exported.
func exportedRecv(recv *ast.FieldList) bool {
	typ := recv.List[0].Type
	if star, ok := typ.(*ast.StarExpr); ok {
		typ = star.X
	}
	if idx, ok := typ.(*ast.IndexExpr); ok {
		typ = idx.X
	}
	id, ok := typ.(*ast.Ident)
	return ok && id.IsExported()
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
