// Package strictjson binds a configuration file's JSON text to Go values
// strictly, reporting every problem at once with its place: unknown keys
// (with a spelling suggestion), keys given twice, values of the wrong type
// and whole numbers out of range, each under its key path ("iam.role",
// "ssh_public_keys[1]", `force_status["api/token"]`). encoding/json stops
// at the first problem and gives neither lines nor paths.
//
// The text is JSON whose whole lines starting with "#" or "//" are
// comments. What a key means (its range, an example of its form, why it is
// misplaced) is the caller's, given as a [Schema]; this package knows only
// JSON and Go types. A [Doc] remembers where each key was, so that the
// caller's own checks can place their messages too.
package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// Problem is one thing wrong with the text. Off is the byte offset it is
// about (-1: no place); Key is the key path ("" for none).
type Problem struct {
	Off int64
	Key string
	Msg string
}

// Schema is what the caller knows about the keys. Field paths are the JSON
// names of struct fields from the top, joined by dots, with "[]" for the
// values of a list or map: "rate_limit.burst", "force_status[]",
// "instances[].tags".
type Schema struct {
	// Empty is the message for a text with no value at all.
	Empty string
	// Range describes the values a whole-number key takes ("expected 0 to
	// 64"), for a number that does not fit the Go type.
	Range func(field string) string
	// Example shows the form a list or object key takes, for a value of
	// the wrong type; "" for none.
	Example func(field string) string
	// Unknown returns the message for a key that struct type t does not
	// have, at field path field; "" for the usual "unknown key" with a
	// spelling suggestion.
	Unknown func(t reflect.Type, field, key string) string
	// MaxProblems bounds the problems recorded (0: no bound). Past it,
	// decoding goes on, to find the end of the text, but nothing more is
	// recorded or suggested; Dropped counts what was left out.
	MaxProblems int
}

// Doc is a decoded text: where each key was and which values could not be
// decoded.
type Doc struct {
	// Data is the text with its comments blanked, offsets unchanged.
	Data []byte
	// Problems are those found while decoding, in the order found.
	Problems []Problem
	// Dropped counts the problems past Schema.MaxProblems.
	Dropped int

	keys     map[string]int64 // key path -> offset of the key (of the value, for list entries)
	bad      map[string]bool  // key paths whose value could not be decoded
	newlines []int64          // offsets of the line feeds, made on first use
	schema   Schema
}

// Decode binds data to v, a pointer to a struct, and reports false when the
// text is not JSON (or not one JSON object), in which case v holds what came
// before the break. Values of the wrong type are left as they were and
// recorded in Doc.Problems.
func Decode(data []byte, v any, s Schema) (*Doc, bool) {
	d := &Doc{Data: StripComments(data), keys: map[string]int64{}, bad: map[string]bool{}, schema: s}
	return d, d.decode(reflect.ValueOf(v).Elem())
}

// Given reports whether the text has the key at path.
func (d *Doc) Given(path string) bool {
	_, ok := d.keys[path]
	return ok
}

// Offset returns the offset of the key at path, or of the closest
// enclosing key the text gives; -1 when there is none.
func (d *Doc) Offset(path string) int64 {
	for k := path; k != ""; k = Parent(k) {
		if off, ok := d.keys[k]; ok {
			return off
		}
	}
	return -1
}

// KeyOffset returns the offset of the key at path exactly, or -1.
func (d *Doc) KeyOffset(path string) int64 {
	if off, ok := d.keys[path]; ok {
		return off
	}
	return -1
}

// Bad reports whether the value at path, or one holding it, could not be
// decoded: anything said about it would be about a stand-in.
func (d *Doc) Bad(path string) bool {
	for k := path; k != ""; k = Parent(k) {
		if d.bad[k] {
			return true
		}
	}
	return false
}

// Line returns the 1-based line of byte offset off, or 0 when off is
// outside the text.
func (d *Doc) Line(off int64) int {
	if off < 0 || off > int64(len(d.Data)) {
		return 0
	}
	if d.newlines == nil {
		d.newlines = []int64{}
		for i, c := range d.Data {
			if c == '\n' {
				d.newlines = append(d.newlines, int64(i))
			}
		}
	}
	n, _ := slices.BinarySearch(d.newlines, off)
	return n + 1
}

