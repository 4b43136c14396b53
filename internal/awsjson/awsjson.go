// Package awsjson writes JSON documents in the layout EC2's metadata
// service uses, byte for byte: an object is "{\n", one `  "Key" : value`
// per line joined by ",\n", then "\n}", with no trailing newline; strings
// are escaped as Jackson escapes them (quotes, backslashes and control
// characters only); times are RFC 3339 in UTC to the second. Clients
// compare and hash these bodies (the termination handler keys events on
// them), so every document imdsd serves is written here, never by
// encoding/json.
package awsjson

import (
	"strconv"
	"strings"
	"time"
)

// Stamp formats t as EC2 does in its JSON documents: RFC 3339 in UTC to
// the second, which is also botocore's "%Y-%m-%dT%H:%M:%SZ".
func Stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

// Object renders key/value pairs in order. Keys are strings; values are
// strings or nil (null). It panics on any other type: the callers are
// fixed code, not input.
func Object(kv ...any) string {
	var b strings.Builder
	b.WriteString("{\n")
	for i := 0; i < len(kv); i += 2 {
		Field(&b, kv[i].(string), kv[i+1], i+2 >= len(kv))
	}
	b.WriteString("\n}")
	return b.String()
}

// Field writes one `  "key" : value` line of an object to b, followed by
// ",\n" unless it is the last. value is a string or nil (null).
func Field(b *strings.Builder, key string, value any, last bool) {
	b.WriteString("  ")
	b.WriteString(strconv.Quote(key))
	b.WriteString(" : ")
	switch v := value.(type) {
	case nil:
		b.WriteString("null")
	case string:
		b.WriteString(String(v))
	default:
		panic("awsjson: unsupported value type")
	}
	if !last {
		b.WriteString(",\n")
	}
}

// String quotes s as a JSON string, escaping quotes, backslashes and
// control characters (as \u00XX) and nothing else.
func String(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20:
			b.WriteString(`\u00`)
			b.WriteByte("0123456789abcdef"[r>>4])
			b.WriteByte("0123456789abcdef"[r&0xf])
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
