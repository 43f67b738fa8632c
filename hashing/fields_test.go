package hashing_test

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/eventstore-go/eventstore/hashing"
)

func nan() float64 { return math.NaN() }

const (
	idA = "0000000000000000000000000000000000000000000000000000000000000001"
	idB = "0000000000000000000000000000000000000000000000000000000000000002"
)

func TestValidateFields(t *testing.T) {
	manyPids := make([]string, 21)
	for i := range manyPids {
		manyPids[i] = strings.Repeat("0", 62) + string("0123456789abcdefghijk"[i%16]) + "0"
	}
	tests := []struct {
		name string
		err  error
		want error // nil: accepted
	}{
		{"src plain", hashing.ValidateSrc("a.example"), nil},
		{"src with port", hashing.ValidateSrc("b.example:8443"), nil},
		{"src single label", hashing.ValidateSrc("localhost"), nil},
		{"src uppercase", hashing.ValidateSrc("A.example"), hashing.ErrBadSrc},
		{"src empty label", hashing.ValidateSrc("a..example"), hashing.ErrBadSrc},
		{"src trailing dot", hashing.ValidateSrc("a.example."), hashing.ErrBadSrc},
		{"src empty", hashing.ValidateSrc(""), hashing.ErrBadSrc},
		{"src port zero", hashing.ValidateSrc("a.example:0"), hashing.ErrBadSrc},
		{"src port too big", hashing.ValidateSrc("a.example:65536"), hashing.ErrBadSrc},
		{"src port empty", hashing.ValidateSrc("a.example:"), hashing.ErrBadSrc},
		{"src underscore", hashing.ValidateSrc("a_b.example"), hashing.ErrBadSrc},
		{"src 256 bytes", hashing.ValidateSrc(strings.Repeat("a", 256)), hashing.ErrBadSrc},
		{"src 255 bytes", hashing.ValidateSrc(strings.Repeat("a", 255)), nil},
		{"ct room", hashing.ValidateContextType("room"), nil},
		{"ct 32 chars", hashing.ValidateContextType("a" + strings.Repeat("b", 31)), nil},
		{"ct 33 chars", hashing.ValidateContextType("a" + strings.Repeat("b", 32)), hashing.ErrBadContextType},
		{"ct leading digit", hashing.ValidateContextType("1room"), hashing.ErrBadContextType},
		{"ct uppercase", hashing.ValidateContextType("Room"), hashing.ErrBadContextType},
		{"ct empty", hashing.ValidateContextType(""), hashing.ErrBadContextType},
		{"cid example", hashing.ValidateContextID("a7c5MQFQGe4XKMyEo"), nil},
		{"cid punctuation", hashing.ValidateContextID("a._:@-b"), nil},
		{"cid leading dot", hashing.ValidateContextID(".a"), hashing.ErrBadContextID},
		{"cid slash", hashing.ValidateContextID("a/b"), hashing.ErrBadContextID},
		{"cid 128 chars", hashing.ValidateContextID(strings.Repeat("a", 128)), nil},
		{"cid 129 chars", hashing.ValidateContextID(strings.Repeat("a", 129)), hashing.ErrBadContextID},
		{"t msg", hashing.ValidateEventType("msg"), nil},
		{"t dotted", hashing.ValidateEventType("message.sent"), nil},
		{"t empty segment", hashing.ValidateEventType("a..b"), hashing.ErrBadEventType},
		{"t trailing dot", hashing.ValidateEventType("a."), hashing.ErrBadEventType},
		{"t segment starting with digit", hashing.ValidateEventType("a.1b"), hashing.ErrBadEventType},
		{"t 65 chars", hashing.ValidateEventType(strings.Repeat("a", 65)), hashing.ErrBadEventType},
		{"ts zero", hashing.ValidateTimestamp(0), nil},
		{"ts max", hashing.ValidateTimestamp(hashing.MaxSafeInteger), nil},
		{"ts negative", hashing.ValidateTimestamp(-1), hashing.ErrBadTimestamp},
		{"ts beyond 2^53-1", hashing.ValidateTimestamp(hashing.MaxSafeInteger + 1), hashing.ErrBadTimestamp},
		{"pids empty", hashing.ValidatePids(nil), nil},
		{"pids sorted", hashing.ValidatePids([]string{idA, idB}), nil},
		{"pids unsorted", hashing.ValidatePids([]string{idB, idA}), hashing.ErrPidsUnsorted},
		{"pids duplicate", hashing.ValidatePids([]string{idA, idA}), hashing.ErrPidsDuplicate},
		{"pids uppercase hex", hashing.ValidatePids([]string{strings.ToUpper("ab" + idA[2:])}), hashing.ErrBadEventID},
		{"pids short", hashing.ValidatePids([]string{idA[1:]}), hashing.ErrBadEventID},
		{"pids 21", hashing.ValidatePids(manyPids), hashing.ErrPidsTooMany},
		{"event id", hashing.ValidateEventID(idA), nil},
		{"event id not hex", hashing.ValidateEventID(strings.Repeat("g", 64)), hashing.ErrBadEventID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.want == nil {
				if tt.err != nil {
					t.Fatalf("refused: %v", tt.err)
				}
				return
			}
			if !errors.Is(tt.err, tt.want) {
				t.Fatalf("error %v, want %v", tt.err, tt.want)
			}
			var fe *hashing.FieldError
			if !errors.As(tt.err, &fe) || fe.Field == "" {
				t.Fatalf("error %v is not a *hashing.FieldError naming its field", tt.err)
			}
		})
	}
}

func TestHeadValidate(t *testing.T) {
	good := hashing.Head{Src: "a.example", Ct: "room", Cid: "r1", T: "msg", TS: 1, Pids: []string{idA}, DHash: idB}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := good
	bad.DHash = "x"
	if err := bad.Validate(); !errors.Is(err, hashing.ErrBadEventID) {
		t.Errorf("bad dHash: %v", err)
	}
	bad = good
	bad.Pids = []string{idB, idA}
	if err := bad.Validate(); !errors.Is(err, hashing.ErrPidsUnsorted) {
		t.Errorf("unsorted pids: %v", err)
	}
}
