package database

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// idIndexes are the SQLite indexes of collection's table, and the plan of
// a lookup by _id as FerretDB writes it.
func idIndexes(t *testing.T, e *Embedded, database, collection string) (defs []string, plan string) {
	t.Helper()
	ctx := context.Background()
	db, err := e.handle(database)
	if err != nil {
		t.Fatal(err)
	}
	table, err := tableOf(ctx, db, database, collection)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := db.QueryContext(ctx, `SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL`, table)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var def string
		if err := rows.Scan(&def); err != nil {
			t.Fatal(err)
		}
		defs = append(defs, def)
	}
	var id, parent, unused int
	if err := db.QueryRowContext(ctx, `EXPLAIN QUERY PLAN SELECT _ferretdb_sjson FROM "`+table+`" WHERE _ferretdb_sjson->'$._id' = ?`, `"x"`).Scan(&id, &parent, &unused, &plan); err != nil {
		t.Fatal(err)
	}
	return defs, plan
}

// TestOneIDIndex: a collection of the embedded store has one index on _id,
// FerretDB's unique one made on the expression its lookups use, so a
// lookup is a search of it and a duplicate _id is still refused; a store
// made before, with FerretDB's index as it made it and a second one
// beside it, is brought to the same.
func TestOneIDIndex(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	e, err := StartEmbedded(EmbeddedConfig{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	conn, err := Connect(ctx, Config{Embedded: e})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	check := func(when string) {
		t.Helper()
		defs, plan := idIndexes(t, e, conn.DB.Name(), "things")
		if len(defs) != 1 || !strings.HasPrefix(defs[0], "CREATE UNIQUE INDEX") || !strings.Contains(defs[0], idExpression) {
			t.Errorf("%s: indexes %q, want one unique index on %s", when, defs, idExpression)
		}
		if !strings.Contains(plan, "USING INDEX") {
			t.Errorf("%s: a lookup by _id is planned as %q, not a search of the index", when, plan)
		}
		coll := conn.DB.Collection("things")
		if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: when}}); err != nil {
			t.Fatal(err)
		}
		if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: when}}); !mongo.IsDuplicateKeyError(err) {
			t.Errorf("%s: a second document with the same _id: %v, want a duplicate key error", when, err)
		}
	}
	if err := conn.CreateCollection(ctx, "things"); err != nil {
		t.Fatal(err)
	}
	check("new")

	// As stores made before were: FerretDB's index on its own expression,
	// and a second index for lookups.
	db, err := e.handle(conn.DB.Name())
	if err != nil {
		t.Fatal(err)
	}
	table, err := tableOf(ctx, db, conn.DB.Name(), "things")
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`DROP INDEX "` + table + `__id_"`,
		`CREATE UNIQUE INDEX "` + table + `__id_" ON "` + table + `" (_ferretdb_sjson->"_id")`,
		`CREATE INDEX "` + table + `_eventstore_id" ON "` + table + `" (` + idExpression + `)`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	e.mu.Lock()
	delete(e.indexed, conn.DB.Name()+".things")
	e.mu.Unlock()
	conn.created = map[string]bool{}
	if err := conn.CreateCollection(ctx, "things"); err != nil {
		t.Fatal(err)
	}
	check("upgraded")
}
