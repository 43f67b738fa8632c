package store

import (
	"context"
	"errors"
	"strings"

	"github.com/eventstore-go/eventstore/migrations"

	"github.com/eventstore-go/eventstore/internal/database"
)

// WatchLogs calls wake with the context type of every commit log entry
// inserted into the database, by any process, until ctx ends (see
// database.Conn.WatchInserts; database.ErrNoChangeStreams where there are
// none). It only wakes readers, who still read the log by _id and poll it
// as well, so a change stream that breaks loses nothing.
func (s *Store) WatchLogs(ctx context.Context, wake func(ct string)) error {
	err := s.conn.WatchInserts(ctx, migrations.LogEntryPrefix, func(coll string) {
		if ct, ok := strings.CutSuffix(coll, "_events"); ok {
			wake(ct)
		}
	})
	if errors.Is(err, database.ErrNoChangeStreams) {
		return err
	}
	return dbError("change stream", err)
}
