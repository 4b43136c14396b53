package config

import (
	"os"
	"strings"
	"testing"
)

// TestREADME checks the README's configuration examples: the first is the
// built-in default, byte for byte; the second, the original mock's example
// with fault injection, loads with its two warnings.
func TestREADME(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var blocks []string
	for rest := string(readme); ; {
		_, after, ok := strings.Cut(rest, "```json\n")
		if !ok {
			break
		}
		block, after, _ := strings.Cut(after, "```")
		blocks = append(blocks, block)
		rest = after
	}
	if len(blocks) < 2 {
		t.Fatalf("README.md has %d JSON blocks, want the built-in default and the example", len(blocks))
	}
	if blocks[0] != string(DefaultJSON()) {
		t.Errorf("README.md's first JSON block is not default.json:\n%s", blocks[0])
	}
	_, diags, err := Parse("README.md", []byte(blocks[1]))
	if err != nil || len(diags) != 2 || !strings.Contains(diags[0].Msg, "is not shaped like an EC2 instance id") ||
		!strings.Contains(diags[1].Msg, "does not start with region") {
		t.Errorf("README.md's example: %v, warnings %v", err, diags)
	}
}
