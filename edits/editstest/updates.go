package editstest

import (
	"fmt"
	"slices"
)

// Original is the data of the target the six updates edit. Folded is what
// it becomes once all six apply in (ts, id) order, if the second update's
// id is the larger of the two at the same ts; FoldedTiedLast if the sixth's
// is.
const (
	Original       = `{"msg":"original","u":{"_id":"u1","name":"Alice"}}`
	Folded         = `{"meta":{"by":"bob"},"msg":"second edit","reactions":{"+1":["alice"]},"u":{"_id":"u1"}}`
	FoldedTiedLast = `{"meta":{"by":"bob"},"msg":"tied edit","reactions":{"+1":["alice"]},"u":{"_id":"u1"}}`
)

// Update is one of the six: the o of its event.update and its ts relative
// to the target's.
type Update struct {
	O  string
	TS int64
}

// SixUpdates are concurrent updates of the target with id target, two at
// the same ts so that the event id breaks the tie.
func SixUpdates(target string) []Update {
	ops := []string{
		`{"set":[{"path":"msg","value":"first edit"}],"target":"%s"}`,
		`{"set":[{"path":"msg","value":"second edit"},{"path":"meta.edited","value":true}],"target":"%s"}`,
		`{"target":"%s","unset":["meta.edited"]}`,
		`{"set":[{"path":"meta.by","value":"bob"}],"target":"%s"}`,
		`{"set":[{"path":"reactions","value":{"+1":["alice"]}}],"target":"%s","unset":["u.name"]}`,
		`{"set":[{"path":"msg","value":"tied edit"}],"target":"%s"}`,
	}
	times := []int64{1000, 2000, 3000, 4000, 5000, 2000}
	out := make([]Update, len(ops))
	for i, op := range ops {
		out[i] = Update{O: fmt.Sprintf(op, target), TS: times[i]}
	}
	return out
}

// Permutations are all orders of n items (n! of them).
func Permutations(n int) [][]int {
	if n == 1 {
		return [][]int{{0}}
	}
	var out [][]int
	for _, p := range Permutations(n - 1) {
		for i := 0; i <= len(p); i++ {
			out = append(out, slices.Insert(slices.Clone(p), i, n-1))
		}
	}
	return out
}