// problem records a problem, unless the bound is reached.
func (d *Doc) problem(off int64, key, msg string) {
	if d.full() {
		d.Dropped++
		return
	}
	d.Problems = append(d.Problems, Problem{Off: off, Key: key, Msg: msg})
}

func (d *Doc) full() bool {
	return d.schema.MaxProblems > 0 && len(d.Problems) >= d.schema.MaxProblems
}

// badValue records a problem with the value at path and marks it, so that
// nothing else is said about it.
func (d *Doc) badValue(path, msg string) {
	if !d.Bad(path) {
		d.problem(d.Offset(path), path, msg)
	}
	d.bad[path] = true
}

// StripComments blanks whole lines whose first non-blank characters are "#"
// or "//", keeping every offset and line number as it was. A UTF-8 byte
// order mark at the start is blanked too.
func StripComments(data []byte) []byte {
	out := bytes.Clone(data)
	if bytes.HasPrefix(out, []byte("\xef\xbb\xbf")) {
		copy(out, "   ")
	}
	for start := 0; start < len(out); {
		end := bytes.IndexByte(out[start:], '\n')
		if end < 0 {
			end = len(out)
		} else {
			end += start
		}
		trim := bytes.TrimLeft(out[start:end], " \t\r")
		if bytes.HasPrefix(trim, []byte("#")) || bytes.HasPrefix(trim, []byte("//")) {
			for i := start; i < end; i++ {
				out[i] = ' '
			}
		}
		start = end + 1
	}
	return out
}

func (d *Doc) decode(v reflect.Value) bool {
	// A text that does not start with "{" is not a configuration (it may
	// be any file a link points to): say so without quoting any of it.
	start := d.skipBlank(0)
	if start == int64(len(d.Data)) {
		d.problem(-1, "", d.schema.Empty)
		return false
	}
	if d.Data[start] != '{' {
		d.problem(start, "", "the configuration must be a JSON object, {...}, not "+kind(d.Data[start]))
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(d.Data))
	dec.UseNumber()
	tok, _, err := d.token(dec)
	if err != nil {
		return d.syntax(err)
	}
	if err := d.value(dec, "", "", tok, v); err != nil {
		return d.syntax(err)
	}
	end := dec.InputOffset()
	if _, err := dec.Token(); err != io.EOF {
		d.problem(d.skipBlank(end), "", "invalid JSON: text after the closing brace of the configuration; the file must hold one JSON object")
		return false
	}
	return true
}

// syntax records a JSON syntax error and reports false.
func (d *Doc) syntax(err error) bool {
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		// Offset is the offending byte for errors between values and the
		// start of the value for errors inside one: the same line either way.
		off := se.Offset
		msg := "invalid JSON: " + strings.TrimPrefix(se.Error(), "json: ")
		c := byte(0)
		if off >= 0 && off < int64(len(d.Data)) {
			c = d.Data[off]
		}
		prev := d.prevBlank(off)
		switch {
		case (c == '}' || c == ']') && prev >= 0 && d.Data[prev] == ',':
			off = prev
			msg = fmt.Sprintf("invalid JSON: comma after the last entry: JSON allows no comma before %q", c)
		case c == '\'':
			msg += ` (JSON strings and keys take double quotes: "...")`
		case c != '"' && (strings.HasSuffix(msg, "looking for beginning of object key string") ||
			strings.HasSuffix(msg, "'") && prev >= 0 && d.Data[prev] == '{'):
			msg += ` (JSON keys take double quotes: "key": value)`
		case strings.HasSuffix(msg, "after object key:value pair") || strings.HasSuffix(msg, "after array element"):
			msg += " (is a comma missing before it?)"
		case strings.HasSuffix(msg, "after object key"):
			msg += ` (expected a colon: "key": value)`
		}
		d.forceProblem(off, msg)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		d.forceProblem(max(d.prevBlank(int64(len(d.Data))), 0), "invalid JSON: the file ends early: a closing brace, bracket or quote is missing")
	default:
		d.forceProblem(-1, "invalid JSON: "+err.Error())
	}
	return false
}

