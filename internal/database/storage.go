package database

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Storage compaction: giving back the space deleted documents leave inside
// the database's pages.
//
// The store deletes documents all the time: compaction folds head versions
// and commit log entries into spans. Whole pages that empty are given back
// by ReclaimSpace, but most deleted documents shared their page with
// events that stay, and SQLite appends new rows at the end of a table, so
// that space is never used again: at rest over 20 rooms, with a clid on
// every append, 30 % of the events table's pages was such space
// (BenchmarkStorageAtRest). Only rewriting the file packs the pages again:
// SQLite's VACUUM, which MongoDB's compact command is to WiredTiger. It
// costs time in proportion to the database (5–10 ms a MiB here), and
// writes wait while it runs, so a server does it seldom, on a schedule
// (eventstore serve --compact-storage-interval, daily by default on the
// embedded store, once the file has grown since the last), and an
// operator when they choose (eventstore compact).

// CompactStorage rewrites the database's storage without the space that
// deleted documents left, and returns its size on disk before and after
// (-1 where the size is not known here). On the embedded store it is
// SQLite's VACUUM of the whole file, through the write gate, with the
// write-ahead log truncated after; it needs free disk about twice the
// file. Elsewhere it sends each collection MongoDB's compact command (once
// in all on a FerretDB reached by URI, where it vacuums the whole file).
func (c *Conn) CompactStorage(ctx context.Context) (before, after int64, err error) {
	if c.embedded != nil {
		return c.embedded.Vacuum(ctx, c.DB.Name(), c.Write)
	}
	names, err := c.CollectionNames(ctx)
	if err != nil {
		return -1, -1, err
	}
	if c.backend.FerretDB && len(names) > 1 {
		names = names[:1]
	}
	return -1, -1, c.compactCollections(ctx, names)
}

// StorageSize is the bytes of the embedded store's database file (without
// its write-ahead log, which checkpoints empty), and -1 on any other
// backend.
func (c *Conn) StorageSize() int64 {
	if c.embedded == nil {
		return -1
	}
	return filesSize(filepath.Join(c.embedded.dir, c.DB.Name()+".sqlite"))
}

// compactCollections sends MongoDB's compact command to each collection
// named, one after the other. force lets it run on a replica set's
// primary in MongoDB versions before 4.4, and FerretDB takes it to mean a
// full VACUUM (without it, FerretDB only truncates free pages).
func (c *Conn) compactCollections(ctx context.Context, names []string) error {
	for _, name := range names {
		err := c.Write(ctx, func() error {
			return c.DB.RunCommand(ctx, bson.D{{Key: "compact", Value: name}, {Key: "force", Value: true}}).Err()
		})
		if err != nil {
			return fmt.Errorf("compacting the storage of %s: %w", name, err)
		}
	}
	return nil
}

// Vacuum rewrites database's SQLite file without the space deleted rows
// left in its pages (VACUUM), each step through write (the store's write
// gate), and truncates its write-ahead log, which the VACUUM filled with
// the whole file. It returns the bytes of the file and its log before and
// after.
func (e *Embedded) Vacuum(ctx context.Context, database string, write func(context.Context, func() error) error) (before, after int64, err error) {
	db, err := e.handle(database)
	if err != nil {
		return -1, -1, err
	}
	path := filepath.Join(e.dir, database+".sqlite")
	before = filesSize(path, path+"-wal")
	err = write(ctx, func() error {
		if _, err := db.ExecContext(ctx, `VACUUM`); err != nil {
			return fmt.Errorf("vacuuming %s: %w", path, err)
		}
		if _, err := db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
			return fmt.Errorf("truncating the write-ahead log of %s: %w", path, err)
		}
		return nil
	})
	return before, filesSize(path, path+"-wal"), err
}

// filesSize is the bytes of the files that exist among paths.
func filesSize(paths ...string) int64 {
	var n int64
	for _, p := range paths {
		if fi, err := os.Stat(p); err == nil {
			n += fi.Size()
		}
	}
	return n
}
