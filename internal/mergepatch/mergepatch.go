// Package mergepatch applies JSON merge patches (RFC 7396) to generic JSON
// documents. imdsd keeps each guest's runtime changes as one merge-patch
// document layered over its configuration, so the same function both
// accumulates the changes a host sends and lays them over the instance.
package mergepatch

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// DefaultMaxBytes is the size limit for one patch (and for the document a
// patch produces) that imdsd uses unless told otherwise: 64 KiB, a little
// more than Firecracker MMDS's 51200 bytes. Over it, the control API
// answers 413.
const DefaultMaxBytes = 64 << 10

// ErrTooLarge is returned when a document is over the size limit.
var ErrTooLarge = errors.New("document too large")

// Merge returns the result of applying patch to target, as RFC 7396's
// MergePatch function: when patch is an object, its members are merged
// into target (a member whose value is null removes the member), when it
// is anything else it replaces target. Values are those encoding/json
// decodes into an interface{} (map[string]any, []any, string, float64 or
// json.Number, bool, nil). Neither argument is modified; the result shares
// no maps with them.
func Merge(target, patch any) any {
	p, ok := patch.(map[string]any)
	if !ok {
		return deepCopy(patch)
	}
	t, ok := target.(map[string]any)
	if !ok {
		t = nil // RFC 7396: a non-object target is replaced by {}
	}
	out := make(map[string]any, len(t)+len(p))
	for k, v := range t {
		if _, touched := p[k]; !touched {
			out[k] = deepCopy(v)
		}
	}
	for k, v := range p {
		if v == nil {
			continue // removed (or never there)
		}
		out[k] = Merge(t[k], v)
	}
	return out
}

// deepCopy copies a decoded JSON value exactly, nulls included.
func deepCopy(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = deepCopy(e)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = deepCopy(e)
		}
		return out
	}
	return v
}

// Apply applies the merge patch in patch to the JSON document doc and
// returns the result, encoded compactly with object members in key order.
// An empty or absent doc is taken as {}. Numbers are kept as written. The
// error says which of the two is not JSON.
func Apply(doc, patch []byte) ([]byte, error) {
	var t any = map[string]any{}
	if len(bytes.TrimSpace(doc)) > 0 {
		var err error
		if t, err = Decode(doc); err != nil {
			return nil, fmt.Errorf("document: %w", err)
		}
	}
	p, err := Decode(patch)
	if err != nil {
		return nil, fmt.Errorf("patch: %w", err)
	}
	return json.Marshal(Merge(t, p))
}

// ApplyLimit is Apply with a size limit on the patch and on the result; over
// it, the error wraps ErrTooLarge.
func ApplyLimit(doc, patch []byte, limit int) ([]byte, error) {
	if len(patch) > limit {
		return nil, fmt.Errorf("the patch is %d bytes, over the limit of %d: %w", len(patch), limit, ErrTooLarge)
	}
	out, err := Apply(doc, patch)
	if err != nil {
		return nil, err
	}
	if len(out) > limit {
		return nil, fmt.Errorf("the patched document would be %d bytes, over the limit of %d: %w", len(out), limit, ErrTooLarge)
	}
	return out, nil
}

// Decode decodes one JSON value, keeping numbers as json.Number so that
// a large integer or an exact decimal survives a patch unchanged. Trailing
// data after the value is an error.
func Decode(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("empty, expected a JSON value")
		}
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("more than one JSON value")
	}
	return v, nil
}