// forceProblem records the problem that ends decoding even past the bound:
// it is the one that matters most.
func (d *Doc) forceProblem(off int64, msg string) {
	d.Problems = append(d.Problems, Problem{Off: off, Msg: msg})
}

// skipBlank returns the offset of the first byte at or after off that is not
// JSON white space or a separator: where the next token starts.
func (d *Doc) skipBlank(off int64) int64 {
	for off < int64(len(d.Data)) {
		switch d.Data[off] {
		case ' ', '\t', '\r', '\n', ',', ':':
			off++
			continue
		}
		break
	}
	return off
}

// prevBlank returns the offset of the last byte before off that is not
// white space, or -1.
func (d *Doc) prevBlank(off int64) int64 {
	for off--; off >= 0 && off < int64(len(d.Data)); off-- {
		switch d.Data[off] {
		case ' ', '\t', '\r', '\n':
			continue
		}
		return off
	}
	return -1
}

// token reads the next token and returns the offset where it starts.
func (d *Doc) token(dec *json.Decoder) (json.Token, int64, error) {
	off := d.skipBlank(dec.InputOffset())
	tok, err := dec.Token()
	return tok, off, err
}

// value stores the JSON value that starts with tok into v, which is
// settable. Values of the wrong type are recorded and skipped; only a
// syntax error (or the end of the text) is returned. path is the key path,
// field the field path.
func (d *Doc) value(dec *json.Decoder, path, field string, tok json.Token, v reflect.Value) error {
	t := v.Type()
	if tok == nil { // null
		if t.Kind() == reflect.Pointer {
			v.SetZero() // null is the same as leaving the key out
			return nil
		}
		d.badValue(path, fmt.Sprintf("expected %s, got null", d.expectation(field, t)))
		return nil
	}
	if t.Kind() == reflect.Pointer {
		n := reflect.New(t.Elem())
		if err := d.value(dec, path, field, tok, n.Elem()); err != nil {
			return err
		}
		if !d.bad[path] {
			v.Set(n)
		}
		return nil
	}
	switch t.Kind() {
	case reflect.String:
		if s, ok := tok.(string); ok {
			v.SetString(s)
			return nil
		}
	case reflect.Bool:
		if b, ok := tok.(bool); ok {
			v.SetBool(b)
			return nil
		}
	case reflect.Int:
		n, ok := tok.(json.Number)
		if !ok {
			break
		}
		i, err := strconv.ParseInt(string(n), 10, 64)
		switch {
		case err == nil && !v.OverflowInt(i):
			v.SetInt(i)
		case errors.Is(err, strconv.ErrSyntax):
			d.badValue(path, fmt.Sprintf("expected a whole number, got %s", n))
		default:
			msg := string(n) + " is out of range"
			if d.schema.Range != nil {
				if r := d.schema.Range(field); r != "" {
					msg += ": " + r
				}
			}
			d.badValue(path, msg)
		}
		return nil
	case reflect.Slice:
		if dl, ok := tok.(json.Delim); ok && dl == '[' {
			s := reflect.MakeSlice(t, 0, 0)
			for i := 0; dec.More(); i++ {
				epath := fmt.Sprintf("%s[%d]", path, i)
				tok, off, err := d.token(dec)
				if err != nil {
					return err
				}
				d.keys[epath] = off
				e := reflect.New(t.Elem()).Elem()
				if err := d.value(dec, epath, field+"[]", tok, e); err != nil {
					return err
				}
				s = reflect.Append(s, e)
			}
			v.Set(s)
			_, err := dec.Token() // ]
			return err
		}
	case reflect.Map, reflect.Struct:
		if dl, ok := tok.(json.Delim); ok && dl == '{' {
			return d.object(dec, path, field, v)
		}
	}
	d.badValue(path, fmt.Sprintf("expected %s, got %s", d.expectation(field, t), describe(tok)))
	return d.skip(dec, tok)
}

