package tui

import (
	"go/ast"
	"go/parser"
	"go/token"
	"testing"
)

// Panes get the shared context and their container(s), never the root
// model: no function of a pane file has a *Model receiver or parameter
// (nor does helpView, the ? overlay, which lives in view.go).
func TestPanesDoNotSeeTheModel(t *testing.T) {
	panes := []string{"list.go", "detail.go", "handshake.go", "serial.go", "resources.go", "configtab.go", "dialog.go", "view.go"}
	fset := token.NewFileSet()
	for _, name := range panes {
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || name == "view.go" && fn.Name.Name != "helpView" {
				continue
			}
			var fields []*ast.Field
			if fn.Recv != nil {
				fields = append(fields, fn.Recv.List...)
			}
			fields = append(fields, fn.Type.Params.List...)
			for _, fl := range fields {
				typ := fl.Type
				if s, ok := typ.(*ast.StarExpr); ok {
					typ = s.X
				}
				if id, ok := typ.(*ast.Ident); ok && id.Name == "Model" {
					t.Errorf("%s: %s takes the root model", fset.Position(fn.Pos()), fn.Name.Name)
				}
			}
		}
	}
}
