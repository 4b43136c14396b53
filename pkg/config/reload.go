package config

import (
	"reflect"

	"github.com/imdsd/imdsd/internal/strictjson"
)

// NeedsRestart returns the keys whose value differs between old, the
// configuration being served, and next, one to be reloaded, that a reload
// cannot apply: those read once at start (the token key, and the header
// limits that net/http reads for every connection). They are the [Service]
// fields tagged reload:"restart"; every other key takes effect on reload.
// The keys come in field order, each once.
func NeedsRestart(old, next *Config) []string {
	var keys []string
	ov, nv := reflect.ValueOf(&old.Service).Elem(), reflect.ValueOf(&next.Service).Elem()
	t := ov.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Tag.Get("reload") == "restart" && !reflect.DeepEqual(ov.Field(i).Interface(), nv.Field(i).Interface()) {
			keys = append(keys, strictjson.Name(f))
		}
	}
	return keys
}