// object reads the members of a JSON object, whose '{' has been read, into
// v, a map or a struct.
func (d *Doc) object(dec *json.Decoder, path, field string, v reflect.Value) error {
	t := v.Type()
	if t.Kind() == reflect.Map {
		v.Set(reflect.MakeMap(t))
	}
	seen := map[string]int64{}
	for dec.More() {
		tok, off, err := d.token(dec)
		if err != nil {
			return err
		}
		key, _ := tok.(string) // json.Decoder only returns strings here
		kpath := JoinKey(path, key)
		d.keys[kpath] = off
		if prev, dup := seen[key]; dup {
			d.badValue(kpath, fmt.Sprintf("duplicate key: already given on line %d; give each key once", d.Line(prev)))
		}
		seen[key] = off

		tok, _, err = d.token(dec)
		if err != nil {
			return err
		}
		var dst reflect.Value
		kfield := field + "[]"
		switch t.Kind() {
		case reflect.Map:
			dst = reflect.New(t.Elem()).Elem()
		case reflect.Struct:
			if f, ok := fieldsOf(t).byName[key]; ok {
				dst = v.FieldByIndex(f.index)
				kfield = joinField(field, key)
			} else {
				d.unknown(t, kpath, field, key)
			}
		}
		if !dst.IsValid() {
			if err := d.skip(dec, tok); err != nil {
				return err
			}
			continue
		}
		if err := d.value(dec, kpath, kfield, tok, dst); err != nil {
			return err
		}
		if t.Kind() == reflect.Map {
			v.SetMapIndex(reflect.ValueOf(key), dst)
		}
	}
	_, err := dec.Token() // }
	return err
}

// unknown records a key the struct type t does not have. Past the bound no
// suggestion is computed: a file of many unknown keys costs no more than
// reading it.
func (d *Doc) unknown(t reflect.Type, kpath, field, key string) {
	defer func() { d.bad[kpath] = true }()
	if d.full() {
		d.Dropped++
		return
	}
	msg := ""
	if d.schema.Unknown != nil {
		msg = d.schema.Unknown(t, field, key)
	}
	if msg == "" {
		msg = "unknown key" + suggest(t, key)
	}
	d.badValue(kpath, msg)
}

// skip reads past the value that starts with tok, however deeply nested,
// without recursing.
func (d *Doc) skip(dec *json.Decoder, tok json.Token) error {
	depth := 0
	for {
		if dl, ok := tok.(json.Delim); ok {
			switch dl {
			case '{', '[':
				depth++
			default:
				depth--
			}
		}
		if depth == 0 {
			return nil
		}
		var err error
		if tok, err = dec.Token(); err != nil {
			return err
		}
	}
}

func joinField(field, name string) string {
	if field == "" {
		return name
	}
	return field + "." + name
}

