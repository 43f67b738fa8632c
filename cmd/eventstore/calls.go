package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v3"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/client"
)

// The commands that call a running server through package client, as an
// operator would from a terminal: append, get, list and tail.

const (
	flagServer     = "server"
	flagCallsToken = "token"
)

// serverFlags are what every calling command takes: where the server is,
// and the token to call it with.
func serverFlags(env environment) []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: flagServer, Value: "http://127.0.0.1:8080", Sources: env.fromEnv("EVENTSTORE_SERVER"),
			Usage: "the server's base URL"},
		&cli.StringFlag{Name: flagCallsToken, Sources: env.fromEnv("EVENTSTORE_TOKEN"),
			Usage: "the bearer token to call it with: a service token's secret (serve's scope:secret is taken as its secret, the first of a list) or a client token"},
	}
}

// serverClient is the client the flags describe.
func serverClient(cmd *cli.Command) (*client.Client, error) {
	var opts []client.Option
	if t := bearerToken(cmd.String(flagCallsToken)); t != "" {
		opts = append(opts, client.WithToken(t))
	}
	return client.New(cmd.String(flagServer), append(opts, client.WithUserAgent("eventstore-cli/"+version()))...)
}

// bearerToken is what --token says to send. EVENTSTORE_TOKEN is also
// serve's list of scope:secret tokens, so that form is taken as the first
// one's secret: on the server's own machine the CLI then works as is.
func bearerToken(s string) string {
	s, _, _ = strings.Cut(s, ",")
	for _, scope := range []string{"read:", "write:", "admin:"} {
		if secret, ok := strings.CutPrefix(s, scope); ok {
			return secret
		}
	}
	return s
}

// contextArg reads the ct/cid argument at position i.
func contextArg(cmd *cli.Command, i int) (ct, cid string, err error) {
	arg := cmd.Args().Get(i)
	ct, cid, ok := strings.Cut(arg, "/")
	if !ok {
		return "", "", fmt.Errorf("want the context as ct/cid (room/general), not %q", arg)
	}
	if err := eventstore.ValidateContext(ct, cid); err != nil {
		return "", "", err
	}
	return ct, cid, nil
}

func appendCommand(env environment) *cli.Command {
	return &cli.Command{
		Name:      "append",
		Usage:     "append an event to a context of a running server, and print it",
		ArgsUsage: "ct/cid",
		Flags: append(serverFlags(env),
			&cli.StringFlag{Name: "t", Value: "msg", Usage: "the event's type"},
			&cli.StringFlag{Name: "o", Value: "{}", Usage: "the event's content, a JSON object"},
			&cli.StringFlag{Name: "clid", Usage: "a client id: the same clid again answers with the first event, so retries are safe"},
			&cli.StringSliceFlag{Name: "pids", Usage: "the leaves the event must follow (the append fails if they are not the current ones)"},
		),
		Action: func(ctx context.Context, cmd *cli.Command) error {
			ct, cid, err := contextArg(cmd, 0)
			if err != nil {
				return err
			}
			o := json.RawMessage(cmd.String("o"))
			if !json.Valid(o) {
				return fmt.Errorf("--o is not JSON: %s", o)
			}
			c, err := serverClient(cmd)
			if err != nil {
				return err
			}
			e, _, err := c.Append(ctx, ct, cid, client.NewEvent{T: cmd.String("t"), O: o, Clid: cmd.String("clid"), Pids: cmd.StringSlice("pids")})
			if err != nil {
				return err
			}
			return printJSON(env.stdout, e)
		},
	}
}

func getCommand(env environment) *cli.Command {
	return &cli.Command{
		Name:      "get",
		Usage:     "print one event of a running server, with its current d",
		ArgsUsage: "ct/cid id",
		Flags:     serverFlags(env),
		Action: func(ctx context.Context, cmd *cli.Command) error {
			ct, cid, err := contextArg(cmd, 0)
			if err != nil {
				return err
			}
			id := cmd.Args().Get(1)
			if id == "" {
				return fmt.Errorf("want the event's id after the context")
			}
			c, err := serverClient(cmd)
			if err != nil {
				return err
			}
			e, err := c.Get(ctx, ct, cid, id)
			if err != nil {
				return err
			}
			return printJSON(env.stdout, e)
		},
	}
}

func listCommand(env environment) *cli.Command {
	return &cli.Command{
		Name:      "list",
		Usage:     "print a context's events in timeline order, one JSON object a line",
		ArgsUsage: "ct/cid",
		Description: `Prints a page of events (--limit), oldest first, or newest first with
--dir b; the cursor to continue from goes to stderr as "next: <cursor>".
With --all, every page.`,
		Flags: append(serverFlags(env),
			&cli.StringFlag{Name: "dir", Value: "f", Usage: "f: oldest first, b: newest first"},
			&cli.StringFlag{Name: "from", Usage: "a cursor to continue from"},
			&cli.IntFlag{Name: "limit", Value: 100, Usage: "events a page (1 to 1000)"},
			&cli.StringFlag{Name: "t", Usage: "only events of this type (msg, or a prefix: message.*)"},
			&cli.BoolFlag{Name: "all", Usage: "every page, not only the first"},
		),
		Action: func(ctx context.Context, cmd *cli.Command) error {
			ct, cid, err := contextArg(cmd, 0)
			if err != nil {
				return err
			}
			dir := client.Direction(cmd.String("dir"))
			if dir != client.Forward && dir != client.Backward {
				return fmt.Errorf("--dir is f or b, not %q", dir)
			}
			c, err := serverClient(cmd)
			if err != nil {
				return err
			}
			o := client.ListOptions{Dir: dir, From: cmd.String("from"), Limit: int(cmd.Int("limit")), T: cmd.String("t")}
			if cmd.Bool("all") {
				for e, err := range c.Events(ctx, ct, cid, o) {
					if err != nil {
						return err
					}
					if err := printJSON(env.stdout, e); err != nil {
						return err
					}
				}
				return nil
			}
			p, err := c.List(ctx, ct, cid, o)
			if err != nil {
				return err
			}
			for _, e := range p.Events {
				if err := printJSON(env.stdout, e); err != nil {
					return err
				}
			}
			if p.Next != "" {
				fmt.Fprintln(env.stderr, "next:", p.Next)
			}
			return nil
		},
	}
}

// printJSON writes v as one line of JSON.
func printJSON(w io.Writer, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", raw)
	return err
}
