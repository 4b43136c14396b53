package awsjson

import (
	"encoding/json"
	"testing"
	"time"
)

func TestObject(t *testing.T) {
	got := Object("Code", "Success", "LastUpdated", Stamp(time.Date(2026, 3, 31, 16, 34, 24, 5, time.FixedZone("x", 3600))), "KernelId", nil)
	want := "{\n  \"Code\" : \"Success\",\n  \"LastUpdated\" : \"2026-03-31T15:34:24Z\",\n  \"KernelId\" : null\n}"
	if got != want {
		t.Errorf("Object:\n%s\nwant\n%s", got, want)
	}
	if got := Object(); got != "{\n\n}" {
		t.Errorf("empty Object = %q", got)
	}
}

func TestString(t *testing.T) {
	for in, want := range map[string]string{
		"":             `""`,
		`a"b\c`:        `"a\"b\\c"`,
		"x\ny\x1f\x7f": `"x\u000ay\u001f` + "\x7f\"",
		"héllo/<>&":    `"héllo/<>&"`,
	} {
		if got := String(in); got != want {
			t.Errorf("String(%q) = %s, want %s", in, got, want)
		}
	}
}

// TestStringDecodes checks that whatever String writes is JSON that decodes
// to the string, invalid UTF-8 included.
func TestStringDecodes(t *testing.T) {
	for _, s := range []string{"", "plain", `q"uote`, `back\slash`, "tab\tnl\ncr\r", "\x00\x1f\x7f", "é€😀", "\u2028", "\xff\xfe"} {
		enc := String(s)
		var got string
		if err := json.Unmarshal([]byte(enc), &got); err != nil {
			t.Errorf("String(%q) = %s, not valid JSON: %v", s, enc, err)
			continue
		}
		if want := string([]rune(s)); got != want { // one U+FFFD per invalid byte
			t.Errorf("String(%q) decodes to %q, want %q", s, got, want)
		}
	}
}
