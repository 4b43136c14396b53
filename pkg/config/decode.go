package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"
)

// Error is one problem found in a configuration: where it is and what is
// wrong. Line is 0 when the problem has no single place (a missing key).
type Error struct {
	File string
	Line int
	Key  string
	Msg  string
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

// ErrorList is every problem found in one configuration, in file order.
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
		return nil, nil, err
	}
	return Parse(path, data)
}

// Parse decodes, provisions and validates a configuration. name is the file
// name used in messages. The error, when not nil, is an [ErrorList].
func Parse(name string, data []byte) (*Config, ErrorList, error) {
	p := &parser{file: name, data: stripComments(data)}
	c := &Config{}
	p.decode(c)
	if len(p.errs) > 0 {
		return nil, nil, p.errs
	}
	p.provision(c)
	p.validate(c)
	if len(p.errs) > 0 {
		return nil, p.warns, p.errs
	}
	return c, p.warns, nil
}

// parser carries the file being read and what was found wrong with it.
type parser struct {
	file  string
	data  []byte
	keys  map[string]int64 // key path -> offset just past the key
	errs  ErrorList
	warns ErrorList
}

func (p *parser) line(off int64) int {
	if off < 0 || off > int64(len(p.data)) {
		return 0
	}
	return bytes.Count(p.data[:off], []byte("\n")) + 1
}

// errorf records an error about the key at path (a dotted key path such as
// "iam.role" or "ssh_public_keys[1]").
func (p *parser) errorf(path, format string, args ...any) {
	p.errs = append(p.errs, p.at(path, format, args...))
}

func (p *parser) warnf(path, format string, args ...any) {
	p.warns = append(p.warns, p.at(path, format, args...))
}

func (p *parser) at(path, format string, args ...any) *Error {
	line := 0
	if off, ok := p.keys[path]; ok {
		line = p.line(off)
	}
	return &Error{File: p.file, Line: line, Key: path, Msg: fmt.Sprintf(format, args...)}
}

// stripComments blanks whole lines whose first non-blank characters are "#"
// or "//", keeping every offset and line number as it was.
func stripComments(data []byte) []byte {
	out := bytes.Clone(data)
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

// decode fills c from the JSON text, checking every key against Config's
// fields first so that an unknown or repeated key is reported with its line
// and full path, which encoding/json does not do.
func (p *parser) decode(c *Config) {
	p.keys = map[string]int64{}
	dec := json.NewDecoder(bytes.NewReader(p.data))
	dec.UseNumber()
	if err := p.walk(dec, "", reflect.TypeOf(c).Elem()); err != nil {
		var se *json.SyntaxError
		switch {
		case errors.As(err, &se):
			p.errs = append(p.errs, &Error{File: p.file, Line: p.line(se.Offset), Msg: "invalid JSON: " + strings.TrimPrefix(se.Error(), "json: ")})
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			p.errs = append(p.errs, &Error{File: p.file, Line: p.line(int64(len(p.data))), Msg: "invalid JSON: unexpected end of file"})
		case errors.Is(err, errNotObject):
			p.errs = append(p.errs, &Error{File: p.file, Line: 1, Msg: "the configuration must be a JSON object"})
		default:
			p.errs = append(p.errs, &Error{File: p.file, Msg: "invalid JSON: " + err.Error()})
		}
		return
	}
	if _, err := dec.Token(); err != io.EOF {
		p.errs = append(p.errs, &Error{File: p.file, Line: p.line(dec.InputOffset()), Msg: "invalid JSON: text after the closing brace"})
		return
	}
	if len(p.errs) > 0 {
		return
	}
	if err := json.Unmarshal(p.data, c); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			p.errs = append(p.errs, &Error{File: p.file, Line: p.line(te.Offset), Key: te.Field,
				Msg: fmt.Sprintf("expected %s, got %s", typeName(te.Type), te.Value)})
			return
		}
		p.errs = append(p.errs, &Error{File: p.file, Msg: err.Error()})
	}
}

var errNotObject = errors.New("not an object")

// walk reads one JSON value of the expected type t, recording every object
// key's offset and reporting keys t does not have.
func (p *parser) walk(dec *json.Decoder, path string, t reflect.Type) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	delim, ok := tok.(json.Delim)
	if !ok {
		if path == "" {
			return errNotObject
		}
		return nil // a scalar; its type is checked by json.Unmarshal
	}
	switch delim {
	case '{':
		if path == "" && t.Kind() != reflect.Struct {
			return errNotObject
		}
		seen := map[string]bool{}
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return err
			}
			key := tok.(string)
			kpath := joinKey(path, key)
			p.keys[kpath] = dec.InputOffset()
			if seen[key] {
				p.errorf(kpath, "duplicate key: it is given more than once in the same object")
			}
			seen[key] = true
			elem, known := fieldType(t, key)
			if !known {
				p.errorf(kpath, "unknown key%s", suggest(t, key))
				elem = reflect.TypeOf((*any)(nil)).Elem()
			}
			if err := p.walk(dec, kpath, elem); err != nil {
				return err
			}
		}
	case '[':
		if path == "" {
			return errNotObject
		}
		var elem reflect.Type = reflect.TypeOf((*any)(nil)).Elem()
		if t.Kind() == reflect.Slice {
			elem = t.Elem()
		}
		for i := 0; dec.More(); i++ {
			if err := p.walk(dec, fmt.Sprintf("%s[%d]", path, i), elem); err != nil {
				return err
			}
		}
	}
	_, err = dec.Token() // the closing delimiter
	return err
}

func joinKey(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// fieldType returns the type of the value stored under key in a value of
// type t, and whether t can hold that key at all.
func fieldType(t reflect.Type, key string) (reflect.Type, bool) {
	switch t.Kind() {
	case reflect.Map:
		return t.Elem(), true
	case reflect.Interface:
		return t, true
	case reflect.Struct:
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if name, _, _ := strings.Cut(f.Tag.Get("json"), ","); name == key && f.IsExported() {
				return f.Type, true
			}
		}
		return nil, false
	}
	// A scalar given an object: json.Unmarshal reports the type.
	return reflect.TypeOf((*any)(nil)).Elem(), true
}

// suggest names the closest known key, for typos such as "instanceid".
func suggest(t reflect.Type, key string) string {
	if t.Kind() != reflect.Struct {
		return ""
	}
	norm := func(s string) string { return strings.ToLower(strings.NewReplacer("_", "", "-", "").Replace(s)) }
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && norm(name) == norm(key) {
			return fmt.Sprintf(" (did you mean %q?)", name)
		}
	}
	return ""
}

func typeName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int64, reflect.Int32:
		return "a whole number"
	case reflect.Slice:
		return "a list of " + strings.TrimPrefix(typeName(t.Elem()), "a ") + "s"
	case reflect.Map:
		return "an object of " + strings.TrimPrefix(typeName(t.Elem()), "a ") + "s"
	case reflect.Struct, reflect.Pointer:
		return "an object"
	}
	return t.String()
}
