package strictjson

import (
	"reflect"
	"strings"
	"testing"
)

func TestJoinKey(t *testing.T) {
	tests := []struct{ path, key, want string }{
		{"", "region", "region"},
		{"iam", "role", "iam.role"},
		{"tags", "Name", "tags.Name"},
		{"force_status", "meta-data/ami-id", `force_status["meta-data/ami-id"]`},
		{"tags", "a.b", `tags["a.b"]`},
		{"tags", `a"b`, `tags["a\"b"]`},
		{"", "", `[""]`},
	}
	for _, tt := range tests {
		got := JoinKey(tt.path, tt.key)
		if got != tt.want {
			t.Errorf("JoinKey(%q, %q) = %q, want %q", tt.path, tt.key, got, tt.want)
		}
		if p := Parent(got); p != tt.path {
			t.Errorf("Parent(%q) = %q, want %q", got, p, tt.path)
		}
	}
	if p := Parent("ssh_public_keys[3]"); p != "ssh_public_keys" {
		t.Errorf("Parent of a list entry = %q", p)
	}
}

func TestDistance(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"role", "role", 0}, {"rol", "role", 1}, {"regoin", "region", 1},
		{"instanceid", "instanceid", 0}, {"mac", "tags", 3}, {"abc", "", 3},
	} {
		if got := Distance(tt.a, tt.b); got != tt.want {
			t.Errorf("Distance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestStripComments(t *testing.T) {
	in := "#a\n  //b\n{\"x\": \"#c\"}\n\t#d\r\n"
	want := "  \n     \n{\"x\": \"#c\"}\n    \n"
	got := string(StripComments([]byte(in)))
	if got != want {
		t.Errorf("StripComments(%q) = %q, want %q", in, got, want)
	}
	if len(got) != len(in) {
		t.Errorf("offsets moved")
	}
}

type inner struct {
	N int `json:"n"`
}

type outer struct {
	inner
	Name string            `json:"name"`
	List []int             `json:"list"`
	Map  map[string]int    `json:"map"`
	Ptr  *inner            `json:"ptr"`
	Tags map[string]string `json:"tags"`
	Skip string            `json:"-"`
}

// TestFieldPaths checks the field paths the schema is asked about, and
// that embedded structs' keys are the outer object's.
func TestFieldPaths(t *testing.T) {
	var ranges, examples []string
	s := Schema{
		Range:   func(f string) string { ranges = append(ranges, f); return "expected small" },
		Example: func(f string) string { examples = append(examples, f); return "" },
	}
	var v outer
	doc, ok := Decode([]byte(`{"n": 1e99, "list": [99999999999999999999], "map": {"a": 99999999999999999999},
		"ptr": {"n": 99999999999999999999}, "name": 5, "tags": {"x": 1}}`), &v, s)
	if !ok {
		t.Fatalf("not decoded: %+v", doc.Problems)
	}
	if got, want := strings.Join(ranges, " "), "list[] map[] ptr.n"; got != want {
		t.Errorf("ranges asked for %q, want %q", got, want)
	}
	if got, want := strings.Join(examples, " "), "name tags[]"; got != want {
		t.Errorf("examples asked for %q, want %q", got, want)
	}
	var msgs []string
	for _, p := range doc.Problems {
		msgs = append(msgs, p.Key+": "+p.Msg)
	}
	want := []string{
		"n: expected a whole number, got 1e99",
		"list[0]: 99999999999999999999 is out of range: expected small",
		`map.a: 99999999999999999999 is out of range: expected small`,
		"ptr.n: 99999999999999999999 is out of range: expected small",
		"name: expected a string, got a number (5)",
		"tags.x: expected a string, got a number (1)",
	}
	if strings.Join(msgs, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(msgs, "\n"), strings.Join(want, "\n"))
	}
	if got := Keys(reflect.TypeFor[outer]()); strings.Join(got, ",") != "n,name,list,map,ptr,tags" {
		t.Errorf("Keys = %q", got)
	}
}

// TestMaxProblems checks that problems past the bound are counted, not
// recorded, and that no suggestion is worked out for them.
func TestMaxProblems(t *testing.T) {
	var b strings.Builder
	b.WriteString("{")
	for i := range 1000 {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`"nane` + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + `": 1`)
	}
	b.WriteString("}")
	asked := 0
	s := Schema{MaxProblems: 10, Unknown: func(reflect.Type, string, string) string { asked++; return "" }}
	var v outer
	doc, ok := Decode([]byte(b.String()), &v, s)
	if !ok {
		t.Fatal("not decoded")
	}
	if len(doc.Problems) != 10 || doc.Dropped < 990 || asked != 10 {
		t.Errorf("%d problems, %d dropped, %d unknown keys looked at; want 10, at least 990, 10", len(doc.Problems), doc.Dropped, asked)
	}
	// A syntax error is recorded whatever the bound.
	doc, ok = Decode([]byte(b.String()[:b.Len()-1]+`,}`), &v, s)
	if ok || !strings.Contains(doc.Problems[len(doc.Problems)-1].Msg, "invalid JSON") {
		t.Errorf("syntax error past the bound: ok %t, problems %v", ok, doc.Problems)
	}
}
