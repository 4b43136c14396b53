package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestREADMELayout checks that the README's layout table names every
// package of the tree, so that a new package lands with its line.
func TestREADMELayout(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, _ := strings.Cut(string(readme), "\n## Layout\n")
	table, _, _ = strings.Cut(table, "\n## ")
	for _, top := range []string{"cmd", "pkg", "internal"} {
		dirs, err := os.ReadDir(filepath.Join("..", "..", top))
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range dirs {
			if d.IsDir() && !strings.Contains(table, "`"+top+"/"+d.Name()+"`") {
				t.Errorf("README.md's layout table does not name %s/%s", top, d.Name())
			}
		}
	}
}
