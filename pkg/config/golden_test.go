package config

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/imdsd/imdsd/internal/golden"
	"github.com/imdsd/imdsd/internal/strictjson"
)

// TestGolden parses every testdata/*.json and compares the outcome with
// testdata/*.golden: the errors and warnings, and for a configuration that
// loads, every value of the provisioned result.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no testdata/*.json files")
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".json")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			got := outcome(filepath.Base(file), data)
			golden.CheckString(t, name+".golden", got)
		})
	}
}

// outcome is Parse's result as text: its errors, its warnings and, when the
// configuration loads, a summary of it.
func outcome(name string, data []byte) string {
	var b strings.Builder
	c, warns, err := Parse(name, data)
	if err != nil {
		var list ErrorList
		if !errors.As(err, &list) {
			return fmt.Sprintf("error (not an ErrorList): %v\n", err)
		}
		b.WriteString("errors:\n")
		for _, e := range list {
			fmt.Fprintf(&b, "  %s\n", e)
		}
	}
	if warns := warns.Warnings(); len(warns) > 0 {
		b.WriteString("warnings:\n")
		for _, w := range warns {
			fmt.Fprintf(&b, "  %s\n", w)
		}
	}
	if c != nil {
		b.WriteString("config:\n")
		b.WriteString(summary(c))
	}
	return b.String()
}

// summary lists every key of c with its value, then what provisioning
// derived that is not a key: user-data, public keys and faults.
func summary(c *Config) string {
	var b strings.Builder
	writeFields(&b, "  ", reflect.ValueOf(&c.Instance).Elem())
	writeFields(&b, "  ", reflect.ValueOf(&c.Service).Elem())
	if ud := c.UserDataBytes(); ud != nil {
		fmt.Fprintf(&b, "  (user-data): %d bytes, sha256 %x\n", len(ud), sha256.Sum256(ud))
	}
	for i, k := range c.PublicKeys() {
		fmt.Fprintf(&b, "  (public-keys/%d): %d=%s: %q\n", i, i, k.Name, k.Key)
	}
	paths := make([]string, 0, len(c.faults))
	for p := range c.faults {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		delay, status := c.Fault(p)
		fmt.Fprintf(&b, "  (fault %q): delay %d ms, status %d\n", p, delay, status)
	}
	fmt.Fprintf(&b, "  (tokens required %t, endpoint enabled %t, has faults %t)\n", c.TokensRequired(), c.EndpointEnabled(), hasFaults(&c.Instance))
	return b.String()
}

func writeFields(b *strings.Builder, indent string, v reflect.Value) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		if f.Anonymous && f.Type.Kind() == reflect.Struct {
			writeFields(b, indent, v.Field(i)) // embedded: its keys are this object's
			continue
		}
		fmt.Fprintf(b, "%s%s: ", indent, strictjson.Name(f))
		fv := v.Field(i)
		if fv.Kind() == reflect.Pointer {
			if fv.IsNil() {
				b.WriteString("(none)\n")
				continue
			}
			fv = fv.Elem()
		}
		switch fv.Kind() {
		case reflect.Struct:
			b.WriteString("\n")
			writeFields(b, indent+"  ", fv)
			continue
		case reflect.String:
			if s := fv.String(); len(s) > 60 {
				fmt.Fprintf(b, "%q... (%d bytes)", s[:60], len(s))
			} else {
				fmt.Fprintf(b, "%q", s)
			}
		case reflect.Map:
			keys := fv.MapKeys()
			sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
			b.WriteString("{")
			for j, k := range keys {
				if j > 0 {
					b.WriteString(", ")
				}
				fmt.Fprintf(b, "%q: %#v", k.String(), fv.MapIndex(k).Interface())
			}
			b.WriteString("}")
		default:
			fmt.Fprintf(b, "%#v", fv.Interface())
		}
		b.WriteString("\n")
	}
}
