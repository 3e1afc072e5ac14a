// Command service is a small service of the reference domain (traces of
// model runs, the workflows that ship them, the records they were built
// from) protected in-process by the enforce package: the middleware judges
// every request by the route table below, and the record handler asks
// Decide whether the caller may see the personal data in a record.
//
// It trusts the tokens of one Warden, follows its revocations, confirms
// high-risk actions (approving a workflow, deleting a record) with it, and
// writes its decision records to a local hash-chained SQLite log, which it
// ships to Warden in the background:
//
//	service -listen 127.0.0.1:8081 \
//	  -warden http://127.0.0.1:8080 -issuer https://warden.example.com -audience records \
//	  -client-id records-svc -client-secret-file secret \
//	  -bundle bundle.tar.gz -bundle-keys bundle.jwks.json -audit audit.db
//
// See docs/enforce.md.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/wardenhq/warden/enforce"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stderr, nil); err != nil {
		fmt.Fprintln(os.Stderr, "service:", err)
		os.Exit(1)
	}
}

// routes is the service's route table: method and pattern → action and
// resource.
func routes() []enforce.Route {
	return []enforce.Route{
		{Name: "trace-read", Methods: []string{"GET"}, Pattern: "/traces/{id}", Action: "trace:read",
			Resource: enforce.ResourceTemplate{Type: "Trace", ID: "{id}"}},
		{Name: "trace-replay", Methods: []string{"POST"}, Pattern: "/traces/{id}/replay", Action: "trace:replay",
			Resource: enforce.ResourceTemplate{Type: "Trace", ID: "{id}"}},
		{Name: "record-read", Methods: []string{"GET"}, Pattern: "/records/{id}", Action: "record:read",
			Resource: enforce.ResourceTemplate{Type: "Record", ID: "{id}"}},
		{Name: "record-delete", Methods: []string{"DELETE"}, Pattern: "/records/{id}", Action: "record:delete",
			Resource: enforce.ResourceTemplate{Type: "Record", ID: "{id}"}},
		{Name: "workflow-approve", Methods: []string{"POST"}, Pattern: "/workflows/{id}/approve", Action: "workflow:approve",
			Resource: enforce.ResourceTemplate{Type: "Workflow", ID: "{id}"}},
	}
}

// run parses args, builds the Enforcer and serves until ctx ends. ready,
// if set, receives the listening address.
func run(ctx context.Context, args []string, stderr io.Writer, ready chan<- string) error {
	fs := flag.NewFlagSet("service", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		listen     = fs.String("listen", "127.0.0.1:8081", "address to listen on")
		wardenURL  = fs.String("warden", "", "Warden's data-plane URL (required)")
		issuer     = fs.String("issuer", "", "the token issuer (Warden's token_issuer.url; required)")
		audience   = fs.String("audience", "", "the audience the service's tokens carry (required)")
		clientID   = fs.String("client-id", "", "the service's OAuth client (required)")
		secretFile = fs.String("client-secret-file", "", "file holding the client secret (required)")
		bundlePath = fs.String("bundle", "", "the signed policy bundle, watched (required)")
		bundleKeys = fs.String("bundle-keys", "", "the bundle signing public keys, JWK Set or PEM (required)")
		auditDB    = fs.String("audit", "", "the SQLite file of the decision log (required)")
		env        = fs.String("env", "", "the deployment (context.env)")
		ship       = fs.Bool("ship", true, "ship the decision records to Warden (the client needs the audit:ingest scope)")
	)
	if err := fs.Parse(args); err != nil {
		return err
	}
	for name, v := range map[string]string{"warden": *wardenURL, "issuer": *issuer, "audience": *audience, "client-id": *clientID,
		"client-secret-file": *secretFile, "bundle": *bundlePath, "bundle-keys": *bundleKeys, "audit": *auditDB} {
		if v == "" {
			return fmt.Errorf("-%s is required", name)
		}
	}
	secret, err := os.ReadFile(*secretFile)
	if err != nil {
		return err
	}
	keys, err := os.ReadFile(*bundleKeys)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(stderr, nil))
	e, err := enforce.New(ctx, enforce.Config{
		Issuers: []enforce.Issuer{{
			Issuer: *issuer, Audiences: []string{*audience}, Algorithms: []string{"ES256", "EdDSA"},
			JWKSURL: strings.TrimSuffix(*wardenURL, "/") + "/.well-known/jwks.json", RequiredClaims: []string{"jti"},
		}},
		Bundle: enforce.Bundle{Path: *bundlePath, PublicKeys: keys, PollInterval: time.Second},
		Warden: enforce.Warden{URL: *wardenURL, ClientID: *clientID, ClientSecret: strings.TrimSpace(string(secret))},
		Audit:  enforce.Audit{Store: "sqlite://" + *auditDB, Node: "svc." + *clientID, Ship: *ship},
		Env:    *env,
		Logger: log,
	})
	if err != nil {
		return err
	}
	defer e.Close()

	svc := newService(e)
	protect, err := e.Middleware(routes())
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if err := e.Ready(); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	mux.Handle("/", protect(svc.handler()))

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 16 << 10,
	}
	log.Info("serving", "addr", ln.Addr().String())
	if ready != nil {
		ready <- ln.Addr().String()
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
	case err := <-errc:
		return err
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// record is one stored record; Email is personal data.
type record struct {
	ID     string `json:"id"`
	Tenant string `json:"tenant"`
	Text   string `json:"text"`
	Email  string `json:"email"`
}

// service holds the example's data in memory.
type service struct {
	e       *enforce.Enforcer
	mu      sync.Mutex
	records map[string]record
	done    map[string]bool // approved workflows
}

func newService(e *enforce.Enforcer) *service {
	return &service{e: e, done: map[string]bool{}, records: map[string]record{
		"r-1": {ID: "r-1", Tenant: "acme", Text: "refund request", Email: "ada@example.com"},
		"r-2": {ID: "r-2", Tenant: "acme", Text: "address change", Email: "bob@example.com"},
	}}
}

// handler routes the requests the middleware let through; the middleware
// has filled r.PathValue("id").
func (s *service) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /traces/{id}", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"id": r.PathValue("id"), "spans": 3})
	})
	mux.HandleFunc("POST /traces/{id}/replay", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusAccepted, map[string]any{"id": r.PathValue("id"), "replay": "queued"})
	})
	mux.HandleFunc("GET /records/{id}", s.readRecord)
	mux.HandleFunc("DELETE /records/{id}", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		_, ok := s.records[r.PathValue("id")]
		delete(s.records, r.PathValue("id"))
		s.mu.Unlock()
		if !ok {
			writeJSON(w, http.StatusNotFound, map[string]any{"error": "no such record"})
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /workflows/{id}/approve", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.done[r.PathValue("id")] = true
		s.mu.Unlock()
		p, _ := enforce.PrincipalFrom(r.Context())
		writeJSON(w, http.StatusOK, map[string]any{"id": r.PathValue("id"), "approved_by": p.Subject})
	})
	return mux
}

// readRecord returns a record; its email only when the policy permits
// pii:view on it for this caller: a decision only the handler can make,
// since it needs the record (its tenant) first.
func (s *service) readRecord(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	rec, ok := s.records[r.PathValue("id")]
	s.mu.Unlock()
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]any{"error": "no such record"})
		return
	}
	d := s.e.Decide(r.Context(), "pii:view", enforce.Resource{Type: "Record", ID: rec.ID, Attributes: map[string]any{"tenant": rec.Tenant}}, nil)
	if !d.Allowed {
		rec.Email = "[redacted]"
	}
	writeJSON(w, http.StatusOK, rec)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
