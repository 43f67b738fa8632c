package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/eventstore-go/eventstore/federation"
)

func keygenCommand(env environment) *cli.Command {
	return &cli.Command{
		Name:  "keygen",
		Usage: "make a new signing key for --key-file",
		Description: `Writes a new Ed25519 signing key to the file given (mode 0600) and prints
its id and the pin peers may configure (--peer name=url;key=<pin>). To
rotate, restart the server with the new file: the previous key stays
published, so events it signed still verify.`,
		Flags: []cli.Flag{&cli.StringFlag{Name: "out", Usage: "the key file to write (must not exist)", Required: true}},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			k, err := federation.GenerateKey()
			if err != nil {
				return err
			}
			raw, err := federation.MarshalKeyFile(k, time.Now())
			if err != nil {
				return err
			}
			path := cmd.String("out")
			fh, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if errors.Is(err, os.ErrExist) {
				return fmt.Errorf("%s exists; keygen never overwrites a key", path)
			}
			if err != nil {
				return err
			}
			if _, err := fh.Write(append(raw, '\n')); err != nil {
				fh.Close()
				return err
			}
			if err := fh.Close(); err != nil {
				return err
			}
			fmt.Fprintf(env.stdout, "wrote %s\nkey id: %s\npin:    %s\n", path, k.ID, federation.PinString(k))
			return nil
		},
	}
}
