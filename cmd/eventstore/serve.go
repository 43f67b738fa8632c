package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/urfave/cli/v3"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/api"
	"github.com/eventstore-go/eventstore/audit"
	"github.com/eventstore-go/eventstore/federation"
	"github.com/eventstore-go/eventstore/migrations"
	"github.com/eventstore-go/eventstore/store"
	"github.com/eventstore-go/eventstore/stream"
)

const (
	flagListen          = "listen"
	flagServerName      = "server-name"
	flagToken           = "token"
	flagShutdownTimeout = "shutdown-timeout"
	flagAuditInterval   = "audit-interval"
	flagCompactInterval = "compact-interval"
	flagPeer            = "peer"
	flagKeyFile         = "key-file"
	flagStreamBuffer    = "stream-buffer"
	flagStreamHeartbeat = "stream-heartbeat"
	flagStreamSenders   = "stream-senders"
	flagStreamPoll      = "stream-poll"
	flagMaxSkew         = "federation-max-skew"
	flagGatewayBeat     = "gateway-heartbeat"
	flagGatewayPacket   = "gateway-max-packet"
	flagGatewaySubs     = "gateway-max-subscriptions"
	flagGatewayConns    = "gateway-max-connections"
	flagGatewayRate     = "gateway-dispatch-rate"
	flagPendingPerPeer  = "federation-pending-per-peer"
	flagPendingPerRoom  = "federation-pending-per-room"
	flagCORSOrigins     = "cors-origins"
)

