package postgres

import (
	"encoding/json"
	"reflect"
	"testing"
)

// TestAppendJSONMatches: AppendJSON writes what encoding/json writes for
// Info, for every combination of its fields set or zero (a field added to
// Info without AppendJSON learning it makes the combination that sets it
// differ). Strings need escaping, so the escaping is compared too.
func TestAppendJSONMatches(t *testing.T) {
	typ := reflect.TypeFor[Info]()
	var fields []int
	for k := range typ.NumField() {
		if typ.Field(k).IsExported() {
			fields = append(fields, k)
		}
	}
	for mask := 0; mask < 1<<len(fields); mask++ {
		var info Info
		v := reflect.ValueOf(&info).Elem()
		for bit, k := range fields {
			if mask&(1<<bit) == 0 {
				continue
			}
			switch f := v.Field(k); f.Kind() {
			case reflect.String:
				f.SetString(typ.Field(k).Name + ` <"x">&é` + "\x01")
			case reflect.Bool:
				f.SetBool(true)
			case reflect.Slice:
				f.Set(reflect.ValueOf([]string{"never written"}))
			default:
				t.Fatalf("Info.%s: a %s, which this test cannot set", typ.Field(k).Name, f.Kind())
			}
		}
		want, err := json.Marshal(&info)
		if err != nil {
			t.Fatal(err)
		}
		if got := info.AppendJSON([]byte("prefix")); string(got) != "prefix"+string(want) {
			t.Fatalf("fields %b:\nAppendJSON:    %s\nencoding/json: prefix%s", mask, got, want)
		}
	}
}
