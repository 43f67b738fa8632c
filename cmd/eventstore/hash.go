package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/urfave/cli/v3"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/hashing"
)

func hashCommand(env environment) *cli.Command {
	return &cli.Command{
		Name:  "hash",
		Usage: "compute dHash and _id of one event read as JSON on stdin",
		Description: `Reads one event (at least src, ct, cid, pids, t, ts and o; other IEvent fields
are allowed and ignored) and prints {"dHash": …, "_id": …}. If the input
carries _id or dHash, they are compared with the computed values and a
mismatch exits with status 1. A deleted event has no o: its given dHash
is used, so the _id chain can still be checked. Invalid input exits with
status 1 and says what is wrong.`,
		Action: func(ctx context.Context, cmd *cli.Command) error {
			return hashEvent(env.stdin, env.stdout)
		},
	}
}

func hashEvent(stdin io.Reader, stdout io.Writer) error {
	raw, err := io.ReadAll(io.LimitReader(stdin, 1<<20))
	if err != nil {
		return err
	}
	var ev eventstore.Event
	if err := json.Unmarshal(raw, &ev); err != nil {
		return fmt.Errorf("reading the event: %s", eventstore.ErrorMessage(err))
	}
	given := hashing.Head{DHash: ev.DHash}
	head := ev.Head()
	switch {
	case ev.O != nil: // canonical once read (Event.UnmarshalJSON)
		head.DHash = hashing.DataHash(ev.O)
	case ev.DHash == "":
		head.DHash = hashing.EmptyDataHash // an absent o hashes as {}
	}
	if err := head.Validate(); err != nil {
		return err
	}
	id := hashing.EventID(head)
	out, _ := json.Marshal(struct {
		DHash string `json:"dHash"`
		ID    string `json:"_id"`
	}{head.DHash, id})
	if _, err := fmt.Fprintf(stdout, "%s\n", out); err != nil {
		return err
	}
	var problems []error
	if given.DHash != "" && given.DHash != head.DHash {
		problems = append(problems, fmt.Errorf("the given dHash %s does not match o", given.DHash))
	}
	if ev.ID != "" && ev.ID != id {
		problems = append(problems, fmt.Errorf("the given _id %s does not match the event", ev.ID))
	}
	return errors.Join(problems...)
}
