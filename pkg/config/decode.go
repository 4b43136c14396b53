package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Error is one problem found in a configuration: where it is and what is
// wrong. Line is 0 when the problem has no single place (a key left out at
// the top level, an empty file). Its text is "file:line: key: message",
// leaving out the parts it does not have.
type Error struct {
	File string
	Line int
	Key  string
	Msg  string

	off int64 // byte offset of Key in the file, -1 when unknown; orders a list
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	if e.Key != "" {
		fmt.Fprintf(&b, ": %s", e.Key)
	}
	fmt.Fprintf(&b, ": %s", e.Msg)
	return b.String()
}

// ErrorList is every problem found in one configuration, in file order;
// problems with no place in the file come last.
type ErrorList []*Error

func (l ErrorList) Error() string {
	msgs := make([]string, len(l))
	for i, e := range l {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

// Load reads and parses the configuration file at path. Warnings are
// returned even when err is nil; they describe values that load but that real
// clients will trip on.
func Load(path string) (*Config, ErrorList, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("read configuration: %w", err)
	}
	return Parse(path, data)
}

// Parse decodes, provisions and validates a configuration. name is the file
// name used in messages. The error, when not nil, is an [ErrorList] holding
// every problem found; the warnings are returned either way. Parse is
// deterministic: the same input always gives the same result and messages.
func Parse(name string, data []byte) (*Config, ErrorList, error) {
	p := &parser{
		file: name,
		data: stripComments(data),
		keys: map[string]int64{},
		bad:  map[string]bool{},
	}
	c := &Config{}
	if !p.decode(c) {
		// The text is not JSON: nothing after the break can be trusted.
		p.sort()
		return nil, nil, p.errs
	}
	base := c.inheritable()
	p.provision(c)
	p.validate(c)
	dir := ""
	if name != DefaultName {
		dir = filepath.Dir(name)
	}
	p.validateService(c, dir)
	files := p.guests(c, base)
	p.sort()
	errs, warns := p.errs, p.warns
	for _, f := range files { // an instances_dir file's messages follow the main file's
		f.sort()
		errs, warns = append(errs, f.errs...), append(warns, f.warns...)
	}
	if len(errs) > 0 {
		return nil, warns, errs
	}
	return c, warns, nil
}

// parser carries the file being read and what was found wrong with it.
type parser struct {
	file  string
	data  []byte
	keys  map[string]int64 // key path -> offset of the key (of the value, for list entries)
	bad   map[string]bool  // key paths whose value could not be decoded
	errs  ErrorList
	warns ErrorList

	newlines []int64 // offsets of the file's line feeds, made on first use

	// scope is the path of the object being provisioned and validated
	// ("instances[2]"), or "" for the top level and for a file of
	// instances_dir. Paths given to the methods below are relative to it.
	scope string
}

// full returns the path of the key at path relative to p.scope.
func (p *parser) full(path string) string {
	if p.scope == "" {
		return path
	}
	if path == "" {
		return p.scope
	}
	return p.scope + "." + path
}

// line returns the 1-based line number of byte offset off, or 0 when off
// is outside the file.
func (p *parser) line(off int64) int {
	if off < 0 || off > int64(len(p.data)) {
		return 0
	}
	if p.newlines == nil {
		p.newlines = []int64{}
		for i, c := range p.data {
			if c == '\n' {
				p.newlines = append(p.newlines, int64(i))
			}
		}
	}
	// The number of newlines before off.
	n, _ := slices.BinarySearch(p.newlines, off)
	return n + 1
}

// given reports whether the file has the key at path.
func (p *parser) given(path string) bool {
	_, ok := p.keys[p.full(path)]
	return ok
}

// errorf records an error about the key at path (such as "region",
// "iam.role", "ssh_public_keys[1]" or `force_status["api/token"]`). Nothing
// is recorded for a key whose value could not be decoded: that error is
// already there, and the value checked would be a stand-in.
func (p *parser) errorf(path, format string, args ...any) {
	if !p.isBad(path) {
		p.errs = append(p.errs, p.at(path, format, args...))
	}
}

// warnf records a warning about the key at path. Only keys the file gives
// are warned about: a value imdsd derived is either fine or follows from a
// given one, which has its own message.
func (p *parser) warnf(path, format string, args ...any) {
	if p.given(path) && !p.isBad(path) {
		p.warns = append(p.warns, p.at(path, format, args...))
	}
}

// isBad reports whether the value at path, or one holding it, could not be
// decoded.
func (p *parser) isBad(path string) bool {
	for k := p.full(path); k != ""; k = parentPath(k) {
		if p.bad[k] {
			return true
		}
	}
	return false
}

// at makes an error about path, placed at the key or, for a key the file
// leaves out, at the closest enclosing key it gives.
func (p *parser) at(path, format string, args ...any) *Error {
	path = p.full(path)
	e := &Error{File: p.file, Key: path, Msg: fmt.Sprintf(format, args...), off: -1}
	for k := path; k != ""; k = parentPath(k) {
		if off, ok := p.keys[k]; ok {
			e.off = off
			e.Line = p.line(off)
			break
		}
	}
	return e
}

// errAt records an error with no key at byte offset off.
func (p *parser) errAt(off int64, msg string) {
	e := &Error{File: p.file, Msg: msg, off: off}
	if off >= 0 {
		e.Line = p.line(off)
	}
	p.errs = append(p.errs, e)
}

// sort puts errors and warnings in file order; the ones with no place go
// last. Ties keep the order they were found in, which is itself fixed.
func (p *parser) sort() {
	for _, l := range []ErrorList{p.errs, p.warns} {
		sort.SliceStable(l, func(i, j int) bool {
			a, b := l[i].off, l[j].off
			if (a < 0) != (b < 0) {
				return b < 0
			}
			return a < b
		})
	}
}

// stripComments blanks whole lines whose first non-blank characters are "#"
// or "//", keeping every offset and line number as it was. A UTF-8 byte
// order mark at the start is blanked too.
func stripComments(data []byte) []byte {
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

// decode fills c from the JSON text, key by key, so that every unknown or
// repeated key and every value of the wrong type is reported with its line
// and full path, which encoding/json does not do. It reports false when the
// text is not JSON at all, after which nothing else is checked.
func (p *parser) decode(c *Config) bool {
	dec := json.NewDecoder(bytes.NewReader(p.data))
	dec.UseNumber()
	tok, off, err := p.token(dec)
	if err != nil {
		if errors.Is(err, io.EOF) {
			p.errAt(-1, `the file is empty: expected a JSON object such as {"instance_id": "i-0123456789abcdef0"}`)
			return false
		}
		return p.syntax(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		p.errAt(off, "the configuration must be a JSON object, {...}, not "+describe(tok))
		return false
	}
	if err := p.value(dec, "", tok, reflect.ValueOf(c).Elem()); err != nil {
		return p.syntax(err)
	}
	end := dec.InputOffset()
	if _, err := dec.Token(); err != io.EOF {
		p.errAt(p.skipBlank(end), "invalid JSON: text after the closing brace of the configuration; the file must hold one JSON object")
		return false
	}
	return true
}

// syntax records a JSON syntax error and reports false.
func (p *parser) syntax(err error) bool {
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		// Offset is the offending byte for errors between values and the
		// start of the value for errors inside one: the same line either way.
		off := se.Offset
		msg := "invalid JSON: " + strings.TrimPrefix(se.Error(), "json: ")
		c := byte(0)
		if off >= 0 && off < int64(len(p.data)) {
			c = p.data[off]
		}
		prev := p.prevBlank(off)
		switch {
		case (c == '}' || c == ']') && prev >= 0 && p.data[prev] == ',':
			off = prev
			msg = fmt.Sprintf("invalid JSON: comma after the last entry: JSON allows no comma before %q", c)
		case c == '\'':
			msg += ` (JSON strings and keys take double quotes: "...")`
		case c != '"' && (strings.HasSuffix(msg, "looking for beginning of object key string") ||
			strings.HasSuffix(msg, "'") && prev >= 0 && p.data[prev] == '{'):
			msg += ` (JSON keys take double quotes: "key": value)`
		case strings.HasSuffix(msg, "after object key:value pair") || strings.HasSuffix(msg, "after array element"):
			msg += " (is a comma missing before it?)"
		case strings.HasSuffix(msg, "after object key"):
			msg += ` (expected a colon: "key": value)`
		}
		p.errAt(off, msg)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		p.errAt(max(p.prevBlank(int64(len(p.data))), 0), "invalid JSON: the file ends early: a closing brace, bracket or quote is missing")
	default:
		p.errAt(-1, "invalid JSON: "+err.Error())
	}
	return false
}

// skipBlank returns the offset of the first byte at or after off that is not
// JSON white space or a separator: where the next token starts.
func (p *parser) skipBlank(off int64) int64 {
	for off < int64(len(p.data)) {
		switch p.data[off] {
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
func (p *parser) prevBlank(off int64) int64 {
	for off--; off >= 0 && off < int64(len(p.data)); off-- {
		switch p.data[off] {
		case ' ', '\t', '\r', '\n':
			continue
		}
		return off
	}
	return -1
}

// token reads the next token and returns the offset where it starts.
func (p *parser) token(dec *json.Decoder) (json.Token, int64, error) {
	off := p.skipBlank(dec.InputOffset())
	tok, err := dec.Token()
	return tok, off, err
}

// badValue records a decoding error about path and marks the path so that no
// other message is given about it.
func (p *parser) badValue(path, format string, args ...any) {
	p.errorf(path, format, args...)
	p.bad[path] = true
}

var anyType = reflect.TypeOf((*any)(nil)).Elem()

// value stores the JSON value that starts with tok into v, which is settable
// and of one of the types Config uses. Values of the wrong type are reported
// and skipped; only a syntax error (or the end of the text) is returned.
func (p *parser) value(dec *json.Decoder, path string, tok json.Token, v reflect.Value) error {
	t := v.Type()
	if tok == nil { // null
		if t.Kind() == reflect.Pointer {
			v.SetZero() // null is the same as leaving the key out
			return nil
		}
		p.badValue(path, "expected %s, got null", expectation(path, t))
		return nil
	}
	if t.Kind() == reflect.Pointer {
		n := reflect.New(t.Elem())
		if err := p.value(dec, path, tok, n.Elem()); err != nil {
			return err
		}
		if !p.bad[path] {
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
			p.badValue(path, "expected a whole number, got %s", n)
		default:
			p.badValue(path, "%s is out of range: %s", n, intRange(path))
		}
		return nil
	case reflect.Slice:
		if d, ok := tok.(json.Delim); ok && d == '[' {
			s := reflect.MakeSlice(t, 0, 0)
			for i := 0; dec.More(); i++ {
				epath := fmt.Sprintf("%s[%d]", path, i)
				tok, off, err := p.token(dec)
				if err != nil {
					return err
				}
				p.keys[epath] = off
				e := reflect.New(t.Elem()).Elem()
				if err := p.value(dec, epath, tok, e); err != nil {
					return err
				}
				s = reflect.Append(s, e)
			}
			v.Set(s)
			_, err := dec.Token() // ]
			return err
		}
	case reflect.Map, reflect.Struct:
		if d, ok := tok.(json.Delim); ok && d == '{' {
			return p.object(dec, path, v)
		}
	}
	p.badValue(path, "expected %s, got %s", expectation(path, t), describe(tok))
	return p.skip(dec, tok)
}

// object reads the members of a JSON object, whose '{' has been read, into
// v, a map or a struct.
func (p *parser) object(dec *json.Decoder, path string, v reflect.Value) error {
	t := v.Type()
	if t.Kind() == reflect.Map {
		v.Set(reflect.MakeMap(t))
	}
	seen := map[string]int64{}
	for dec.More() {
		tok, off, err := p.token(dec)
		if err != nil {
			return err
		}
		key, _ := tok.(string) // json.Decoder only returns strings here
		kpath := joinKey(path, key)
		p.keys[kpath] = off
		if prev, dup := seen[key]; dup {
			p.badValue(kpath, "duplicate key: already given on line %d; give each key once", p.line(prev))
		}
		seen[key] = off

		tok, _, err = p.token(dec)
		if err != nil {
			return err
		}
		var dst reflect.Value
		switch t.Kind() {
		case reflect.Map:
			dst = reflect.New(t.Elem()).Elem()
		case reflect.Struct:
			if i, ok := fieldIndex(t, key); ok {
				dst = v.Field(i)
			} else {
				p.badValue(kpath, "unknown key%s", suggest(t, key))
			}
		}
		if !dst.IsValid() {
			if err := p.skip(dec, tok); err != nil {
				return err
			}
			continue
		}
		if err := p.value(dec, kpath, tok, dst); err != nil {
			return err
		}
		if t.Kind() == reflect.Map {
			v.SetMapIndex(reflect.ValueOf(key), dst)
		}
	}
	_, err := dec.Token() // }
	return err
}

// skip reads past the value that starts with tok, however deeply nested,
// without recursing.
func (p *parser) skip(dec *json.Decoder, tok json.Token) error {
	depth := 0
	for {
		if d, ok := tok.(json.Delim); ok {
			switch d {
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

// joinKey extends a key path: "iam" and "role" give "iam.role"; a key that
// is not a plain word is quoted, so `force_status` and "/latest/api/token"
// give `force_status["/latest/api/token"]`.
func joinKey(path, key string) string {
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

// parentPath undoes joinKey, for paths that decoding did not record.
func parentPath(path string) string {
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

// fieldIndex returns the index of the exported field of struct type t whose
// JSON key is key.
func fieldIndex(t reflect.Type, key string) (int, bool) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.IsExported() && jsonName(f) == key {
			return i, true
		}
	}
	return 0, false
}

func jsonName(f reflect.StructField) string {
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
	var names []string
	best, bestDist := "", 1+len(norm(key))/5
	if bestDist > 3 {
		bestDist = 3
	}
	bestDist++ // distances below this qualify
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name := jsonName(f)
		if !f.IsExported() || name == "" {
			continue
		}
		names = append(names, name)
		d := distance(norm(name), norm(key))
		if d < bestDist {
			best, bestDist = name, d
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

// distance is the optimal string alignment distance between a and b: the
// edits (insert, delete, substitute, swap two neighbours) that turn a into b.
func distance(a, b string) int {
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

// examples show the expected form of the keys whose values are lists or
// objects, for messages about values of the wrong type.
var examples = map[string]string{
	"ssh_public_keys":    `["ssh-ed25519 AAAAC3Nz... user@host"]`,
	"security_groups":    `["default"]`,
	"security_group_ids": `["sg-0123456789abcdef0"]`,
	"endpoint_delay_ms":  `{"meta-data/instance-id": 2000}`,
	"force_status":       `{"meta-data/instance-id": 503}`,
	"tags":               `{"Name": "web"}`,
	"iam":                `{"role": "web"}`,
}

// expectation describes what the key at path takes.
func expectation(path string, t reflect.Type) string {
	s := typeName(t)
	if ex, ok := examples[path]; ok {
		s += " such as " + ex
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
		return "a list of " + strings.TrimPrefix(typeName(t.Elem()), "a ") + "s"
	case reflect.Map:
		return "an object of " + strings.TrimPrefix(typeName(t.Elem()), "a ") + "s"
	case reflect.Pointer:
		return typeName(t.Elem())
	case reflect.Struct:
		return "an object"
	}
	return t.String()
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
		return "a string (" + quote(v) + ")"
	case json.Delim:
		if v == '[' {
			return "a list"
		}
		return "an object"
	}
	return fmt.Sprint(tok)
}

// quote quotes s for a message, shortened to its first 40 characters.
func quote(s string) string {
	const max = 40
	if utf8.RuneCountInString(s) <= max {
		return strconv.Quote(s)
	}
	r := []rune(s)
	return strconv.Quote(string(r[:max])) + "..."
}
