package report

import (
	"reflect"
)

var stringType = reflect.TypeOf("")

// transform deep-copies a value of the result model while rewriting its
// strings (redaction) or filling in nil lists (JSON): every slice, map and
// pointed-to value reachable from it is copied before it is changed, so the caller's data is never modified. Walking the model by
// reflection means a field analyze adds later is redacted too, without
// anyone remembering to list it here.
type transform struct {
	// str rewrites plain strings. Named string types (analyze.Outcome) are
	// vocabulary, not data, and are kept.
	str func(string) string
	// emptySlices turns nil slices into empty ones (JSON [] rather than null).
	emptySlices bool
}

// apply rewrites v, which must be settable, in place.
func (t transform) apply(v reflect.Value) {
	switch v.Kind() {
	case reflect.String:
		if t.str != nil && v.Type() == stringType {
			v.SetString(t.str(v.String()))
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if f := v.Field(i); f.CanSet() {
				t.apply(f)
			}
		}
	case reflect.Pointer:
		if v.IsNil() {
			return
		}
		p := reflect.New(v.Type().Elem())
		p.Elem().Set(v.Elem())
		t.apply(p.Elem())
		v.Set(p)
	case reflect.Interface:
		// A protocol's facts (analyze.App.Info): its value is copied too.
		if v.IsNil() {
			return
		}
		e := reflect.New(v.Elem().Type()).Elem()
		e.Set(v.Elem())
		t.apply(e)
		v.Set(e)
	case reflect.Slice:
		if v.IsNil() {
			if t.emptySlices {
				v.Set(reflect.MakeSlice(v.Type(), 0, 0))
			}
			return
		}
		s := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		reflect.Copy(s, v)
		for i := 0; i < s.Len(); i++ {
			t.apply(s.Index(i))
		}
		v.Set(s)
	case reflect.Map:
		if v.IsNil() {
			return
		}
		m := reflect.MakeMapWithSize(v.Type(), v.Len())
		it := v.MapRange()
		for it.Next() {
			k := reflect.New(v.Type().Key()).Elem()
			k.Set(it.Key())
			t.apply(k)
			e := reflect.New(v.Type().Elem()).Elem()
			e.Set(it.Value())
			t.apply(e)
			m.SetMapIndex(k, e)
		}
		v.Set(m)
	}
}
