package source

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"time"
)

// JSONReason turns a decoding error into a reason a person reads: a type
// mismatch names the field and the JSON it wanted ("field \"Severity\" has
// a JSON number, want an object"), anything else is the decoder's own text.
// Every adapter reports decoding errors through it.
func JSONReason(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field == "" {
			return fmt.Sprintf("the record is a JSON %s, want %s", te.Value, jsonKind(te.Type))
		}
		return fmt.Sprintf("field %q has a JSON %s, want %s", te.Field, te.Value, jsonKind(te.Type))
	}
	return err.Error()
}

// jsonKind names a Go type as the JSON it decodes from.
func jsonKind(t reflect.Type) string {
	if t == nil {
		return "another type"
	}
	switch t.Kind() {
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct, reflect.Pointer, reflect.Interface:
		return "an object"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	default:
		return "a number"
	}
}

// ParseTime reads an RFC 3339 time (fractions of a second kept) from the
// named field. It rejects the zero time and times whose UTC year is outside
// 1..9999, which a Signal's time_dt could not hold, with a reason that
// names the field.
func ParseTime(field, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, fmt.Errorf("missing field %q", field)
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("field %q: %q is not an RFC 3339 time", field, v)
	}
	return CheckTime(field, t)
}

// CheckTime rejects the zero time and times outside UTC years 1..9999,
// naming field; it returns t in UTC.
func CheckTime(field string, t time.Time) (time.Time, error) {
	if t.IsZero() || t.UTC().Year() < 1 || t.UTC().Year() > 9999 {
		return time.Time{}, fmt.Errorf("field %q: %s is outside years 1..9999", field, t.Format(time.RFC3339Nano))
	}
	return t.UTC(), nil
}
