package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/eventstore-go/eventstore/federation"
)

func federationCommand(env environment) *cli.Command {
	return &cli.Command{
		Name:  "federation",
		Usage: "look at federation with other servers",
		Commands: []*cli.Command{{
			Name:  "status",
			Usage: "print delivery to every peer of a running server",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "url", Value: "http://127.0.0.1:8080", Sources: env.fromEnv("EVENTSTORE_URL"), Usage: "the server's base URL"},
				&cli.StringFlag{Name: flagToken, Sources: env.fromEnv("EVENTSTORE_ADMIN_TOKEN"), Usage: "an admin token (the secret only), if the server has tokens"},
				&cli.BoolFlag{Name: flagJSON, Usage: "print the server's answer as JSON"},
			},
			Action: func(ctx context.Context, cmd *cli.Command) error {
				return federationStatus(ctx, cmd, env)
			},
		}},
	}
}

func federationStatus(ctx context.Context, cmd *cli.Command, env environment) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(cmd.String("url"), "/")+"/api/v1/federation/status", nil)
	if err != nil {
		return err
	}
	if t := cmd.String(flagToken); t != "" {
		req.Header.Set("Authorization", "Bearer "+t)
	}
	res, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return err
	}
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", res.Status, raw)
	}
	if cmd.Bool(flagJSON) {
		_, err := env.stdout.Write(append(raw, '\n'))
		return err
	}
	var out struct {
		Peers []federation.PeerStatus `json:"peers"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PEER\tSTATE\tOUTBOX\tOLDEST UNDELIVERED\tLAST SUCCESS\tRETRIES\tSENT")
	var failures []string
	for _, p := range out.Peers {
		state := "ok"
		switch {
		case !p.Sending:
			state = "another process sends"
		case p.Failing:
			state = "failing"
			msg := p.LastError
			if !strings.HasPrefix(msg, p.Peer) {
				msg = p.Peer + ": " + msg
			}
			failures = append(failures, msg)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%d\t%d\n", p.Peer, state, p.OutboxVersions, age(p.OldestUndelivered), age(p.LastSuccess), p.Retries, p.EventsSent)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	// Errors are long; they go below the table, one per failing peer.
	for _, f := range failures {
		if _, err := fmt.Fprintln(env.stdout, "\n"+f); err != nil {
			return err
		}
	}
	return nil
}

// age says how long ago t was ("-" for never).
func age(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return time.Since(t).Round(time.Second).String() + " ago"
}
