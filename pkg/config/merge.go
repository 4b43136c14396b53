package config

import (
	"reflect"

	"github.com/imdsd/imdsd/internal/imdspath"
	"github.com/imdsd/imdsd/internal/strictjson"
)

// Merge returns a new instance: base with every key that over gives put
// over it. given reports whether over gives the key at a path such as
// "region" or "iam.role" (a decoded file knows; a key given as its zero
// value, such as "default_delay_ms": 0, still counts). Objects merge key by
// key: tags, endpoint_delay_ms and force_status (where a path of over
// replaces the same path spelled differently in base), and iam field by
// field; everything else, lists and the other objects (iam.rotation,
// spot_interruption, rebalance_recommendation) included, replaces. User-data given in
// either form replaces base's in both forms. Neither base nor over is
// changed, and the result shares nothing with them. Merge works on
// instances as decoded: provision the result, then validate it.
func (base *Instance) Merge(over *Instance, given func(path string) bool) *Instance {
	m := base.clone()
	if given("user_data") || given("user_data_base64") {
		m.UserData, m.UserDataBase64 = nil, nil
	}
	mergeStruct(reflect.ValueOf(m).Elem(), reflect.ValueOf(over.clone()).Elem(), "", given)
	return m
}

// mergeStruct sets in dst, a struct, the fields whose key src gives.
func mergeStruct(dst, src reflect.Value, prefix string, given func(string) bool) {
	t := dst.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		d, s := dst.Field(i), src.Field(i)
		if f.Anonymous && f.Type.Kind() == reflect.Struct {
			mergeStruct(d, s, prefix, given) // embedded: its keys are this object's
			continue
		}
		name := strictjson.Name(f)
		if name == "" || name == "-" {
			continue
		}
		key := strictjson.JoinKey(prefix, name)
		if !given(key) {
			continue
		}
		switch {
		case f.Type.Kind() == reflect.Map:
			if d.IsNil() {
				d.Set(reflect.MakeMap(f.Type))
			}
			paths := name == "endpoint_delay_ms" || name == "force_status"
			for it := s.MapRange(); it.Next(); {
				if paths { // an inherited spelling of the same path gives way
					want := imdspath.Key(it.Key().String())
					for _, k := range d.MapKeys() {
						if imdspath.Key(k.String()) == want {
							d.SetMapIndex(k, reflect.Value{})
						}
					}
				}
				d.SetMapIndex(it.Key(), it.Value())
			}
		case key == "iam" && !d.IsNil() && !s.IsNil():
			mergeStruct(d.Elem(), s.Elem(), key, given)
		default:
			d.Set(s)
		}
	}
}

// clone returns a copy of in that shares no map, list or pointer with it.
func (in *Instance) clone() *Instance {
	c := reflect.New(reflect.TypeFor[Instance]())
	deepCopy(c.Elem(), reflect.ValueOf(in).Elem())
	return c.Interface().(*Instance)
}

// deepCopy copies src into dst, which has its type, field by field, making
// new maps, slices and pointed-to values. Unexported fields are left as
// they are in dst: provisioning fills them in.
func deepCopy(dst, src reflect.Value) {
	switch src.Kind() {
	case reflect.Struct:
		if !dst.CanSet() {
			return
		}
		t := src.Type()
		for i := 0; i < t.NumField(); i++ {
			if t.Field(i).IsExported() {
				deepCopy(dst.Field(i), src.Field(i))
			}
		}
	case reflect.Map:
		if src.IsNil() {
			dst.SetZero()
			return
		}
		m := reflect.MakeMapWithSize(src.Type(), src.Len())
		for it := src.MapRange(); it.Next(); {
			v := reflect.New(src.Type().Elem()).Elem()
			deepCopy(v, it.Value())
			m.SetMapIndex(it.Key(), v)
		}
		dst.Set(m)
	case reflect.Slice:
		if src.IsNil() {
			dst.SetZero()
			return
		}
		s := reflect.MakeSlice(src.Type(), src.Len(), src.Len())
		for i := 0; i < src.Len(); i++ {
			deepCopy(s.Index(i), src.Index(i))
		}
		dst.Set(s)
	case reflect.Pointer:
		if src.IsNil() {
			dst.SetZero()
			return
		}
		p := reflect.New(src.Type().Elem())
		deepCopy(p.Elem(), src.Elem())
		dst.Set(p)
	default:
		dst.Set(src)
	}
}
