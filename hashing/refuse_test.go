package hashing_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/eventstore-go/eventstore/internal/bsondata"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/eventstore-go/eventstore/hashing"
)

func nested(depth int) string {
	return strings.Repeat(`{"a":`, depth-1) + "{}" + strings.Repeat("}", depth-1)
}

func TestParseObjectRefuses(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want error
		path string // JSON pointer the error must name, when set
	}{
		{"invalid UTF-8 in a string", "{\"a\":\"\xff\"}", hashing.ErrInvalidUTF8, "/a"},
		{"invalid UTF-8 in a name", "{\"\xc3\x28\":1}", hashing.ErrInvalidUTF8, ""},
		{"UTF-8 encoded surrogate", "{\"a\":\"\xed\xa0\x80\"}", hashing.ErrInvalidUTF8, "/a"},
		{"lone high surrogate", `{"a":"\ud800"}`, hashing.ErrLoneSurrogate, "/a"},
		{"lone low surrogate", `{"a":"x\udc00"}`, hashing.ErrLoneSurrogate, "/a"},
		{"high surrogate then non-surrogate", `{"a":"\ud800\u0041"}`, hashing.ErrLoneSurrogate, "/a"},
		{"lone surrogate in a name", `{"\ud83d":1}`, hashing.ErrLoneSurrogate, ""},
		{"duplicate member", `{"a":1,"b":2,"a":3}`, hashing.ErrDuplicateMember, ""},
		{"duplicate member nested", `{"u":{"n":1,"n":1}}`, hashing.ErrDuplicateMember, "/u"},
		{"duplicate member by escape", `{"a":1,"\u0061":2}`, hashing.ErrDuplicateMember, ""},
		{"integer above 2^53-1", `{"n":9007199254740992}`, hashing.ErrIntegerRange, "/n"},
		{"integer below -(2^53-1)", `{"n":-9007199254740992}`, hashing.ErrIntegerRange, "/n"},
		{"integer overflowing int64", `{"n":[123456789012345678901234567890]}`, hashing.ErrIntegerRange, "/n/0"},
		{"double in [2^53, 1e21) written with an exponent", `{"n":1e17}`, hashing.ErrIntegerRange, "/n"},
		{"2^53 written as a double", `{"n":9007199254740992.0}`, hashing.ErrIntegerRange, "/n"},
		{"number overflowing a double", `{"n":1e400}`, hashing.ErrNumberRange, "/n"},
		{"name starting with $", `{"$set":1}`, hashing.ErrMemberDollar, ""},
		{"nested name starting with $", `{"a":[{"$x":1}]}`, hashing.ErrMemberDollar, "/a/0"},
		{"name containing a dot", `{"a.b":1}`, hashing.ErrMemberDot, ""},
		{"name containing NUL", `{"a\u0000b":1}`, hashing.ErrMemberNUL, ""},
		{"nesting 33 levels", nested(33), hashing.ErrTooDeep, ""},
		{"arrays count as levels", `{"a":` + strings.Repeat("[", 32) + strings.Repeat("]", 32) + `}`, hashing.ErrTooDeep, ""},
		{"canonical size over 64 KiB", `{"a":"` + strings.Repeat("x", 64*1024) + `"}`, hashing.ErrTooLarge, ""},
		{"escapes expand past 64 KiB", `{"a":"` + strings.Repeat(`\u0001`, 11000) + `"}`, hashing.ErrTooLarge, ""},
		{"array instead of object", `[1,2]`, hashing.ErrNotObject, ""},
		{"string instead of object", `"x"`, hashing.ErrNotObject, ""},
		{"null instead of object", `null`, hashing.ErrNotObject, ""},
		{"empty input", ``, hashing.ErrSyntax, ""},
		{"truncated", `{"a":`, hashing.ErrSyntax, ""},
		{"trailing comma", `{"a":1,}`, hashing.ErrSyntax, ""},
		{"data after the value", `{"a":1} {}`, hashing.ErrSyntax, ""},
		{"single quotes", `{'a':1}`, hashing.ErrSyntax, ""},
		{"raw control character in string", "{\"a\":\"\t\"}", hashing.ErrSyntax, "/a"},
		{"leading zero", `{"a":01}`, hashing.ErrSyntax, "/a"},
		{"NaN literal", `{"a":NaN}`, hashing.ErrSyntax, "/a"},
		{"bad escape", `{"a":"\x"}`, hashing.ErrSyntax, "/a"},
		{"comment", `{"a":1 /* c */}`, hashing.ErrSyntax, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := hashing.ParseObject([]byte(tt.raw))
			if !errors.Is(err, tt.want) {
				t.Fatalf("error %v, want %v", err, tt.want)
			}
			var de *hashing.DataError
			if !errors.As(err, &de) {
				t.Fatalf("error %T is not a *hashing.DataError", err)
			}
			if tt.path != "" && de.Path != tt.path {
				t.Errorf("path %q, want %q (error: %v)", de.Path, tt.path, err)
			}
		})
	}
}

