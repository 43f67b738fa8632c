package main

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/eventstore-go/eventstore/internal/database"
	"github.com/eventstore-go/eventstore/migrations"
)

func migrateCommand(env environment) *cli.Command {
	flags := append(storeFlags(env), logFlags(env)...)
	run := func(f func(ctx context.Context, db *database.Conn) error) cli.ActionFunc {
		return func(ctx context.Context, cmd *cli.Command) error {
			logger, err := newLogger(cmd, env.stderr)
			if err != nil {
				return err
			}
			conn, err := connect(ctx, cmd, logger)
			if err != nil {
				return err
			}
			defer conn.Close(context.WithoutCancel(ctx))
			return f(ctx, conn)
		}
	}
	return &cli.Command{
		Name:  "migrate",
		Usage: "apply or list schema migrations",
		Commands: []*cli.Command{
			{
				Name:  "up",
				Usage: "apply pending migrations (serve does this at start)",
				Flags: flags,
				Action: run(func(ctx context.Context, db *database.Conn) error {
					done, err := migrations.Up(ctx, db, nil)
					for _, s := range done {
						fmt.Fprintf(env.stdout, "applied %d %s\n", s.Version, s.Name)
					}
					if err == nil && len(done) == 0 {
						fmt.Fprintln(env.stdout, "nothing to do: every migration is applied")
					}
					return err
				}),
			},
			{
				Name:  "status",
				Usage: "list migrations and whether they are applied",
				Flags: flags,
				Action: run(func(ctx context.Context, db *database.Conn) error {
					status, err := migrations.Status(ctx, db)
					if err != nil {
						return err
					}
					tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "VERSION\tNAME\tAPPLIED")
					for _, s := range status {
						applied := "pending"
						if !s.AppliedAt.IsZero() {
							applied = s.AppliedAt.UTC().Format(time.RFC3339)
						}
						fmt.Fprintf(tw, "%d\t%s\t%s\n", s.Version, s.Name, applied)
					}
					return tw.Flush()
				}),
			},
		},
	}
}
