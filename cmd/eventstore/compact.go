package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/eventstore-go/eventstore/store"

	"github.com/eventstore-go/eventstore/internal/database"
)

const (
	flagStorage                = "storage"
	flagCompactStorageInterval = "compact-storage-interval"
)

func compactCommand(env environment) *cli.Command {
	flags := []cli.Flag{
		&cli.BoolFlag{Name: flagStorage, Value: true,
			Usage: "then give back the space deleted documents left in the database's pages (SQLite's VACUUM, MongoDB's compact); writes wait while it runs"},
	}
	flags = append(flags, identityFlags(env)...)
	flags = append(flags, storeFlags(env)...)
	flags = append(flags, logFlags(env)...)
	return &cli.Command{
		Name:  "compact",
		Usage: "fold old head versions and commit log entries into spans, as serve does every --compact-interval, then compact the storage",
		Description: `Selects the store as serve does: --data opens the embedded store of a
stopped server, --mongodb-uri any MongoDB. Compacting the storage rewrites
the embedded store's file (5–10 ms a MiB, with free disk about twice
its size) and writes wait while it runs; on MongoDB it sends each
collection the compact command. A running server does the same every
--compact-storage-interval (daily by default on the embedded store).`,
		Flags: flags,
		Action: func(ctx context.Context, cmd *cli.Command) error {
			logger, err := newLogger(cmd, env.stderr)
			if err != nil {
				return err
			}
			id, err := readIdentity(cmd)
			if err != nil {
				return err
			}
			conn, err := connect(ctx, cmd, logger)
			if err != nil {
				return err
			}
			defer conn.Close(context.WithoutCancel(ctx))
			st, err := store.New(conn, store.Options{Server: id.server, Logger: logger})
			if err != nil {
				return err
			}
			defer st.Close()
			start := time.Now()
			if err := st.Compact(ctx); err != nil {
				return fmt.Errorf("folding: %w", err)
			}
			fmt.Fprintf(env.stdout, "folded what was older than ten minutes in %v\n", time.Since(start).Round(time.Millisecond))
			if !cmd.Bool(flagStorage) {
				return nil
			}
			return compactStorage(ctx, conn, logger, env.stdout)
		},
	}
}

// compactStorage compacts the database's storage, saying what it gave
// back on out (if not nil) and in the log.
func compactStorage(ctx context.Context, conn *database.Conn, logger *slog.Logger, out io.Writer) error {
	logger.Info("compacting the storage: writes wait until it is done")
	start := time.Now()
	before, after, err := conn.CompactStorage(ctx)
	took := time.Since(start).Round(time.Millisecond)
	if err != nil {
		return fmt.Errorf("compacting the storage: %w", err)
	}
	if before < 0 {
		logger.Info("storage compacted", "took", took)
		if out != nil {
			fmt.Fprintf(out, "compacted the storage in %v\n", took)
		}
		return nil
	}
	logger.Info("storage compacted", "took", took, "bytesBefore", before, "bytesAfter", after)
	if out != nil {
		fmt.Fprintf(out, "compacted the storage in %v: %s before, %s after\n", took, mebibytes(before), mebibytes(after))
	}
	return nil
}

// mebibytes writes n bytes as MiB with one decimal.
func mebibytes(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// storageGrowth is how much the embedded store's file must have grown
// since the last storage compaction (or since the server started) for
// the next to run: the space a compaction gives back is what folding left
// in pages written since, so an idle server does none, and a busy one
// rewrites its file only once there is something to gain.
const storageGrowth = 0.10

// periodicStorageCompaction compacts the storage every interval until ctx
// ends, on the embedded store only once its file has grown by
// storageGrowth since the last time.
func periodicStorageCompaction(ctx context.Context, conn *database.Conn, logger *slog.Logger, every time.Duration) {
	baseline := conn.StorageSize()
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
		if size := conn.StorageSize(); size >= 0 && float64(size) < float64(baseline)*(1+storageGrowth) {
			logger.Debug("storage compaction skipped: the store has hardly grown since the last", "bytes", size, "bytesThen", baseline)
			continue
		}
		if err := compactStorage(ctx, conn, logger, nil); err != nil {
			if ctx.Err() == nil {
				logger.Error("storage compaction failed; it is tried again at the next interval", "err", err)
			}
			continue
		}
		baseline = conn.StorageSize()
	}
}
