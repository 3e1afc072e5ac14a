package policy

import (
	"context"
	"crypto/rand"
	"fmt"
	"io/fs"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Config configures an Engine. The zero value is usable.
type Config struct {
	// Clock is the time source for context.time, context.auth_age and the
	// status timestamps; nil means time.Now.
	Clock func() time.Time
	// Logger receives load successes and failures; nil discards them.
	Logger *slog.Logger
}

// Status describes the bundle an Engine serves and its load history, for
// readiness checks and metrics.
type Status struct {
	// Loaded reports whether a good bundle is being served. Without one every
	// decision is a deny.
	Loaded   bool      `json:"loaded"`
	Revision string    `json:"revision,omitempty"`
	Digest   string    `json:"digest,omitempty"`
	LoadedAt time.Time `json:"loaded_at,omitzero"`
	Policies int       `json:"policies"`
	// LastError is the most recent load failure ("" if none since the last
	// success); the last good bundle, if any, keeps serving.
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
	// Failures counts every load failure since the engine started.
	Failures uint64 `json:"failures"`
}

// Engine decides requests against the last good bundle. It is safe for
// concurrent use: Decide runs against an immutable snapshot while Load swaps
// in a new one atomically.
type Engine struct {
	clock  func() time.Time
	logger *slog.Logger

	current atomic.Pointer[Compiled]

	mu     sync.Mutex // guards status
	status Status
}

// New returns an engine with no bundle: every decision is a deny until a
// Load succeeds.
func New(cfg Config) (*Engine, error) {
	e := &Engine{clock: cfg.Clock, logger: cfg.Logger}
	if e.clock == nil {
		e.clock = time.Now
	}
	if e.logger == nil {
		e.logger = slog.New(slog.DiscardHandler)
	}
	return e, nil
}

// Load compiles the bundle in fsys (see Compile) and, if it is good, swaps
// it in. On error the last good bundle keeps serving, the failure is
// recorded in Status and returned.
func (e *Engine) Load(ctx context.Context, fsys fs.FS, meta Meta) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c, err := Compile(fsys, meta)
	if err != nil {
		err = fmt.Errorf("load policy bundle %s: %w", describe(meta), err)
		e.Fail(err)
		return err
	}
	e.Swap(c)
	return nil
}

// Swap serves c from now on. Use it to share one Compile between engines;
// Load is Compile followed by Swap.
func (e *Engine) Swap(c *Compiled) {
	e.current.Store(c)
	now := e.clock()
	e.mu.Lock()
	e.status.Loaded = true
	e.status.Revision = c.meta.Revision
	e.status.Digest = c.meta.Digest
	e.status.LoadedAt = now
	e.status.Policies = len(c.policies)
	e.status.LastError = ""
	e.status.LastErrorAt = time.Time{}
	e.mu.Unlock()
	e.logger.Info("policy bundle loaded", "revision", c.meta.Revision, "digest", c.meta.Digest, "policies", len(c.policies))
}

// Fail records a load failure that happened before Load could run (fetch,
// signature, digest). The current bundle, if any, keeps serving.
func (e *Engine) Fail(err error) {
	if err == nil {
		return
	}
	now := e.clock()
	e.mu.Lock()
	e.status.LastError = err.Error()
	e.status.LastErrorAt = now
	e.status.Failures++
	loaded := e.status.Loaded
	e.mu.Unlock()
	e.logger.Error("policy bundle rejected", "err", err, "serving_last_good", loaded)
}

// Status returns a snapshot of the engine's status.
func (e *Engine) Status() Status {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.status
}

// Current returns the bundle being served, or nil.
func (e *Engine) Current() *Compiled { return e.current.Load() }

// Decide answers req against the current bundle. It never fails: with no
// bundle, a cancelled ctx or any error on the way, the decision is a deny
// that records the error.
//
// The principal is User::"<sub>" for a person and Agent::"<client_id>" for a
// machine client (see IsAgent), with one Role parent per role. A delegated
// principal (an "act" claim) is evaluated twice: as Agent::"<actor>" with
// context.on_behalf_of = User::"<sub>", and as User::"<sub>" alone; the
// request is allowed only if both passes allow it.
func (e *Engine) Decide(ctx context.Context, req Request) Decision {
	return e.decideWith(ctx, e.current.Load(), req)
}

// decideWith decides req against c (nil: no bundle), with a fresh ID.
func (e *Engine) decideWith(ctx context.Context, c *Compiled, req Request) Decision {
	var d Decision
	switch {
	case c == nil:
		d = Decision{Action: req.Action, Resource: req.Resource.UID(), Errors: []string{ErrNoBundle.Error()}}
	case ctx.Err() != nil:
		d = Decision{Revision: c.meta.Revision, Digest: c.meta.Digest, Action: req.Action, Resource: req.Resource.UID()}
		d.deny(ctx.Err())
	default:
		d = c.decide(req, e.clock())
	}
	d.ID = rand.Text()
	return d
}

// DecideEach answers several actions about one request: req with its
// Action replaced by each of actions, in order, all from the same bundle
// (a hot swap cannot split them). It is Decide for each action, except
// that the principal, the resource and the context are mapped once: the
// gateway asks its guard questions (pii:view, secret:read on the same
// resource) this way. Every decision gets its own ID.
func (e *Engine) DecideEach(ctx context.Context, req Request, actions ...string) []Decision {
	c := e.current.Load()
	out := make([]Decision, 0, len(actions))
	switch {
	case c == nil:
		for _, a := range actions {
			out = append(out, Decision{Action: a, Resource: req.Resource.UID(), Errors: []string{ErrNoBundle.Error()}})
		}
	case ctx.Err() != nil:
		for _, a := range actions {
			d := Decision{Revision: c.meta.Revision, Digest: c.meta.Digest, Action: a, Resource: req.Resource.UID()}
			d.deny(ctx.Err())
			out = append(out, d)
		}
	default:
		out = c.decideEach(out, req, actions, e.clock())
	}
	for i := range out {
		out[i].ID = rand.Text()
	}
	return out
}

// DecideAll answers reqs in order against one bundle: a hot swap during the
// call cannot split them between two bundles (an AuthZEN batch is answered
// by one policy). After each decision, stop (if not nil) may end the
// batch: the decisions so far are returned, the last being the one stop
// saw. Every decision gets its own ID; errors are denies as in Decide.
func (e *Engine) DecideAll(ctx context.Context, reqs []Request, stop func(*Decision) bool) []Decision {
	c := e.current.Load()
	out := make([]Decision, 0, len(reqs))
	for _, req := range reqs {
		out = append(out, e.decideWith(ctx, c, req))
		if stop != nil && stop(&out[len(out)-1]) {
			break
		}
	}
	return out
}

func describe(m Meta) string {
	switch {
	case m.Revision != "" && m.Digest != "":
		return fmt.Sprintf("%s (%s)", m.Revision, m.Digest)
	case m.Revision != "":
		return m.Revision
	case m.Digest != "":
		return m.Digest
	default:
		return "(unnamed)"
	}
}
