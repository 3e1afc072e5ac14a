package cli

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/spf13/cobra"
	"github.com/wardenhq/warden/internal/audit"
	"github.com/wardenhq/warden/internal/store"
)

// newAuditCmd is the "audit" command group: verify, query, export. Each
// opens the store read-only: inspecting the audit trail never writes to it.
func newAuditCmd(stdio IO) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Verify, query and export the tamper-evident audit trail",
		Long: `Warden records every decision of the gateway, allowed or denied, in a
hash-chained audit trail: one chain per node, in the store (SQLite by default,
PostgreSQL for several nodes). These commands read it; none of them writes.

  verify  recompute every chain and name the first damaged record
  query   find records by time, subject, decision, action, route
  export  write the records, exactly as stored, as JSON Lines

--store is the store URL: sqlite:///path/to/warden.db (or a plain path) or
postgres://user@host/db.`,
		Example: `  warden audit verify --store sqlite:///var/lib/warden/warden.db
  warden audit query --store sqlite:///var/lib/warden/warden.db --since 1h --sub alice --decision deny
  warden audit export --store sqlite:///var/lib/warden/warden.db --format jsonl -o audit.jsonl`,
		Args: usageArgs(cobra.NoArgs),
		// Runnable, so that "warden audit bogus" is an unknown command (exit 2).
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(
		newAuditVerifyCmd(stdio),
		newAuditQueryCmd(stdio),
		newAuditExportCmd(stdio),
	)
	return cmd
}

// openAuditStore opens the store read-only; failures are usage errors
// (exit 2): nothing was judged.
func openAuditStore(ctx context.Context, url string) (store.Store, error) {
	if url == "" {
		return nil, usageErrorf("--store is required (sqlite:///path/to/warden.db or postgres://...)")
	}
	st, err := store.Open(ctx, url, store.Options{ReadOnly: true})
	if err != nil {
		return nil, usageErrorf("open store %s: %w", store.Describe(url), err)
	}
	return st, nil
}

type auditVerifyFlags struct {
	store   string
	node    string
	anchors []string
	json    bool
}