func serveCommand(env environment) *cli.Command {
	flags := []cli.Flag{
		&cli.StringFlag{Name: flagListen, Value: "127.0.0.1:8080", Sources: env.fromEnv("EVENTSTORE_LISTEN"),
			Usage: "HTTP listen address; port 0 picks a free port (the log line \"listening\" gives it)"},
		&cli.StringSliceFlag{Name: flagToken, Sources: env.fromEnv("EVENTSTORE_TOKEN"),
			Usage: "bearer token as scope:secret, scope read, write or admin (repeat the flag, or separate with commas in the variable); without tokens the server only listens on loopback"},
		&cli.DurationFlag{Name: flagShutdownTimeout, Value: 15 * time.Second, Sources: env.fromEnv("EVENTSTORE_SHUTDOWN_TIMEOUT"),
			Usage: "how long a shutdown waits for requests in flight"},
		&cli.DurationFlag{Name: flagAuditInterval, Sources: env.fromEnv("EVENTSTORE_AUDIT_INTERVAL"),
			Usage: "run the incremental audit this often (e.g. 1h); 0 turns it off"},
		&cli.DurationFlag{Name: flagCompactInterval, Value: 10 * time.Minute, Sources: env.fromEnv("EVENTSTORE_COMPACT_INTERVAL"),
			Usage: "fold head versions and commit log entries older than ten minutes into spans at start and then this often; 0 turns it off"},
		&cli.DurationFlag{Name: flagCompactStorageInterval, Value: 24 * time.Hour, Sources: env.fromEnv("EVENTSTORE_COMPACT_STORAGE_INTERVAL"),
			Usage: "give back the space folded documents left inside the database's pages this often (SQLite's VACUUM: writes wait while it runs, 5–10 ms a MiB of embedded store; skipped while the file has grown less than 10 % since the last); on MongoDB only if set (its compact command); 0 turns it off"},
	}
	flags = append(flags, clientTokenFlag(env), &cli.StringSliceFlag{Name: flagCORSOrigins, Sources: env.fromEnv("EVENTSTORE_CORS_ORIGINS"),
		Usage: "web origins whose pages may call the API and streams and open the gateway (CORS): exact (https://chat.example.com) or https://*.example.com; repeat the flag, or separate with commas in the variable; empty: only the server's own"},
		&cli.DurationFlag{Name: flagGatewayBeat, Value: 30 * time.Second,
			Sources: env.fromEnv("EVENTSTORE_GATEWAY_HEARTBEAT"), Usage: "the heartbeat interval the WebSocket gateway asks of clients; two missed close the connection"},
		&cli.IntFlag{Name: flagGatewayPacket, Value: int(api.DefaultGateway.MaxPacket), Sources: env.fromEnv("EVENTSTORE_GATEWAY_MAX_PACKET"),
			Usage: "bytes of one packet a gateway client may send"},
		&cli.IntFlag{Name: flagGatewaySubs, Value: api.DefaultGateway.MaxSubscriptions, Sources: env.fromEnv("EVENTSTORE_GATEWAY_MAX_SUBSCRIPTIONS"),
			Usage: "rooms one gateway connection may subscribe to"},
		&cli.IntFlag{Name: flagGatewayConns, Value: api.DefaultGateway.MaxConnections, Sources: env.fromEnv("EVENTSTORE_GATEWAY_MAX_CONNECTIONS"),
			Usage: "gateway connections one token (a client token's subject) may hold open; a server without tokens (loopback only) caps none"},
		&cli.IntFlag{Name: flagGatewayRate, Value: int(api.DefaultGateway.DispatchRate), Sources: env.fromEnv("EVENTSTORE_GATEWAY_DISPATCH_RATE"),
			Usage: "dispatches a second one gateway connection may send (bursts of twice that); beyond, error rate_limited"})
	flags = append(flags, identityFlags(env)...)
	flags = append(flags, &cli.DurationFlag{Name: flagMaxSkew, Value: federation.DefaultMaxSkew, Sources: env.fromEnv("EVENTSTORE_FEDERATION_MAX_SKEW"),
		Usage: "how far ahead of this server's clock a peer's event may be dated; later ones are refused"},
		&cli.IntFlag{Name: flagPendingPerPeer, Value: 1000, Sources: env.fromEnv("EVENTSTORE_FEDERATION_PENDING_PER_PEER"),
			Usage: "events of one peer kept waiting for their parents; beyond, the peer is told to send them again later"},
		&cli.IntFlag{Name: flagPendingPerRoom, Value: 500, Sources: env.fromEnv("EVENTSTORE_FEDERATION_PENDING_PER_ROOM"),
			Usage: "events of one room kept waiting for their parents; beyond, the peer is told to send them again later"})
	flags = append(flags,
		&cli.IntFlag{Name: flagStreamBuffer, Value: stream.DefaultBuffer, Sources: env.fromEnv("EVENTSTORE_STREAM_BUFFER"),
			Usage: "commits a live stream may fall behind before it is reset (its client resumes from the reset's cursor)"},
		&cli.DurationFlag{Name: flagStreamHeartbeat, Value: stream.DefaultHeartbeat, Sources: env.fromEnv("EVENTSTORE_STREAM_HEARTBEAT"),
			Usage: "how often an idle live stream sends a heartbeat comment"},
		&cli.DurationFlag{Name: flagStreamPoll, Value: stream.DefaultPoll, Sources: env.fromEnv("EVENTSTORE_STREAM_POLL"),
			Usage: "how often live streams look for events that other processes sharing the database wrote"},
		&cli.IntFlag{Name: flagStreamSenders, Value: 0, Sources: env.fromEnv("EVENTSTORE_STREAM_SENDERS"),
			Usage: "goroutines that write the gateway's dispatches (0: half the cores); more start while all are held up by slow clients"},
	)
	flags = append(flags, storeFlags(env)...)
	flags = append(flags, logFlags(env)...)
	return &cli.Command{
		Name:  "serve",
		Usage: "run the server",
		Description: `Serves the client HTTP API. With no MongoDB URI it starts the embedded
store (FerretDB on SQLite) with its data under --data. Migrations run at
start. SIGINT or SIGTERM stops it after the requests in flight.`,
		Flags: flags,
		Action: func(ctx context.Context, cmd *cli.Command) error {
			return serve(ctx, cmd, env)
		},
	}
}

