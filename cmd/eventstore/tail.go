package main

import (
	"context"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/urfave/cli/v3"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/client"
)

func tailCommand(env environment) *cli.Command {
	return &cli.Command{
		Name:      "tail",
		Usage:     "follow a context of a running server: its events as they are stored",
		ArgsUsage: "ct/cid",
		Description: `Prints the context's events as they come, from now on (or --from a cursor,
or --from start for the whole history), until interrupted: one line each on
a terminal (time, origin server, type, a short text of d), one JSON object a
line otherwise or with --json. It reconnects by itself and resumes where it
was: no event is shown twice or left out.`,
		Flags: append(serverFlags(env),
			&cli.StringFlag{Name: "from", Usage: "a cursor to continue after, or start"},
			&cli.BoolFlag{Name: flagJSON, Usage: "JSON lines, also on a terminal"},
		),
		Action: func(ctx context.Context, cmd *cli.Command) error {
			ct, cid, err := contextArg(cmd, 0)
			if err != nil {
				return err
			}
			c, err := serverClient(cmd)
			if err != nil {
				return err
			}
			human := isTerminal(env.stdout) && !cmd.Bool(flagJSON)
			for m, err := range c.Follow(ctx, ct, cid, cmd.String("from")) {
				if err != nil {
					if ctx.Err() != nil {
						return nil // interrupted
					}
					return err
				}
				switch m.Kind {
				case client.KindEvent:
					if human {
						_, err = fmt.Fprintln(env.stdout, eventLine(m.Event))
					} else {
						err = printJSON(env.stdout, m.Event)
					}
					if err != nil {
						return err
					}
				case client.KindCaughtUp:
					if human {
						fmt.Fprintln(env.stderr, "— caught up; waiting for new events —")
					}
				case client.KindReset:
					fmt.Fprintln(env.stderr, "the server cut the stream off (it fell behind); resuming from", m.Cursor)
				}
			}
			return nil
		},
	}
}

// eventLine is one event as tail shows it on a terminal.
func eventLine(e *eventstore.Event) string {
	at := time.UnixMilli(e.TS).Format("2006-01-02 15:04:05")
	return fmt.Sprintf("%s  %s  %s  %s", at, e.Src, e.T, shortText(e))
}

// shortText is what an event says, in a line: its message (d.msg or
// d.text) when it has one, else its data as JSON, cut at 100 characters.
func shortText(e *eventstore.Event) string {
	if e.Deleted {
		return "(deleted)"
	}
	var fields map[string]any
	if err := client.DecodeData(e.D, &fields); err != nil {
		return "?"
	}
	text := string(e.D)
	for _, name := range []string{"msg", "text"} {
		if s, ok := fields[name].(string); ok {
			text = s
			break
		}
	}
	return cut(text, 100)
}

// cut shortens s to n characters, marking the cut.
func cut(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