func newAuditVerifyCmd(stdio IO) *cobra.Command {
	var f auditVerifyFlags
	cmd := &cobra.Command{
		Use:   "verify --store URL [--node NODE] [--anchor NODE:SEQ:HASH]...",
		Short: "Recompute the audit hash chains and name the first damaged record",
		Long: `Recompute the hash chain of every node (or of --node) from the store and
check each record's hash, its link to the record before, its seq, and the
node's head row. The first damage is named with its seq and kind:

  edited           a record's content, hash, prev_hash or an indexed column was changed
  deleted          a record is missing (even if later ones were renumbered)
  inserted         a record the writer did not write (between others, past the head,
                   or copied from another node)
  reordered        records were swapped or moved
  broken_link      a record no longer links to the one before (it was edited and re-hashed)
  truncated        records at the end are gone (the head, or an anchor, names a later seq)
  head_mismatch    the last record does not match the head row (the chain was
                   re-hashed from some point on, or the head was edited or deleted)
  anchor_mismatch  the record at an anchor's seq has another hash

For each intact chain verify prints an anchor, NODE:SEQ:HASH. Keep anchors
outside the database (a ticket, a log shipper, another system) and pass them
back with --anchor: the hashes are plain SHA-256, so someone who can write the
database can re-hash the whole chain from some record on and rewrite the head
to match; only a hash kept elsewhere reveals that, for the records up to the
anchor's seq.

Exit codes:
  0  every chain verified intact
  1  a chain is damaged (the first bad seq and what is wrong are printed), or
     --node names a node with no records
  2  usage error, or the store cannot be opened or read`,
		Example: `  # Verify every node's chain
  warden audit verify --store sqlite:///var/lib/warden/warden.db

  # One node, checked against an anchor printed by an earlier run
  warden audit verify --store postgres://warden@db/warden --node gw-1 \
    --anchor gw-1:1200:5c1f0e6b2d9a4c3f8e7b6a5d4c3b2a1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b

  # Machine-readable report
  warden audit verify --store sqlite:///var/lib/warden/warden.db --json`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error { return runAuditVerify(cmd.Context(), stdio, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.store, "store", "", "store URL: sqlite:///path/to/warden.db or postgres://... (required)")
	fl.StringVar(&f.node, "node", "", "verify only this node's chain (default: every node)")
	fl.StringArrayVar(&f.anchors, "anchor", nil, "NODE:SEQ:HASH from an earlier verify, kept outside the store (repeatable)")
	fl.BoolVar(&f.json, "json", false, "print the reports as JSON")
	return cmd
}

// verifyJSON is one node's report in --json output.
type verifyJSON struct {
	Node     string       `json:"node"`
	Intact   bool         `json:"intact"`
	Records  uint64       `json:"records"`
	LastSeq  uint64       `json:"last_seq"`
	LastHash string       `json:"last_hash,omitempty"`
	HeadSeq  uint64       `json:"head_seq,omitempty"`
	HeadHash string       `json:"head_hash,omitempty"`
	Anchor   string       `json:"anchor,omitempty"`
	Problem  *problemJSON `json:"problem,omitempty"`
}

type problemJSON struct {
	Seq    uint64      `json:"seq"`
	Fault  audit.Fault `json:"fault"`
	Detail string      `json:"detail"`
}

func runAuditVerify(ctx context.Context, stdio IO, f auditVerifyFlags) error {
	var anchors []audit.Anchor
	for _, s := range f.anchors {
		a, err := audit.ParseAnchor(s)
		if err != nil {
			return usageErrorf("--anchor: %w", err)
		}
		if f.node != "" && a.Node != f.node {
			return usageErrorf("--anchor %s is for node %s, not --node %s", s, a.Node, f.node)
		}
		anchors = append(anchors, a)
	}
	st, err := openAuditStore(ctx, f.store)
	if err != nil {
		return err
	}
	defer st.Close()
	var reps []*audit.Report
	if f.node != "" {
		rep, err := audit.Verify(ctx, st, f.node, anchors...)
		if err != nil {
			return usageErrorf("%w", err)
		}
		reps = []*audit.Report{rep}
	} else if reps, err = audit.VerifyAll(ctx, st, anchors...); err != nil {
		return usageErrorf("%w", err)
	}
	var bad []*audit.Report
	for _, r := range reps {
		if !r.OK() {
			bad = append(bad, r)
		}
	}
	if f.json {
		out := make([]verifyJSON, 0, len(reps))
		for _, r := range reps {
			out = append(out, reportJSON(r))
		}
		b, err := prettyJSON(out)
		if err != nil {
			return err
		}
		stdio.Stdout.Write(b)
	} else {
		w := bufio.NewWriter(stdio.Stdout)
		if len(reps) == 0 {
			fmt.Fprintln(w, "no audit records in the store")
		}
		for _, r := range reps {
			if r.OK() {
				fmt.Fprintf(w, "OK        %s: %d records intact; anchor %s\n", r.Node, r.Records, anchorOf(r))
				continue
			}
			p := r.Problem
			fmt.Fprintf(w, "TAMPERED  %s: seq %d: %s: %s (%d records verified before it)\n", r.Node, p.Seq, p.Fault, cleanText(p.Detail), r.Records)
		}
		w.Flush()
	}
	switch {
	case len(bad) == 1:
		return invalidErrorf("audit chain of node %s is damaged at seq %d (%s)", bad[0].Node, bad[0].Problem.Seq, bad[0].Problem.Fault)
	case len(bad) > 1:
		return invalidErrorf("audit chains of %d nodes are damaged (first: node %s at seq %d, %s)", len(bad), bad[0].Node, bad[0].Problem.Seq, bad[0].Problem.Fault)
	}
	return nil
}

func anchorOf(r *audit.Report) string {
	return audit.Anchor{Node: r.Node, Seq: r.LastSeq, Hash: r.LastHash}.String()
}

func reportJSON(r *audit.Report) verifyJSON {
	v := verifyJSON{Node: r.Node, Intact: r.OK(), Records: r.Records, LastSeq: r.LastSeq, LastHash: hex.EncodeToString(r.LastHash)}
	if r.Head != nil {
		v.HeadSeq, v.HeadHash = r.Head.Seq, hex.EncodeToString(r.Head.Hash)
	}
	if r.OK() {
		v.Anchor = anchorOf(r)
	} else {
		v.Problem = &problemJSON{Seq: r.Problem.Seq, Fault: r.Problem.Fault, Detail: r.Problem.Detail}
	}
	return v
}

type auditQueryFlags struct {
	store, node                         string
	since, until                        string
	sub, decision, action, route, reqID string
	limit                               int
	json                                bool
}

func newAuditQueryCmd(stdio IO) *cobra.Command {
	var f auditQueryFlags
	cmd := &cobra.Command{
		Use:   "query --store URL [--since 1h] [--sub SUBJECT] [--decision allow|deny] [--action ACTION] [--json]",
		Short: "Find audit records by time, subject, decision, action or route",
		Long: `Print the audit records that match every filter given, oldest first
(ordered by time, then node, then seq), as a table or, with --json, as JSON
Lines in the export format.

--since and --until take a duration back from now (90s, 15m, 1h, 24h) or an
RFC 3339 time (2026-11-24T10:00:00Z); --since is inclusive, --until
exclusive. At most --limit records are printed (default 100); a note on
stderr says when the limit cut the result.

Each record printed is checked on its own (its hash, its encoding, its
indexed columns), so a query never shows an edited record as genuine: it
stops with exit 1 instead. Use "warden audit verify" to check the chains.

Exit codes: 0 records printed (possibly none), 1 a matching record failed its
integrity check, 2 usage error or unreadable store.`,
		Example: `  # Alice's denied model calls in the last hour
  warden audit query --store sqlite:///var/lib/warden/warden.db --since 1h --sub alice --decision deny --action model:invoke

  # Everything one request produced, as JSON Lines
  warden audit query --store sqlite:///var/lib/warden/warden.db --request-id 01JD2K8Q3W --json

  # A time window on one node
  warden audit query --store postgres://warden@db/warden --node gw-2 --since 2026-11-24T09:00:00Z --until 2026-11-24T10:00:00Z`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error { return runAuditQuery(cmd.Context(), stdio, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.store, "store", "", "store URL: sqlite:///path/to/warden.db or postgres://... (required)")
	fl.StringVar(&f.since, "since", "", "only records at or after this time: a duration back from now (1h) or RFC 3339")
	fl.StringVar(&f.until, "until", "", "only records before this time: a duration back from now or RFC 3339")
	fl.StringVar(&f.sub, "sub", "", "only this subject")
	fl.StringVar(&f.decision, "decision", "", "only allow or deny")
	fl.StringVar(&f.action, "action", "", "only this action, e.g. model:invoke")
	fl.StringVar(&f.route, "route", "", "only this route name")
	fl.StringVar(&f.reqID, "request-id", "", "only this request ID")
	fl.StringVar(&f.node, "node", "", "only this node")
	fl.IntVar(&f.limit, "limit", store.DefaultQueryLimit, fmt.Sprintf("print at most this many records (1 to %d)", store.MaxQueryLimit))
	fl.BoolVar(&f.json, "json", false, "print JSON Lines (the export format) instead of a table")
	return cmd
}

func runAuditQuery(ctx context.Context, stdio IO, f auditQueryFlags) error {
	filter := audit.Filter{Node: f.node, Subject: f.sub, Decision: f.decision, Action: f.action, Route: f.route, RequestID: f.reqID, Limit: f.limit}
	var err error
	if filter.Since, err = parseWhen(stdio, "--since", f.since); err != nil {
		return err
	}
	if filter.Until, err = parseWhen(stdio, "--until", f.until); err != nil {
		return err
	}
	switch {
	case f.decision != "" && f.decision != audit.Allow && f.decision != audit.Deny:
		return usageErrorf("--decision %q: want allow or deny", f.decision)
	case f.limit < 1 || f.limit > store.MaxQueryLimit:
		return usageErrorf("--limit %d: want 1 to %d", f.limit, store.MaxQueryLimit)
	case !filter.Since.IsZero() && !filter.Until.IsZero() && !filter.Until.After(filter.Since):
		return usageErrorf("--until must be later than --since")
	}
	st, err := openAuditStore(ctx, f.store)
	if err != nil {
		return err
	}
	defer st.Close()
	entries, err := audit.Query(ctx, st, filter)
	var p *audit.Problem
	if errors.As(err, &p) {
		return invalidErrorf("record %s/%d fails its integrity check (%s: %s); run warden audit verify", p.Node, p.Seq, p.Fault, p.Detail)
	}
	if err != nil {
		return usageErrorf("%w", err)
	}
	w := bufio.NewWriter(stdio.Stdout)
	if f.json {
		var line []byte
		for i := range entries {
			line = entries[i].AppendJSONLine(line[:0])
			w.Write(line)
		}
	} else if len(entries) > 0 {
		writeAuditTable(w, entries)
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	switch {
	case len(entries) == 0:
		fmt.Fprintln(stdio.Stderr, "no matching audit records")
	case len(entries) == f.limit:
		fmt.Fprintf(stdio.Stderr, "showing the first %d records; narrow the filter or raise --limit\n", f.limit)
	}
	return nil
}

// parseWhen reads --since/--until: a duration back from now, or RFC 3339.
func parseWhen(stdio IO, flag, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d <= 0 {
			return time.Time{}, usageErrorf("%s %s: a duration must be positive (it counts back from now)", flag, s)
		}
		return stdio.Now().Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, usageErrorf("%s %q: want a duration (1h, 30m) or an RFC 3339 time (2026-11-24T10:00:00Z)", flag, s)
	}
	return t, nil
}

func writeAuditTable(w io.Writer, entries []audit.Entry) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tNODE\tSEQ\tPHASE\tDECISION\tSUBJECT\tACTION\tRESOURCE\tROUTE\tSTATUS\tWHY")
	for i := range entries {
		r := &entries[i].Record
		resource := "-"
		if r.ResourceType != "" || r.ResourceID != "" {
			resource = r.ResourceType + "::" + strconv.Quote(r.ResourceID)
		}
		status := "-"
		if r.UpstreamStatus != 0 {
			status = strconv.Itoa(r.UpstreamStatus)
		}
		why := r.ErrorCode
		if len(r.Reasons) > 0 {
			why = r.Reasons[0]
		} else if why == "" && len(r.Policies) > 0 {
			why = r.Policies[0]
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
			r.Time.UTC().Format(time.RFC3339), cleanCell(r.Node), r.Seq, cleanCell(r.Phase), r.Decision, cleanCell(r.Subject),
			cleanCell(r.Action), cleanCell(resource), cleanCell(r.Route), status, cleanCell(why))
	}
	tw.Flush()
}

// cleanText escapes every rune that is not printable, so that record content
// (request paths, subjects: attacker-controlled) cannot drive the terminal.
func cleanText(s string) string {
	for _, r := range s {
		if !unicode.IsPrint(r) {
			q := strconv.QuoteToGraphic(s)
			return q[1 : len(q)-1]
		}
	}
	return s
}

// cleanCell is cleanText for a table cell: also no tabs or empty cells.
func cleanCell(s string) string {
	if s == "" {
		return "-"
	}
	return strings.ReplaceAll(cleanText(s), "\t", `\t`)
}

type auditExportFlags struct {
	store, node, format, output string
	force                       bool
}

func newAuditExportCmd(stdio IO) *cobra.Command {
	var f auditExportFlags
	cmd := &cobra.Command{
		Use:   "export --store URL [--format jsonl] [-o FILE] [--node NODE]",
		Short: "Write the audit records, exactly as stored, as JSON Lines",
		Long: `Write every record of every node (or of --node), node by node in seq order,
one JSON object per line:

  {"node":"gw-1","seq":1,"prev_hash":"…","hash":"…","record":{…}}

The "record" member is the canonical record byte for byte, so each line's
hash can be recomputed from the line alone: SHA-256(hex-decoded prev_hash ||
the bytes of the record member). The lines of a node, in order, are its
whole chain. Export copies; it does not judge: run "warden audit verify" for
that. (A record whose stored bytes are not JSON at all is written as
"record_base64" so the line stays valid.)

-o writes the file atomically with mode 0600 (audit records are sensitive) and
refuses to replace an existing file without --force. Without -o the lines go
to stdout.

Exit codes: 0 exported, 2 usage error or unreadable store.`,
		Example: `  warden audit export --store sqlite:///var/lib/warden/warden.db --format jsonl -o audit.jsonl
  warden audit export --store postgres://warden@db/warden --node gw-1 | gzip > gw-1.jsonl.gz`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error { return runAuditExport(cmd.Context(), stdio, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.store, "store", "", "store URL: sqlite:///path/to/warden.db or postgres://... (required)")
	fl.StringVar(&f.format, "format", "jsonl", "output format: jsonl")
	fl.StringVarP(&f.output, "output", "o", "", "write to FILE (mode 0600) instead of stdout")
	fl.BoolVar(&f.force, "force", false, "replace an existing -o FILE")
	fl.StringVar(&f.node, "node", "", "export only this node (default: every node)")
	return cmd
}

func runAuditExport(ctx context.Context, stdio IO, f auditExportFlags) error {
	if f.format != "jsonl" {
		return usageErrorf("--format %q: only jsonl is supported", f.format)
	}
	if f.output != "" && !f.force {
		if _, err := os.Lstat(f.output); err == nil {
			return usageErrorf("%s exists; pass --force to replace it", f.output)
		}
	}
	st, err := openAuditStore(ctx, f.store)
	if err != nil {
		return err
	}
	defer st.Close()
	if f.output == "" {
		if _, err := audit.Export(ctx, st, stdio.Stdout, f.node); err != nil {
			return usageErrorf("%w", err)
		}
		return nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(f.output), "."+filepath.Base(f.output)+".*")
	if err != nil {
		return usageErrorf("write %s: %w", f.output, err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename this fails harmlessly
	n, err := audit.Export(ctx, st, tmp, f.node)
	if err == nil {
		err = tmp.Chmod(0o600)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), f.output)
	}
	if err != nil {
		return usageErrorf("export to %s: %w", f.output, err)
	}
	fmt.Fprintf(stdio.Stderr, "exported %d records to %s\n", n, f.output)
	return nil
}
