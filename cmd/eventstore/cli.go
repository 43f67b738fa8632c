package main

import (
	"context"
	"io"
	"strconv"

	"github.com/urfave/cli/v3"
)

// run is the whole program behind main, with its environment injected so
// that tests can drive every subcommand in-process.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	env := environment{getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr}
	root := &cli.Command{
		Name:           "eventstore",
		Usage:          "a federated, hash-chained event store",
		Version:        version(),
		Writer:         stdout,
		ErrWriter:      stderr,
		ExitErrHandler: func(context.Context, *cli.Command, error) {}, // main decides the status
		Commands: []*cli.Command{
			serveCommand(env),
			migrateCommand(env),
			verifyCommand(env),
			compactCommand(env),
			keygenCommand(env),
			tokenCommand(env),
			federationCommand(env),
			hashCommand(env),
			appendCommand(env),
			getCommand(env),
			listCommand(env),
			tailCommand(env),
			versionCommand(env),
		},
	}
	return root.Run(ctx, args)
}

// environment is what subcommands may touch of the outside world.
type environment struct {
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

// fromEnv makes a flag fall back to the environment variable key, read
// through the injected getenv; --help names the variable.
func (env environment) fromEnv(key string) cli.ValueSourceChain {
	return cli.NewValueSourceChain(envSource{key: key, getenv: env.getenv})
}

// envSource is a cli.ValueSource backed by the injected getenv rather than
// os.Getenv, which the library's own cli.EnvVars uses.
type envSource struct {
	key    string
	getenv func(string) string
}

func (s envSource) Lookup() (string, bool) {
	v := s.getenv(s.key)
	return v, v != ""
}
func (s envSource) String() string   { return "environment variable " + strconv.Quote(s.key) }
func (s envSource) GoString() string { return "envSource{" + s.key + "}" }
func (s envSource) IsFromEnv() bool  { return true }
func (s envSource) Key() string      { return s.key }
