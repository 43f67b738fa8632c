package database

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"
)

// DefaultDatabase is the database used when the URI names none.
const DefaultDatabase = "eventstore"

// Config selects the database: a MongoDB URI, or with none the embedded
// FerretDB under DataDir.
type Config struct {
	URI            string // mongodb://…; empty means the embedded store
	Database       string // overrides the database named in the URI (default "eventstore")
	DataDir        string // the embedded store's data directory
	EmbeddedListen string // the embedded store's listen address; "" picks a free loopback port
	// Embedded, when set, is an embedded store already running (shared by
	// tests); Close leaves it running.
	Embedded *Embedded
	Logger   *slog.Logger
	Monitor  *event.CommandMonitor // optional, e.g. to count round trips
	Pool     *event.PoolMonitor    // optional, e.g. to count connections
	// MongoDBReads takes MongoDB's read paths on FerretDB too (see
	// Backend.mongoReads): tests set it, so that those paths run here.
	MongoDBReads bool
}

// Conn is an open database: a real MongoDB or the embedded FerretDB,
// reached through the same driver either way.
type Conn struct {
	Client       *mongo.Client
	DB           *mongo.Database
	embedded     *Embedded
	ownsEmbedded bool

	backend Backend       // what this backend can do, and how
	writing chan struct{} // FerretDB's write gate (writegate.go)

	mu      sync.Mutex
	created map[string]bool
}

// Connect opens the database cfg selects, starting the embedded store when
// no URI is given, checks that it answers and asks it what it is. The
// driver's settings follow the backend, however it is reached.
func Connect(ctx context.Context, cfg Config) (*Conn, error) {
	c := &Conn{created: map[string]bool{}, writing: make(chan struct{}, 1)}
	uri := cfg.URI
	if cfg.Embedded != nil {
		c.embedded, uri = cfg.Embedded, cfg.Embedded.URI()
	} else if uri == "" {
		if cfg.DataDir == "" {
			return nil, errors.New("no MongoDB URI and no data directory for the embedded store")
		}
		e, err := StartEmbedded(EmbeddedConfig{Dir: cfg.DataDir, Listen: cfg.EmbeddedListen, Logger: cfg.Logger})
		if err != nil {
			return nil, err
		}
		c.embedded, c.ownsEmbedded = e, true
		uri = e.URI()
	}
	name := cfg.Database
	if name == "" {
		name = databaseName(uri)
	}
	var err error
	if c.backend, err = askBackend(ctx, uri, name); err != nil {
		c.closeEmbedded()
		return nil, err
	}
	c.backend.mongoReads = cfg.MongoDBReads
	opts := options.Client().ApplyURI(uri).
		SetAppName("eventstore").
		// An append is acknowledged only once a majority has journaled it, so
		// a crash of the primary never loses it. FerretDB accepts and ignores
		// this; SQLite commits durably on its own.
		SetWriteConcern(writeconcern.Majority())
	if !strings.Contains(strings.ToLower(uri), "serverselectiontimeoutms") {
		opts.SetServerSelectionTimeout(10 * time.Second) // fail fast with a clear error when nothing answers
	}
	if cfg.Monitor != nil {
		opts.SetMonitor(cfg.Monitor)
	}
	if cfg.Pool != nil {
		opts.SetPoolMonitor(cfg.Pool)
	}
	if n := c.backend.poolSize(); n > 0 {
		opts.SetMaxPoolSize(n)
	}
	client, err := mongo.Connect(opts)
	if err != nil {
		c.closeEmbedded()
		return nil, fmt.Errorf("connecting to %s: %w", redactURI(uri), err)
	}
	c.Client = client
	c.DB = client.Database(name)
	if err := c.Ping(ctx); err != nil {
		_ = c.Close(context.Background())
		return nil, fmt.Errorf("MongoDB at %s does not answer: %w", redactURI(uri), err)
	}
	if c.backend.FerretDB && c.embedded == nil && cfg.Logger != nil {
		cfg.Logger.Warn("FerretDB reached by URI: its lookups by _id scan their collection " +
			"(FerretDB v1 indexes _id on another expression than it queries; the embedded store fixes that in its SQLite file)")
	}
	return c, nil
}