// JoinKey extends a key path: "iam" and "role" give "iam.role"; a key that
// is not a plain word is quoted, so `force_status` and "/latest/api/token"
// give `force_status["/latest/api/token"]`.
func JoinKey(path, key string) string {
	if !plainKey(key) {
		return path + "[" + strconv.Quote(key) + "]"
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

func plainKey(key string) bool {
	if key == "" {
		return false
	}
	for _, r := range key {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// Parent undoes JoinKey and list indexes: the path of the value holding the
// one at path, "" at the top.
func Parent(path string) string {
	if strings.HasSuffix(path, "]") {
		if i := strings.LastIndex(path, `["`); i >= 0 {
			return path[:i]
		}
		if i := strings.LastIndexByte(path, '['); i >= 0 {
			return path[:i]
		}
	}
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		return path[:i]
	}
	return ""
}

// field is a key of a struct type: its JSON name and where it is, through
// embedded structs.
type field struct {
	name  string
	index []int
}

type fieldSet struct {
	list   []field
	byName map[string]field
}

var fieldCache sync.Map // reflect.Type -> *fieldSet

// fieldsOf returns the keys of struct type t in field order: the exported
// fields with a JSON name, those of embedded structs in their place, as
// encoding/json flattens them. A field tagged json:"-" is not a key.
func fieldsOf(t reflect.Type) *fieldSet {
	if fs, ok := fieldCache.Load(t); ok {
		return fs.(*fieldSet)
	}
	fs := &fieldSet{byName: map[string]field{}}
	var walk func(t reflect.Type, index []int)
	walk = func(t reflect.Type, index []int) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			idx := append(slices.Clone(index), i)
			if f.Anonymous && f.Type.Kind() == reflect.Struct && f.Tag.Get("json") == "" {
				walk(f.Type, idx)
				continue
			}
			name := Name(f)
			if !f.IsExported() || name == "" || name == "-" {
				continue
			}
			fs.list = append(fs.list, field{name: name, index: idx})
			fs.byName[name] = field{name: name, index: idx}
		}
	}
	walk(t, nil)
	fieldCache.Store(t, fs)
	return fs
}

// Keys returns the JSON keys of struct type t, in field order, embedded
// structs' keys in their place.
func Keys(t reflect.Type) []string {
	fs := fieldsOf(t)
	names := make([]string, len(fs.list))
	for i, f := range fs.list {
		names[i] = f.name
	}
	return names
}

// Name is the JSON name of struct field f: its tag's name, or "".
func Name(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	return name
}

// suggest names the closest known key, for typos such as "instanceid" or
// "regoin", or lists the keys of a small object such as iam.
func suggest(t reflect.Type, key string) string {
	norm := func(s string) string {
		return strings.Map(func(r rune) rune {
			if r == '_' || r == '-' {
				return -1
			}
			return unicode.ToLower(r)
		}, s)
	}
	names := Keys(t)
	best, bestDist := "", 1+len(norm(key))/5
	if bestDist > 3 {
		bestDist = 3
	}
	bestDist++ // distances below this qualify
	for _, name := range names {
		if dist := Distance(norm(name), norm(key)); dist < bestDist {
			best, bestDist = name, dist
		}
	}
	switch {
	case best != "":
		return fmt.Sprintf(" (did you mean %q?)", best)
	case len(names) <= 8:
		return ": expected one of " + strings.Join(names, ", ")
	}
	return ": remove it or correct its spelling"
}

// Distance is the optimal string alignment distance between a and b: the
// edits (insert, delete, substitute, swap two neighbours) that turn a into b.
func Distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	if len(ra) > 64 || len(rb) > 64 {
		if a == b {
			return 0
		}
		return 64
	}
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range rb {
		d[0][j+1] = j + 1
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}

// expectation describes what a key of type t at field takes.
func (d *Doc) expectation(field string, t reflect.Type) string {
	s := typeName(t)
	if d.schema.Example != nil {
		if ex := d.schema.Example(field); ex != "" {
			s += " such as " + ex
		}
	}
	return s
}

func typeName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int64, reflect.Int32:
		return "a whole number"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice:
		return "a list of " + plural(typeName(t.Elem()))
	case reflect.Map:
		return "an object of " + plural(typeName(t.Elem()))
	case reflect.Pointer:
		return typeName(t.Elem())
	case reflect.Struct:
		return "an object"
	}
	return t.String()
}

// plural turns "a string" into "strings" and "an object" into "objects".
func plural(name string) string {
	name = strings.TrimPrefix(strings.TrimPrefix(name, "an "), "a ")
	return name + "s"
}

// kind names the JSON value that starts with byte c, without its content.
func kind(c byte) string {
	switch {
	case c == '[':
		return "a list"
	case c == '"':
		return "a string"
	case c == '-' || c >= '0' && c <= '9':
		return "a number"
	case c == 'n':
		return "null"
	case c == 't' || c == 'f':
		return "a boolean"
	}
	return "text that is not JSON"
}

// describe names a JSON value by its first token, for "got ..." messages.
func describe(tok json.Token) string {
	switch v := tok.(type) {
	case nil:
		return "null"
	case bool:
		return fmt.Sprintf("a boolean (%t)", v)
	case json.Number:
		return fmt.Sprintf("a number (%s)", v)
	case string:
		return "a string (" + Quote(v) + ")"
	case json.Delim:
		if v == '[' {
			return "a list"
		}
		return "an object"
	}
	return fmt.Sprint(tok)
}

// Quote quotes s for a message, shortened to its first 40 characters.
func Quote(s string) string {
	const max = 40
	if utf8.RuneCountInString(s) <= max {
		return strconv.Quote(s)
	}
	r := []rune(s)
	return strconv.Quote(string(r[:max])) + "..."
}