func serve(ctx context.Context, cmd *cli.Command, env environment) error {
	logger, err := newLogger(cmd, env.stderr)
	if err != nil {
		return err
	}
	var tokens []api.Token
	for _, t := range cmd.StringSlice(flagToken) {
		tok, err := api.ParseToken(t)
		if err != nil {
			return fmt.Errorf("--%s: %w", flagToken, err)
		}
		tokens = append(tokens, tok)
	}
	clientKeys, err := clientTokenKeys(cmd)
	if err != nil {
		return err
	}
	origins, err := api.ParseOrigins(cmd.StringSlice(flagCORSOrigins))
	if err != nil {
		return fmt.Errorf("--%s: %w", flagCORSOrigins, err)
	}
	listen := cmd.String(flagListen)
	if len(tokens) == 0 && !isLoopback(listen) {
		return fmt.Errorf("refusing to listen on %s without tokens: anyone who can reach it could write; "+
			"give --%s scope:secret (or EVENTSTORE_TOKEN), or listen on 127.0.0.1", listen, flagToken)
	}
	id, err := readIdentity(cmd)
	if err != nil {
		return err
	}
	server, peers := id.server, id.peers

	conn, err := connect(ctx, cmd, logger)
	if err != nil {
		return err
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := conn.Close(closeCtx); err != nil {
			logger.Warn("closing the database", "err", err)
		}
	}()
	if _, err := migrations.Up(ctx, conn, logger); err != nil {
		return err
	}

	keys, err := federation.LoadKeyring(ctx, conn, id.keyFile, time.Now())
	if err != nil {
		return err
	}
	registry := prometheus.NewRegistry()
	metrics := api.NewMetrics(registry)
	st, err := store.New(conn, store.Options{
		Server:       server,
		Logger:       logger,
		Observe:      metrics.ObserveStore,
		Sign:         func(id string) map[string]string { return federation.SignEvent(keys.Current, id) },
		Participants: true,
	})
	if err != nil {
		return err
	}
	defer st.Close()
	st.Follow(func(_, _ string, events []*eventstore.Event) { metrics.CountStored(server, events) })
	registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "eventstore_store_out_of_space",
		Help: "1 while writes fail because the database is out of space, else 0."}, func() float64 {
		if st.OutOfSpace() {
			return 1
		}
		return 0
	}))
	f, err := federation.New(federation.Config{Server: server, Store: st, DB: conn, Keys: keys, Peers: peers,
		Logger: logger, Metrics: federation.NewMetrics(registry), MaxSkew: cmd.Duration(flagMaxSkew),
		MaxPendingPerPeer: int(cmd.Int(flagPendingPerPeer)), MaxPendingPerRoom: int(cmd.Int(flagPendingPerRoom))})
	if err != nil {
		return err
	}
	st.Follow(f.Committed)
	f.Start(ctx)
	defer f.Close()
	auditCfg, err := id.auditConfig(ctx, conn, keys, logger)
	if err != nil {
		return err
	}
	auditor := audit.New(st, conn, auditCfg)
	if cmd.Int(flagStreamBuffer) < 1 {
		return fmt.Errorf("--%s must be at least 1", flagStreamBuffer)
	}
	if cmd.Int(flagStreamSenders) < 0 {
		return fmt.Errorf("--%s must be 0 (half the cores) or more", flagStreamSenders)
	}
	cursors := stream.NewCursors(server) // --server-name keys them, as it names the events
	streams := stream.New(stream.Config{Store: st, Cursors: cursors, Logger: logger, Metrics: stream.NewMetrics(registry),
		Buffer: int(cmd.Int(flagStreamBuffer)), Heartbeat: cmd.Duration(flagStreamHeartbeat), Poll: cmd.Duration(flagStreamPoll),
		Senders: int(cmd.Int(flagStreamSenders))})
	st.Follow(func(ct, _ string, _ []*eventstore.Event) { streams.Committed(ct) })
	hubCtx, stopHub := context.WithCancel(ctx) // ctx's end ends the streams, so that shutdown is not held up by them
	hubDone := make(chan error, 1)
	go func() { hubDone <- streams.Run(hubCtx) }()
	defer func() {
		stopHub()
		if err := <-hubDone; err != nil {
			logger.Error("live streams stopped", "err", err)
		}
	}()
	gatewayClosed := make(chan struct{})
	handler := api.New(api.Config{
		Store: st, Cursors: cursors, Logger: logger, Metrics: metrics, Gatherer: registry, Tokens: tokens, ClientTokens: clientKeys,
		Gateway: api.GatewayConfig{Heartbeat: cmd.Duration(flagGatewayBeat), Closing: ctx.Done(), Closed: func() { close(gatewayClosed) },
			MaxPacket: int64(cmd.Int(flagGatewayPacket)), MaxSubscriptions: int(cmd.Int(flagGatewaySubs)),
			MaxConnections: int(cmd.Int(flagGatewayConns)), DispatchRate: float64(cmd.Int(flagGatewayRate))},
		Ready: func(ctx context.Context) error {
			if err := conn.Ping(ctx); err != nil {
				return err
			}
			if err := st.WriteFault(ctx); err != nil {
				return err
			}
			return migrations.Check(ctx, conn)
		},
		Verify: func(ctx context.Context, ct, cid string) (any, error) {
			return auditor.Verify(ctx, audit.Options{Ct: ct, Cid: cid})
		},
		Share:            f.Share,
		Federation:       f.Handler(),
		FederationStatus: func() any { return f.Status() },
		Hub:              streams,
		Origins:          origins,
	})
	if every := cmd.Duration(flagCompactInterval); every > 0 {
		compactDone := make(chan struct{})
		defer func() { <-compactDone }()
		go func() {
			defer close(compactDone)
			periodicCompaction(ctx, st, logger, every)
		}()
	}
	// On MongoDB, which reuses freed space itself, only when asked for.
	if every := cmd.Duration(flagCompactStorageInterval); every > 0 && (conn.Embedded() != nil || cmd.IsSet(flagCompactStorageInterval)) {
		storageDone := make(chan struct{})
		defer func() { <-storageDone }()
		go func() {
			defer close(storageDone)
			periodicStorageCompaction(ctx, conn, logger, every)
		}()
	}
	if every := cmd.Duration(flagAuditInterval); every > 0 {
		auditDone := make(chan struct{})
		defer func() { <-auditDone }()
		go func() {
			defer close(auditDone)
			periodicAudit(ctx, auditor, metrics, logger, every)
		}()
	}

	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	logger.Info("listening", "addr", ln.Addr().String(), "url", "http://"+ln.Addr().String(),
		"server", server, "key", keys.Current.ID, "peers", len(peers), "tokens", len(tokens), "version", version())

	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down: finishing requests in flight")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cmd.Duration(flagShutdownTimeout))
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	select { // the gateway's connections, which Shutdown does not wait for, each closed with a close frame
	case <-gatewayClosed:
	case <-shutdownCtx.Done():
		logger.Warn("shutdown: gateway connections still closing at the shutdown timeout")
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	logger.Info("stopped")
	return nil
}

