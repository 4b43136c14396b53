package mergepatch

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// TestRFC7396Appendix runs every example of RFC 7396, Appendix A.
func TestRFC7396Appendix(t *testing.T) {
	tests := []struct{ target, patch, want string }{
		{`{"a":"b"}`, `{"a":"c"}`, `{"a":"c"}`},
		{`{"a":"b"}`, `{"b":"c"}`, `{"a":"b","b":"c"}`},
		{`{"a":"b"}`, `{"a":null}`, `{}`},
		{`{"a":"b","b":"c"}`, `{"a":null}`, `{"b":"c"}`},
		{`{"a":["b"]}`, `{"a":"c"}`, `{"a":"c"}`},
		{`{"a":"c"}`, `{"a":["b"]}`, `{"a":["b"]}`},
		{`{"a":{"b":"c"}}`, `{"a":{"b":"d","c":null}}`, `{"a":{"b":"d"}}`},
		{`{"a":[{"b":"c"}]}`, `{"a":[1]}`, `{"a":[1]}`},
		{`["a","b"]`, `["c","d"]`, `["c","d"]`},
		{`{"a":"b"}`, `["c"]`, `["c"]`},
		{`{"a":"foo"}`, `null`, `null`},
		{`{"a":"foo"}`, `"bar"`, `"bar"`},
		{`{"e":null}`, `{"a":1}`, `{"a":1,"e":null}`},
		{`[1,2]`, `{"a":"b","c":null}`, `{"a":"b"}`},
		{`{}`, `{"a":{"bb":{"ccc":null}}}`, `{"a":{"bb":{}}}`},
	}
	for _, tt := range tests {
		got, err := Apply([]byte(tt.target), []byte(tt.patch))
		if err != nil {
			t.Errorf("Apply(%s, %s): %v", tt.target, tt.patch, err)
			continue
		}
		if string(got) != tt.want {
			t.Errorf("Apply(%s, %s) = %s, want %s", tt.target, tt.patch, got, tt.want)
		}
	}
}

// TestRFC7396Section3 is the larger example of section 3.
func TestRFC7396Section3(t *testing.T) {
	target := `{"title":"Goodbye!","author":{"givenName":"John","familyName":"Doe"},"tags":["example","sample"],"content":"This will be unchanged"}`
	patch := `{"title":"Hello!","phoneNumber":"+01-123-456-7890","author":{"familyName":null},"tags":["example"]}`
	want := `{"author":{"givenName":"John"},"content":"This will be unchanged","phoneNumber":"+01-123-456-7890","tags":["example"],"title":"Hello!"}`
	got, err := Apply([]byte(target), []byte(patch))
	if err != nil || string(got) != want {
		t.Errorf("got %s, %v\nwant %s", got, err, want)
	}
}

func TestNullsInArraysKept(t *testing.T) {
	got, err := Apply([]byte(`{}`), []byte(`{"a":[{"b":null},null]}`))
	if err != nil || string(got) != `{"a":[{"b":null},null]}` {
		t.Errorf("got %s, %v", got, err)
	}
}

func TestNumbersKept(t *testing.T) {
	got, err := Apply([]byte(`{"n":12345678901234567890}`), []byte(`{"m":0.10}`))
	if err != nil || string(got) != `{"m":0.10,"n":12345678901234567890}` {
		t.Errorf("got %s, %v", got, err)
	}
}

func TestEmptyDocument(t *testing.T) {
	got, err := Apply(nil, []byte(`{"a":{"b":null,"c":1}}`))
	if err != nil || string(got) != `{"a":{"c":1}}` {
		t.Errorf("got %s, %v", got, err)
	}
}

func TestInputsUnchanged(t *testing.T) {
	target, _ := Decode([]byte(`{"a":{"b":1},"c":[{"d":2}]}`))
	patch, _ := Decode([]byte(`{"a":{"b":null,"x":1}}`))
	out := Merge(target, patch).(map[string]any)
	out["c"].([]any)[0].(map[string]any)["d"] = "changed"
	tb, _ := json.Marshal(target)
	pb, _ := json.Marshal(patch)
	if string(tb) != `{"a":{"b":1},"c":[{"d":2}]}` || string(pb) != `{"a":{"b":null,"x":1}}` {
		t.Errorf("inputs changed: %s %s", tb, pb)
	}
}

func TestErrors(t *testing.T) {
	tests := []struct{ doc, patch, want string }{
		{`{`, `{}`, "document: "},
		{`{}`, ``, "patch: empty"},
		{`{}`, `{} {}`, "patch: more than one JSON value"},
		{`{}`, `{"a":}`, "patch: invalid character"},
	}
	for _, tt := range tests {
		_, err := Apply([]byte(tt.doc), []byte(tt.patch))
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("Apply(%q, %q) = %v, want %q...", tt.doc, tt.patch, err, tt.want)
		}
	}
}

func TestLimit(t *testing.T) {
	big := `{"a":"` + strings.Repeat("x", 100) + `"}`
	if _, err := ApplyLimit(nil, []byte(big), 50); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "the patch is 108 bytes, over the limit of 50") {
		t.Errorf("patch over limit: %v", err)
	}
	if _, err := ApplyLimit([]byte(big), []byte(`{"b":1}`), 50); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "patched document would be") {
		t.Errorf("result over limit: %v", err)
	}
	if out, err := ApplyLimit([]byte(`{"a":1}`), []byte(`{"a":null}`), 50); err != nil || string(out) != `{}` {
		t.Errorf("within limit: %s %v", out, err)
	}
}

func ExampleApply() {
	overrides := []byte(`{"instance_type":"m5.large","tags":{"Name":"web1"}}`)
	out, _ := Apply(overrides, []byte(`{"instance_type":null,"tags":{"Env":"ci"}}`))
	fmt.Println(string(out))
	// Output: {"tags":{"Env":"ci","Name":"web1"}}
}
