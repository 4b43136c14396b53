package server

import (
	"os"
	"strings"
	"testing"
)

// TestREADMEExample checks that the README's embedding snippet is the
// package example's, which is compiled and run.
func TestREADMEExample(t *testing.T) {
	example, err := os.ReadFile("example_test.go")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, body, _ := strings.Cut(string(example), "// README: embedding\n")
	body, _, _ = strings.Cut(body, "\t// README: end\n")
	var lines []string
	for _, l := range strings.Split(strings.TrimSuffix(body, "\n"), "\n") {
		lines = append(lines, strings.TrimPrefix(l, "\t"))
	}
	snippet := "```go\n" + strings.Join(lines, "\n") + "\n```"
	if !strings.Contains(string(readme), snippet) {
		t.Errorf("README.md lacks the embedding example of example_test.go:\n%s", snippet)
	}
}
