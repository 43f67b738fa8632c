package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/urfave/cli/v3"

	"github.com/eventstore-go/eventstore/internal/database"
)

// Flag names shared by several commands.
const (
	flagData           = "data"
	flagMongoDBURI     = "mongodb-uri"
	flagEmbeddedListen = "embedded-listen"
	flagLogFormat      = "log-format"
	flagLogLevel       = "log-level"
)

// storeFlags select the database, the same way for every command.
func storeFlags(env environment) []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: flagData, Value: "./data", Sources: env.fromEnv("EVENTSTORE_DATA"),
			Usage: "directory of the embedded store (used when no MongoDB URI is given)"},
		&cli.StringFlag{Name: flagMongoDBURI, Sources: env.fromEnv("EVENTSTORE_MONGODB_URI"),
			Usage: "MongoDB connection string (a replica set); empty: the embedded store"},
		&cli.StringFlag{Name: flagEmbeddedListen, Sources: env.fromEnv("EVENTSTORE_EMBEDDED_LISTEN"),
			Usage: "fixed address for the embedded store (e.g. 127.0.0.1:27017, so mongosh can look inside); empty: a free loopback port"},
	}
}

// logFlags choose the log format and level.
func logFlags(env environment) []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: flagLogFormat, Value: "auto", Sources: env.fromEnv("EVENTSTORE_LOG_FORMAT"),
			Usage: "auto (text on a terminal, JSON otherwise), text or json"},
		&cli.StringFlag{Name: flagLogLevel, Value: "info", Sources: env.fromEnv("EVENTSTORE_LOG_LEVEL"),
			Usage: "debug, info, warn or error"},
	}
}

// newLogger builds the logger the flags ask for, writing to w.
func newLogger(cmd *cli.Command, w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cmd.String(flagLogLevel))); err != nil {
		return nil, fmt.Errorf("--%s: %w", flagLogLevel, err)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch format := cmd.String(flagLogFormat); format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "auto":
		if isTerminal(w) {
			return slog.New(slog.NewTextHandler(w, opts)), nil
		}
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("--%s must be auto, text or json, not %q", flagLogFormat, format)
	}
}

// isTerminal reports whether w is a terminal (a character device).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// connect opens the database the flags select and says which in the log.
func connect(ctx context.Context, cmd *cli.Command, logger *slog.Logger) (*database.Conn, error) {
	cfg := database.Config{URI: cmd.String(flagMongoDBURI), DataDir: cmd.String(flagData),
		EmbeddedListen: cmd.String(flagEmbeddedListen), Logger: logger}
	conn, err := database.Connect(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if e := conn.Embedded(); e != nil {
		logger.Info("embedded store", "dir", e.Dir(), "mongodb", e.URI(), "database", conn.DB.Name())
	} else {
		logger.Info("MongoDB", "uri", redact(cfg.URI), "database", conn.DB.Name())
	}
	return conn, nil
}

// redact hides a password in a URI for the log.
func redact(uri string) string {
	at := strings.LastIndex(uri, "@")
	scheme := strings.Index(uri, "://")
	if at < 0 || scheme < 0 || at < scheme {
		return uri
	}
	userinfo := uri[scheme+3 : at]
	if user, _, ok := strings.Cut(userinfo, ":"); ok {
		return uri[:scheme+3] + user + ":xxxxx" + uri[at:]
	}
	return uri
}