// askBackend asks the server at uri what it is, on a connection of its
// own: the driver's settings of the real one depend on the answer.
func askBackend(ctx context.Context, uri, name string) (Backend, error) {
	opts := options.Client().ApplyURI(uri).SetAppName("eventstore").SetMaxPoolSize(1)
	if !strings.Contains(strings.ToLower(uri), "serverselectiontimeoutms") {
		opts.SetServerSelectionTimeout(10 * time.Second)
	}
	client, err := mongo.Connect(opts)
	if err != nil {
		return Backend{}, fmt.Errorf("connecting to %s: %w", redactURI(uri), err)
	}
	defer func() { _ = client.Disconnect(context.WithoutCancel(ctx)) }()
	b, err := detectBackend(ctx, client.Database(name))
	if err != nil {
		return Backend{}, fmt.Errorf("MongoDB at %s does not answer: %w", redactURI(uri), err)
	}
	return b, nil
}

// Backend is what the server can do.
func (c *Conn) Backend() Backend { return c.backend }

// Writable says whether events can be written here (see Backend.Writable).
func (c *Conn) Writable() error { return c.backend.Writable() }

// Embedded reports whether this is the embedded store; it is nil otherwise.
func (c *Conn) Embedded() *Embedded { return c.embedded }

// Ping checks that the database answers.
func (c *Conn) Ping(ctx context.Context) error {
	return c.DB.RunCommand(ctx, map[string]int{"ping": 1}).Err()
}

// CreateCollection creates a collection if it does not exist yet. On the
// embedded store it also adds the index FerretDB's _id lookups need.
func (c *Conn) CreateCollection(ctx context.Context, name string) error {
	c.mu.Lock()
	done := c.created[name]
	c.mu.Unlock()
	if done {
		return nil
	}
	err := c.DB.CreateCollection(ctx, name)
	var ce mongo.CommandError
	if err != nil && !(errors.As(err, &ce) && ce.Code == 48) { // 48: NamespaceExists
		return fmt.Errorf("creating collection %s: %w", name, err)
	}
	if c.embedded != nil {
		if err := c.embedded.fixIDIndex(ctx, c.DB.Name(), name); err != nil {
			return err
		}
	}
	c.mu.Lock()
	c.created[name] = true
	c.mu.Unlock()
	return nil
}

// Close disconnects and stops the embedded store, if any.
func (c *Conn) Close(ctx context.Context) error {
	var err error
	if c.Client != nil {
		err = c.Client.Disconnect(ctx)
	}
	return errors.Join(err, c.closeEmbedded())
}

func (c *Conn) closeEmbedded() error {
	if c.embedded == nil || !c.ownsEmbedded {
		return nil
	}
	return c.embedded.Close()
}

// databaseName is the database named in the URI's path, or DefaultDatabase.
func databaseName(uri string) string {
	u, err := url.Parse(uri)
	if err != nil {
		return DefaultDatabase
	}
	if name := strings.Trim(u.Path, "/"); name != "" {
		return name
	}
	return DefaultDatabase
}

// redactURI hides the password of a MongoDB URI for messages.
func redactURI(uri string) string {
	u, err := url.Parse(uri)
	if err != nil || u.User == nil {
		return uri
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// BulkUpdate runs update models in commands small enough for the backend.
func (c *Conn) BulkUpdate(ctx context.Context, coll *mongo.Collection, models []mongo.WriteModel) error {
	for len(models) > 0 {
		n := min(len(models), c.backend.UpdateChunk())
		err := c.Write(ctx, func() error {
			_, err := coll.BulkWrite(ctx, models[:n], options.BulkWrite().SetOrdered(false))
			return err
		})
		if err != nil {
			return err
		}
		models = models[n:]
	}
	return nil
}

// Database is the driver handle (for packages that take an interface).
func (c *Conn) Database() *mongo.Database { return c.DB }

// Name is the database's name.
func (c *Conn) Name() string { return c.DB.Name() }

// ReclaimSpace gives back to the file system the space that deleted
// documents left in the embedded store's file (Embedded.ReclaimSpace),
// through the write gate; it returns the bytes freed. Elsewhere it does
// nothing: a MongoDB reuses the space itself.
func (c *Conn) ReclaimSpace(ctx context.Context) (int64, error) {
	if c.embedded == nil {
		return 0, nil
	}
	return c.embedded.ReclaimSpace(ctx, c.DB.Name(), c.Write)
}