func TestParseObjectAcceptsLimits(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want string
	}{
		{"nesting exactly 32 levels", nested(32), nested(32)},
		{"2^53-1", `{"n":9007199254740991}`, `{"n":9007199254740991}`},
		{"-(2^53-1)", `{"n":-9007199254740991}`, `{"n":-9007199254740991}`},
		{"2^53-1 written as a double", `{"n":9007199254740991.0}`, `{"n":9007199254740991}`},
		{"1e21 is written with an exponent", `{"n":1e21}`, `{"n":1e+21}`},
		{"-0", `{"n":-0}`, `{"n":0}`},
		{"escaped solidus", `{"a":"\/"}`, `{"a":"/"}`},
		{"surrogate pair", `{"a":"\ud83d\ude00"}`, `{"a":"😀"}`},
		{"dollar inside a name", `{"a$":1}`, `{"a$":1}`},
		{"whitespace everywhere", " \t\r\n{ \"a\" : [ 1 , 2 ] } \n", `{"a":[1,2]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, canonical, err := hashing.ParseObject([]byte(tt.raw))
			if err != nil {
				t.Fatal(err)
			}
			if string(canonical) != tt.want {
				t.Errorf("got %s, want %s", canonical, tt.want)
			}
		})
	}
	exact := `{"a":"` + strings.Repeat("x", 64*1024-8) + `"}`
	if _, _, err := hashing.ParseObject([]byte(exact)); err != nil || len(exact) != 64*1024 {
		t.Errorf("exactly 64 KiB (%d bytes) refused: %v", len(exact), err)
	}
}

// TestCanonicalRefusesBSON covers what only BSON (or Go values) can hold.
func TestCanonicalRefusesBSON(t *testing.T) {
	tests := []struct {
		name string
		v    any
		want error
	}{
		{"int64 above 2^53-1", bson.D{{Key: "n", Value: int64(1 << 53)}}, hashing.ErrIntegerRange},
		{"NaN", bson.D{{Key: "n", Value: nan()}}, hashing.ErrNumberRange},
		{"ObjectID", bson.D{{Key: "n", Value: bson.NewObjectID()}}, hashing.ErrUnsupportedType},
		{"datetime", bson.D{{Key: "n", Value: bson.DateTime(0)}}, hashing.ErrUnsupportedType},
		{"invalid UTF-8 string", bson.D{{Key: "n", Value: "\xff"}}, hashing.ErrInvalidUTF8},
		{"duplicate key in bson.D", bson.D{{Key: "n", Value: 1}, {Key: "n", Value: 2}}, hashing.ErrDuplicateMember},
		{"dotted key", bson.M{"a.b": 1}, hashing.ErrMemberDot},
		{"not an object", bson.A{1}, hashing.ErrNotObject},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := bsondata.CanonicalObject(tt.v); !errors.Is(err, tt.want) {
				t.Errorf("Go value: error %v, want %v", err, tt.want)
			}
			if _, ok := tt.v.(bson.A); ok {
				return
			}
			raw, err := bson.Marshal(tt.v)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := bsondata.CanonicalObject(bson.Raw(raw)); !errors.Is(err, tt.want) {
				t.Errorf("bson.Raw: error %v, want %v", err, tt.want)
			}
		})
	}
}
