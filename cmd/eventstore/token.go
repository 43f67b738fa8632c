package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/urfave/cli/v3"

	"github.com/eventstore-go/eventstore/clienttoken"
	"github.com/eventstore-go/eventstore/federation"
)

const flagClientTokenKey = "client-token-key"

// clientTokenFlag is serve's setting for the client tokens it accepts.
func clientTokenFlag(env environment) cli.Flag {
	return &cli.StringFlag{Name: flagClientTokenKey, Sources: env.fromEnv("EVENTSTORE_CLIENT_TOKEN_KEY"),
		Usage: "accept client tokens (JWT) signed with hmac:<secret of 32+ bytes> or by ed25519:<base64url public key>; empty: none"}
}

// clientTokenKeys reads serve's client token setting; nil without one.
func clientTokenKeys(cmd *cli.Command) (*clienttoken.Keys, error) {
	s := cmd.String(flagClientTokenKey)
	if s == "" {
		return nil, nil
	}
	k, err := clienttoken.ParseKey(s)
	if err != nil {
		return nil, fmt.Errorf("--%s: %w", flagClientTokenKey, err)
	}
	return k, nil
}

func tokenCommand(env environment) *cli.Command {
	return &cli.Command{
		Name:  "token",
		Usage: "mint a client token, as a chat service would (for testing)",
		Description: `Prints a short-lived client token (a JWT) for --sub that reads the contexts
given with --read and writes those given with --write (ct/cid, or ct/* for
every context of a type). Sign it with the secret the server has in
--client-token-key (hmac:<secret>), or with an Ed25519 key file from
eventstore keygen whose public key the server has (ed25519:<key>).`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: flagClientTokenKey, Sources: env.fromEnv("EVENTSTORE_CLIENT_TOKEN_KEY"), Usage: "hmac:<secret>, as the server has it"},
			&cli.StringFlag{Name: flagKeyFile, Usage: "an Ed25519 key file (eventstore keygen) to sign with instead"},
			&cli.StringFlag{Name: "sub", Usage: "the subject: who holds the token", Required: true},
			&cli.StringSliceFlag{Name: "read", Usage: "a context it may read (repeat the flag)"},
			&cli.StringSliceFlag{Name: "write", Usage: "a context it may write, and so read (repeat the flag)"},
			&cli.DurationFlag{Name: "ttl", Value: time.Hour, Usage: "how long it lives (at most 24h)"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			keys, err := mintingKeys(cmd)
			if err != nil {
				return err
			}
			now := time.Now()
			tok, err := keys.Mint(clienttoken.Claims{Read: cmd.StringSlice("read"), Write: cmd.StringSlice("write"),
				RegisteredClaims: jwt.RegisteredClaims{Subject: cmd.String("sub"), IssuedAt: jwt.NewNumericDate(now),
					ExpiresAt: jwt.NewNumericDate(now.Add(cmd.Duration("ttl")))}}, now)
			if err != nil {
				return err
			}
			fmt.Fprintln(env.stdout, tok)
			return nil
		},
	}
}

func mintingKeys(cmd *cli.Command) (*clienttoken.Keys, error) {
	switch hmacKey, file := cmd.String(flagClientTokenKey), cmd.String(flagKeyFile); {
	case file != "":
		k, err := federation.LoadKeyFile(file)
		if err != nil {
			return nil, err
		}
		return clienttoken.NewEd25519(k.Public, k.Private)
	case hmacKey != "":
		return clienttoken.ParseKey(hmacKey)
	}
	return nil, errors.New("give --" + flagClientTokenKey + " hmac:<secret> or --" + flagKeyFile)
}
