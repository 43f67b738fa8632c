package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/urfave/cli/v3"

	"github.com/eventstore-go/eventstore/audit"
	"github.com/eventstore-go/eventstore/federation"
	"github.com/eventstore-go/eventstore/internal/database"
)

// identityFlags say who this server is: its name, its signing key and its
// peers (with their pinned keys). serve and verify share them, so that an
// operator's environment configures both alike.
func identityFlags(env environment) []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: flagServerName, Value: "localhost", Sources: env.fromEnv("EVENTSTORE_SERVER_NAME"),
			Usage: "this server's name, the src of events created here (a DNS name, optional :port)"},
		&cli.StringSliceFlag{Name: flagPeer, Sources: env.fromEnv("EVENTSTORE_PEER"),
			Usage: "a server to federate with, as name=url, optionally ;key=<id>:<public key> to pin its key (repeat the flag, or separate with commas in the variable)"},
		&cli.StringFlag{Name: flagKeyFile, Sources: env.fromEnv("EVENTSTORE_KEY_FILE"),
			Usage: "this server's signing key, written by eventstore keygen; empty: a key kept in the database, made on first start"},
	}
}

// identity is what identityFlags give.
type identity struct {
	server  string
	peers   []federation.Peer
	keyFile *federation.Key // nil without --key-file
}

func readIdentity(cmd *cli.Command) (*identity, error) {
	id := &identity{server: cmd.String(flagServerName)}
	for _, p := range cmd.StringSlice(flagPeer) {
		peer, err := federation.ParsePeer(p)
		if err != nil {
			return nil, fmt.Errorf("--%s: %w", flagPeer, err)
		}
		id.peers = append(id.peers, peer)
	}
	if path := cmd.String(flagKeyFile); path != "" {
		var err error
		if id.keyFile, err = federation.LoadKeyFile(path); err != nil {
			return nil, fmt.Errorf("--%s: %w", flagKeyFile, err)
		}
	}
	return id, nil
}

// auditConfig has the audit verify every event's signature against the
// keys this server knows (its own, past ones included, and its peers'),
// and sign its checkpoints with the server's current key.
func (id *identity) auditConfig(ctx context.Context, db *database.Conn, keys *federation.Keyring, logger *slog.Logger) (audit.Config, error) {
	k, err := federation.LoadAuditKeys(ctx, db, id.server, keys, id.peers)
	if err != nil {
		return audit.Config{}, err
	}
	return audit.Config{Logger: logger, Signatures: k.History, Signer: k.Signer, Verifiers: k.Verifiers}, nil
}
