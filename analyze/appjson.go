package analyze

import (
	"encoding/json"
	"reflect"
	"strings"
)

// A protocol's facts sit where a field of their own would: its Info is the
// attempt's member named by its key, after "events"; its Facts are members
// of the attempt's facts, after "errno". Both are written here, so that
// encoding/json gives the documented JSON without the model naming any
// protocol (report's fast path writes the same bytes; its tests compare).

// MarshalJSON writes the attempt's fields as encoding/json does, with its
// protocol's object (App) as the member App.Protocol in App's place.
func (a Attempt) MarshalJSON() ([]byte, error) {
	type plain Attempt // the fields, without this method
	b, err := json.Marshal(plain(a))
	if err != nil || a.App == nil || a.App.Info == nil {
		return b, err
	}
	info, err := json.Marshal(a.App.Info)
	if err != nil {
		return nil, err
	}
	m := appendJSONKey(nil, string(a.App.Protocol))
	return insertMember(b, attemptAfterApp, append(m, info...)), nil
}

// MarshalJSON writes the facts' fields as encoding/json does, with the
// protocol's facts (App) as members in App's place.
func (f Facts) MarshalJSON() ([]byte, error) {
	type plain Facts // the fields, without this method
	b, err := json.Marshal(plain(f))
	if err != nil || len(f.App) == 0 {
		return b, err
	}
	var m []byte
	for i, x := range f.App {
		if i > 0 {
			m = append(m, ',')
		}
		v, err := json.Marshal(x.Value)
		if err != nil {
			return nil, err
		}
		m = append(appendJSONKey(m, x.Key), v...)
	}
	return insertMember(b, factsAfterApp, m), nil
}

// The JSON names of the fields after App, where App's members go.
var (
	attemptAfterApp = namesAfter(reflect.TypeFor[Attempt](), "App")
	factsAfterApp   = namesAfter(reflect.TypeFor[Facts](), "App")
)

func namesAfter(t reflect.Type, field string) map[string]bool {
	out := map[string]bool{}
	seen := false
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Name == field {
			seen = true
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if seen && name != "-" && f.IsExported() {
			if name == "" {
				name = f.Name
			}
			out[name] = true
		}
	}
	return out
}

func appendJSONKey(b []byte, key string) []byte {
	k, _ := json.Marshal(key) // a string: cannot fail
	return append(append(b, k...), ':')
}

// insertMember inserts member (`"key":value[,...]`) into the JSON object
// obj before its first top-level member named in after, or at its end.
func insertMember(obj []byte, after map[string]bool, member []byte) []byte {
	at := len(obj) - 1 // the closing brace
	depth, inStr, esc, keyStart := 0, false, false, -1
scan:
	for i, c := range obj {
		if inStr {
			switch {
			case esc:
				esc = false
			case c == '\\':
				esc = true
			case c == '"':
				inStr = false
				if keyStart >= 0 && i+1 < len(obj) && obj[i+1] == ':' && after[string(obj[keyStart+1:i])] {
					at = keyStart
					break scan
				}
				keyStart = -1
			}
			continue
		}
		switch c {
		case '"':
			inStr = true
			if depth == 1 && i > 0 && (obj[i-1] == '{' || obj[i-1] == ',') {
				keyStart = i
			}
		case '{', '[':
			depth++
		case '}', ']':
			depth--
		}
	}
	out := make([]byte, 0, len(obj)+len(member)+1)
	out = append(out, obj[:at]...)
	if at == len(obj)-1 {
		if at > 0 && obj[at-1] != '{' {
			out = append(out, ',')
		}
		out = append(out, member...)
	} else {
		out = append(append(out, member...), ',')
	}
	return append(out, obj[at:]...)
}