// isLoopback reports whether a listen address only accepts local
// connections.
func isLoopback(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	addr, err := netip.ParseAddr(host)
	return err == nil && addr.IsLoopback()
}

// periodicCompaction compacts the store at once and then every interval
// until ctx ends (the store logs its progress).
func periodicCompaction(ctx context.Context, st *store.Store, logger *slog.Logger, every time.Duration) {
	for {
		if err := st.Compact(ctx); err != nil && ctx.Err() == nil {
			logger.Error("compaction stopped; it goes on at the next interval", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
	}
}

// periodicAudit runs the incremental audit every interval until ctx ends,
// and publishes each result as metrics.
func periodicAudit(ctx context.Context, auditor *audit.Auditor, metrics *api.Metrics, logger *slog.Logger, every time.Duration) {
	ticker := time.NewTicker(every)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		rep, err := auditor.Verify(ctx, audit.Options{Incremental: true})
		if err != nil {
			if ctx.Err() == nil {
				logger.Error("periodic audit could not run", "err", err)
			}
			continue
		}
		metrics.ObserveAudit(rep, time.Now())
		if rep.Clean {
			logger.Info("periodic audit: clean", "contexts", rep.Contexts, "events", rep.Events, "took", rep.Took)
		} else {
			logger.Error("periodic audit found problems", "contexts", rep.Contexts, "events", rep.Events,
				"problems", len(rep.Problems), "byKind", rep.ByKind, "first", rep.Problems[0].Detail)
		}
	}
}
