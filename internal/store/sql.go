package store

import (
	"fmt"
	"strings"
	"time"
)

// SQL shared by both dialects. Placeholders are written by a placeholder
// function: "?" for SQLite, "$n" for PostgreSQL.

const auditColumns = "node, seq, prev_hash, hash, record, time_ns, request_id, subject, decision, action, route"

const auditColumnCount = 11

// rowArgs appends the insert arguments of r in auditColumns order.
func rowArgs(args []any, r *AuditRow) []any {
	return append(args, r.Node, int64(r.Seq), r.PrevHash, r.Hash, r.Record, r.Time.UnixNano(),
		r.RequestID, r.Subject, r.Decision, r.Action, r.Route)
}

// insertSQL is a multi-row INSERT of n rows.
func insertSQL(n int, ph func(int) string) string {
	var b strings.Builder
	b.Grow(64 + n*auditColumnCount*5)
	b.WriteString("INSERT INTO audit_records (" + auditColumns + ") VALUES ")
	p := 1
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('(')
		for j := range auditColumnCount {
			if j > 0 {
				b.WriteByte(',')
			}
			b.WriteString(ph(p))
			p++
		}
		b.WriteByte(')')
	}
	return b.String()
}

// querySQL renders f as a SELECT of auditColumns.
func querySQL(f AuditFilter, ph func(int) string) (string, []any) {
	var where []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(cond, "?", ph(len(args))))
	}
	if f.Node != "" {
		add("node = ?", f.Node)
	}
	if !f.Since.IsZero() {
		add("time_ns >= ?", f.Since.UnixNano())
	}
	if !f.Until.IsZero() {
		add("time_ns < ?", f.Until.UnixNano())
	}
	if f.Subject != "" {
		add("subject = ?", f.Subject)
	}
	if f.Decision != "" {
		add("decision = ?", f.Decision)
	}
	if f.Action != "" {
		add("action = ?", f.Action)
	}
	if f.Route != "" {
		add("route = ?", f.Route)
	}
	if f.RequestID != "" {
		add("request_id = ?", f.RequestID)
	}
	if c := f.After; c != nil {
		args = append(args, c.Time.UnixNano(), c.Node, int64(c.Seq))
		n := len(args)
		where = append(where, fmt.Sprintf("(time_ns, node, seq) > (%s, %s, %s)", ph(n-2), ph(n-1), ph(n)))
	}
	q := "SELECT " + auditColumns + " FROM audit_records"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	args = append(args, f.limit())
	q += " ORDER BY time_ns, node, seq LIMIT " + ph(len(args))
	return q, args
}

// scanner is the Scan method shared by *sql.Row(s) and pgx.Row(s).
type scanner interface {
	Scan(dest ...any) error
}

// rowIter is what *sql.Rows and pgx.Rows have in common for reading.
type rowIter interface {
	scanner
	Next() bool
	Err() error
}

// eachRow scans every row of rows into fn; errors from reading are wrapped
// with what (e.g. "read audit chain"), errors from fn are returned as they are.
func eachRow(rows rowIter, what string, fn func(AuditRow) error) error {
	for rows.Next() {
		r, err := scanRow(rows)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

func scanRow(s scanner) (AuditRow, error) {
	var r AuditRow
	var seq, ns int64
	if err := s.Scan(&r.Node, &seq, &r.PrevHash, &r.Hash, &r.Record, &ns,
		&r.RequestID, &r.Subject, &r.Decision, &r.Action, &r.Route); err != nil {
		return AuditRow{}, err
	}
	r.Seq = uint64(seq)
	r.Time = time.Unix(0, ns).UTC()
	return r, nil
}

// checkRows validates what Append is given before touching the database.
func checkRows(node string, rows []AuditRow) error {
	if node == "" {
		return fmt.Errorf("store: append: empty node")
	}
	for i := range rows {
		r := &rows[i]
		switch {
		case r.Node != node:
			return fmt.Errorf("store: append: row %d is for node %q, not %q", i, r.Node, node)
		case i > 0 && r.Seq != rows[i-1].Seq+1:
			return fmt.Errorf("store: append: seq %d follows %d", r.Seq, rows[i-1].Seq)
		case r.Seq == 0 || r.Seq > 1<<62:
			return fmt.Errorf("store: append: seq %d out of range", r.Seq)
		case len(r.PrevHash) != 32 || len(r.Hash) != 32:
			return fmt.Errorf("store: append: seq %d: hashes must be 32 bytes", r.Seq)
		}
	}
	return nil
}

// maxInsertRows bounds one INSERT statement (SQLite allows 32766 parameters).
const maxInsertRows = 256
