package catalog

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver (pure Go, no cgo)
)

// SQLite is the embedded Catalog: one database file in WAL mode, written
// through a single connection and read through a pool.
//
// Why one writer: SQLite allows one write transaction at a time per database
// anyway. Funnelling Puts through one connection makes them queue in
// database/sql (honouring each caller's context) instead of spinning on
// SQLITE_BUSY, and lets the insert statements be prepared once. Readers use
// their own pool: in WAL mode they read the last committed snapshot without
// blocking the writer or each other, and query_only keeps them from writing
// by mistake.
//
// Durability: the writer runs with synchronous=FULL, so when Put returns,
// its transaction is in the WAL and the WAL is fsynced. The entries survive
// a crash of the process (which synchronous=NORMAL would already give, since
// committed WAL frames are in the OS page cache) and also a crash of the
// operating system or a power loss, which NORMAL would not: with NORMAL the
// last transactions may roll back after a power loss. That matters here
// because the indexer publishes each entry to the results stream and acks
// the verified message as soon as Put returns; a result that subscribers
// have seen and that is no longer redelivered must not vanish from the
// catalog. The cost is one fsync per Put, i.e. per batch: at the pipeline's
// target of 2,000 envelopes/s in batches of 256 that is about 8 fsyncs/s.
//
// Other processes may open the same file (the `bench results` CLI next to a
// running `bench up`); busy_timeout makes them wait for the lock rather than
// fail.
type SQLite struct {
	path string
	w    *sql.DB // the single writer connection
	r    *sql.DB // the reader pool

	insEntry    *sql.Stmt // prepared on w, used inside each Put transaction
	insEnvelope *sql.Stmt
	insMetrics  *sql.Stmt
}

var _ Catalog = (*SQLite)(nil)

// Connection settings. The modernc driver applies each _pragma on every new
// connection, busy_timeout first. The busy timeout (how long a connection
// waits for another connection's or process's lock before SQLITE_BUSY) is a
// generous 10 s, because the alternative is a failed Put that the bus
// redelivers anyway.
const (
	// _txlock=immediate makes BEGIN take the write lock at once, so a Put
	// waits for the lock up front (busy_timeout) instead of failing with
	// SQLITE_BUSY when it upgrades a read transaction half-way through.
	writerParams = "_txlock=immediate" +
		"&_pragma=busy_timeout(10000)" +
		"&_pragma=foreign_keys(1)" +
		"&_pragma=journal_mode(WAL)" +
		"&_pragma=synchronous(FULL)" + // see the durability note on SQLite
		"&_pragma=cache_size(-32768)" + // 32 MiB: keeps the indexes' upper pages hot for batched inserts
		"&_pragma=temp_store(MEMORY)"
	readerParams = "_pragma=busy_timeout(10000)" +
		"&_pragma=foreign_keys(1)" +
		"&_pragma=query_only(1)" +
		"&_pragma=cache_size(-16384)" +
		"&_pragma=temp_store(MEMORY)" // ORDER BY sorts stay in memory
)

// OpenSQLite opens (creating it if needed) the catalog database at path and
// migrates its schema to the version this binary knows. It refuses a
// database whose schema is newer, rather than misread it. The directory must
// exist.
func OpenSQLite(path string) (*SQLite, error) {
	switch {
	case path == "":
		return nil, fmt.Errorf("%w: open sqlite catalog: empty path", ErrInvalid)
	case path == ":memory:" || strings.HasPrefix(path, "file:"):
		// Each connection to :memory: is a separate database, and a URI would
		// bypass the connection settings, so the writer and readers would
		// not share what they see.
		return nil, fmt.Errorf("%w: open sqlite catalog: %q: need a file path (not a URI, not :memory:)", ErrInvalid, path)
	case strings.ContainsRune(path, '?'):
		return nil, fmt.Errorf("%w: open sqlite catalog: %q: the driver reads '?' as the start of its parameters", ErrInvalid, path)
	}
	s := &SQLite{path: path}
	var err error
	if s.w, err = sql.Open("sqlite", path+"?"+writerParams); err != nil {
		return nil, fmt.Errorf("open sqlite catalog %s: %w", path, err)
	}
	s.w.SetMaxOpenConns(1)
	s.w.SetMaxIdleConns(1)
	s.w.SetConnMaxLifetime(0)
	s.w.SetConnMaxIdleTime(0)
	if err := s.init(); err != nil {
		s.closeWriter()
		return nil, fmt.Errorf("open sqlite catalog %s: %w", path, err)
	}
	if s.r, err = sql.Open("sqlite", path+"?"+readerParams); err != nil {
		s.closeWriter()
		return nil, fmt.Errorf("open sqlite catalog %s: readers: %w", path, err)
	}
	readers := max(4, runtime.GOMAXPROCS(0))
	s.r.SetMaxOpenConns(readers)
	s.r.SetMaxIdleConns(readers)
	if err := s.Ping(context.Background()); err != nil {
		s.Close()
		return nil, fmt.Errorf("open sqlite catalog %s: %w", path, err)
	}
	return s, nil
}

// init checks the journal mode, migrates and prepares the writer's
// statements.
func (s *SQLite) init() error {
	ctx := context.Background()
	var mode string
	if err := s.w.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return fmt.Errorf("read journal mode: %w", err)
	}
	if !strings.EqualFold(mode, "wal") {
		// WAL is what lets readers run beside the writer; some file systems
		// (network mounts) cannot hold it.
		return fmt.Errorf("journal mode is %q, not wal: is the file on a file system that supports shared memory?", mode)
	}
	if err := migrate(ctx, s.w); err != nil {
		return err
	}
	// Gather planner statistics where they are missing or stale (bounded
	// work, the setting SQLite recommends at open), so that filtered and
	// metric-ordered queries pick the selective index.
	if _, err := s.w.ExecContext(ctx, "PRAGMA optimize=0x10002"); err != nil {
		return fmt.Errorf("optimize: %w", err)
	}
	var err error
	prepare := func(name, q string) *sql.Stmt {
		if err != nil {
			return nil
		}
		var st *sql.Stmt
		if st, err = s.w.PrepareContext(ctx, q); err != nil {
			err = fmt.Errorf("prepare %s: %w", name, err)
		}
		return st
	}
	s.insEntry = prepare("insert entry", sqlInsertEntry)
	s.insEnvelope = prepare("insert envelope", sqlInsertEnvelope)
	s.insMetrics = prepare("insert metrics", sqlInsertMetrics)
	return err
}

// schemaVersion is the newest schema this binary knows: len(migrations).
var schemaVersion = len(migrations)

// migrations[i] brings the schema from version i to version i+1. Append,
// never edit: a database records the versions it has applied in
// schema_migrations, and a binary refuses a database newer than it knows.
var migrations = []string{
	// Version 1.
	//
	// entries holds one row per envelope with the fields people filter and
	// sort on. It has an integer key (id) besides the content hash so that
	// the side tables and the secondary indexes refer to a row with 8 bytes
	// instead of a 64-character hash; id never leaves the package.
	//
	// The envelope bytes live in their own table: they are most of the
	// bytes stored (~5 KB each) and would otherwise spill every entries row
	// onto overflow pages, making every scan, count and sort read them.
	//
	// metrics repeats metrics_json as rows so that SQL can order by one
	// metric; metrics_json is what List returns (one column, no join).
	//
	// Times are INTEGER microseconds since the Unix epoch, UTC: the
	// envelope's precision, compact, and compared as integers by the
	// indexes. STRICT makes SQLite enforce the declared types.
	`
CREATE TABLE entries (
	id                   INTEGER PRIMARY KEY,
	content_hash         TEXT    NOT NULL UNIQUE,
	run_id               TEXT    NOT NULL,
	suite_id             TEXT    NOT NULL,
	suite_version        TEXT    NOT NULL,
	model_id             TEXT    NOT NULL,
	model_revision       TEXT    NOT NULL,
	provider             TEXT    NOT NULL,
	engine_name          TEXT    NOT NULL,
	engine_version       TEXT    NOT NULL,
	dataset_id           TEXT    NOT NULL,
	hardware_fingerprint TEXT    NOT NULL,
	gpu_model            TEXT    NOT NULL,
	gpu_count            INTEGER NOT NULL,
	timestamp_us         INTEGER NOT NULL,
	signature_method     TEXT    NOT NULL,
	signer_key_id        TEXT    NOT NULL,
	signer_identity      TEXT    NOT NULL,
	signer_issuer        TEXT    NOT NULL,
	verified_at_us       INTEGER NOT NULL,
	envelope_uri         TEXT    NOT NULL,
	traces_uri           TEXT    NOT NULL,
	job_id               TEXT    NOT NULL,
	batch_id             TEXT    NOT NULL,
	metrics_json         TEXT    NOT NULL
) STRICT;

-- Default order, and the Since/Until range.
CREATE INDEX entries_by_timestamp   ON entries (timestamp_us);
-- verified_at order and VerifiedAfter polling.
CREATE INDEX entries_by_verified_at ON entries (verified_at_us);
-- One per exact-match filter, with the default order behind it so that a
-- filtered, newest-first page is read from the index without sorting.
CREATE INDEX entries_by_model       ON entries (model_id, timestamp_us);
CREATE INDEX entries_by_engine      ON entries (engine_name, timestamp_us);
CREATE INDEX entries_by_suite       ON entries (suite_id, timestamp_us);
CREATE INDEX entries_by_gpu         ON entries (gpu_model, timestamp_us);
CREATE INDEX entries_by_hardware    ON entries (hardware_fingerprint, timestamp_us);
CREATE INDEX entries_by_dataset     ON entries (dataset_id, timestamp_us);
CREATE INDEX entries_by_job         ON entries (job_id, timestamp_us);
CREATE INDEX entries_by_batch       ON entries (batch_id, timestamp_us);

CREATE TABLE envelopes (
	entry_id INTEGER PRIMARY KEY REFERENCES entries (id) ON DELETE CASCADE,
	body     BLOB    NOT NULL
) STRICT;

CREATE TABLE metrics (
	entry_id INTEGER NOT NULL REFERENCES entries (id) ON DELETE CASCADE,
	name     TEXT    NOT NULL,
	value    REAL    NOT NULL,
	PRIMARY KEY (entry_id, name)
) STRICT, WITHOUT ROWID;

-- "metric:NAME" ordering and leaderboards across entries.
CREATE INDEX metrics_by_name_value ON metrics (name, value);

-- The metrics side table keyed by content hash, for ad-hoc SQL.
CREATE VIEW entry_metrics (content_hash, name, value) AS
	SELECT e.content_hash, m.name, m.value FROM metrics m JOIN entries e ON e.id = m.entry_id;
`,
}

// migrate applies the migrations the database lacks, all in one write
// transaction, so that concurrent openers (two processes starting at once)
// serialise on the lock and each migration runs exactly once.
func migrate(ctx context.Context, db *sql.DB) (err error) {
	tx, err := db.BeginTx(ctx, nil) // BEGIN IMMEDIATE (_txlock)
	if err != nil {
		return fmt.Errorf("migrate: begin: %w", err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	if _, err = tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
	version       INTEGER PRIMARY KEY,
	applied_at_us INTEGER NOT NULL
) STRICT`); err != nil {
		return fmt.Errorf("migrate: create schema_migrations: %w", err)
	}
	var have int
	if err = tx.QueryRowContext(ctx, "SELECT coalesce(max(version), 0) FROM schema_migrations").Scan(&have); err != nil {
		return fmt.Errorf("migrate: read schema version: %w", err)
	}
	if have > schemaVersion {
		return fmt.Errorf("migrate: database schema version %d is newer than this binary's %d: upgrade bench", have, schemaVersion)
	}
	for v := have; v < schemaVersion; v++ {
		if _, err = tx.ExecContext(ctx, migrations[v]); err != nil {
			return fmt.Errorf("migrate: to version %d: %w", v+1, err)
		}
		if _, err = tx.ExecContext(ctx, "INSERT INTO schema_migrations (version, applied_at_us) VALUES (?, ?)",
			v+1, time.Now().UnixMicro()); err != nil {
			return fmt.Errorf("migrate: record version %d: %w", v+1, err)
		}
	}
	if err = tx.Commit(); err != nil {
		return fmt.Errorf("migrate: commit: %w", err)
	}
	return nil
}

const (
	// ON CONFLICT DO NOTHING makes the insert idempotent: a row already
	// present (from an earlier Put or earlier in the same batch) reports
	// zero rows affected and is left untouched.
	sqlInsertEntry = `INSERT INTO entries (
	content_hash, run_id, suite_id, suite_version, model_id, model_revision, provider,
	engine_name, engine_version, dataset_id, hardware_fingerprint, gpu_model, gpu_count,
	timestamp_us, signature_method, signer_key_id, signer_identity, signer_issuer,
	verified_at_us, envelope_uri, traces_uri, job_id, batch_id, metrics_json
) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (content_hash) DO NOTHING`
	sqlInsertEnvelope = `INSERT INTO envelopes (entry_id, body) VALUES (?, ?)`
	// One statement per entry fills the side table from the JSON column
	// already bound for the entry, instead of one statement per metric.
	sqlInsertMetrics = `INSERT INTO metrics (entry_id, name, value) SELECT ?1, key, value FROM json_each(?2)`
)

// Put implements Catalog. All entries are validated before the transaction
// starts, so a malformed entry (ErrInvalid) fails the call without touching
// the database.
func (s *SQLite) Put(ctx context.Context, entries ...Entry) (inserted []bool, err error) {
	if len(entries) == 0 {
		return []bool{}, nil
	}
	// Validate and encode outside the transaction: the write lock is held
	// only for the inserts themselves.
	metricsJSON := make([]string, len(entries)) // TEXT: a []byte would bind as a BLOB
	for i := range entries {
		if err := validateEntry(&entries[i]); err != nil {
			return nil, fmt.Errorf("catalog put: entry %d: %w", i, err)
		}
		if metricsJSON[i], err = encodeMetrics(entries[i].Metrics); err != nil {
			return nil, fmt.Errorf("catalog put: entry %s: encode metrics: %w", entries[i].ContentHash, err)
		}
	}

	tx, err := s.w.BeginTx(ctx, nil) // BEGIN IMMEDIATE (_txlock)
	if err != nil {
		return nil, fmt.Errorf("catalog put: begin: %w", err)
	}
	defer func() {
		if err != nil {
			tx.Rollback() // the error that matters is already in err
			inserted = nil
		}
	}()
	// Tx.StmtContext reuses the statements prepared on the one writer
	// connection; nothing is re-parsed per entry.
	insEntry := tx.StmtContext(ctx, s.insEntry)
	insEnvelope := tx.StmtContext(ctx, s.insEnvelope)
	insMetrics := tx.StmtContext(ctx, s.insMetrics)

	inserted = make([]bool, len(entries))
	for i := range entries {
		e := &entries[i]
		res, err := insEntry.ExecContext(ctx,
			e.ContentHash, e.RunID, e.SuiteID, e.SuiteVersion, e.ModelID, e.ModelRevision, e.Provider,
			e.EngineName, e.EngineVersion, e.DatasetID, e.HardwareFingerprint, e.GPUModel, e.GPUCount,
			micros(e.Timestamp), e.SignatureMethod, e.SignerKeyID, e.SignerIdentity, e.SignerIssuer,
			micros(e.VerifiedAt), e.EnvelopeURI, e.TracesURI, e.JobID, e.BatchID, metricsJSON[i])
		if err != nil {
			return nil, fmt.Errorf("catalog put: insert entry %s: %w", e.ContentHash, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return nil, fmt.Errorf("catalog put: insert entry %s: rows affected: %w", e.ContentHash, err)
		}
		if n == 0 {
			continue // already stored: idempotent
		}
		id, err := res.LastInsertId()
		if err != nil {
			return nil, fmt.Errorf("catalog put: insert entry %s: row id: %w", e.ContentHash, err)
		}
		if _, err := insEnvelope.ExecContext(ctx, id, e.Envelope); err != nil {
			return nil, fmt.Errorf("catalog put: insert envelope %s: %w", e.ContentHash, err)
		}
		if len(e.Metrics) > 0 {
			if _, err := insMetrics.ExecContext(ctx, id, metricsJSON[i]); err != nil {
				return nil, fmt.Errorf("catalog put: insert metrics %s: %w", e.ContentHash, err)
			}
		}
		inserted[i] = true
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("catalog put: commit %d entries: %w", len(entries), err)
	}
	return inserted, nil
}

// encodeMetrics renders the metrics JSON column. Go's encoder prints each
// float64 with the shortest digits that read back as the same value, so the
// column round-trips exactly.
func encodeMetrics(m map[string]float64) (string, error) {
	if len(m) == 0 {
		return "{}", nil
	}
	b, err := json.Marshal(m)
	return string(b), err
}

// entryColumns are selected, in this order, by every read; scanEntry reads
// them back.
const entryColumns = `e.content_hash, e.run_id, e.suite_id, e.suite_version, e.model_id, e.model_revision,
	e.provider, e.engine_name, e.engine_version, e.dataset_id, e.hardware_fingerprint, e.gpu_model,
	e.gpu_count, e.timestamp_us, e.signature_method, e.signer_key_id, e.signer_identity,
	e.signer_issuer, e.verified_at_us, e.envelope_uri, e.traces_uri, e.job_id, e.batch_id,
	e.metrics_json`

// scanEntry reads one row of entryColumns, plus the envelope body when
// withEnvelope.
func scanEntry(rows *sql.Rows, withEnvelope bool) (Entry, error) {
	var (
		e           Entry
		ts, va      int64
		metricsJSON []byte
	)
	dest := []any{&e.ContentHash, &e.RunID, &e.SuiteID, &e.SuiteVersion, &e.ModelID, &e.ModelRevision,
		&e.Provider, &e.EngineName, &e.EngineVersion, &e.DatasetID, &e.HardwareFingerprint, &e.GPUModel,
		&e.GPUCount, &ts, &e.SignatureMethod, &e.SignerKeyID, &e.SignerIdentity,
		&e.SignerIssuer, &va, &e.EnvelopeURI, &e.TracesURI, &e.JobID, &e.BatchID,
		&metricsJSON}
	if withEnvelope {
		dest = append(dest, &e.Envelope)
	}
	if err := rows.Scan(dest...); err != nil {
		return Entry{}, err
	}
	e.Timestamp, e.VerifiedAt = fromMicros(ts), fromMicros(va)
	e.Metrics = make(map[string]float64)
	if err := json.Unmarshal(metricsJSON, &e.Metrics); err != nil {
		return Entry{}, fmt.Errorf("entry %s: decode metrics_json: %w", e.ContentHash, err)
	}
	return e, nil
}

// Get implements Catalog.
func (s *SQLite) Get(ctx context.Context, contentHash string) (Entry, error) {
	p, err := normalizeHashPrefix(contentHash)
	if err != nil {
		return Entry{}, fmt.Errorf("catalog get: %w", err)
	}
	if len(p) < MinPrefixLen {
		return Entry{}, fmt.Errorf("catalog get: %w: content hash prefix %q is shorter than %d hex digits", ErrInvalid, contentHash, MinPrefixLen)
	}
	q := "SELECT " + entryColumns + ", v.body FROM entries e JOIN envelopes v ON v.entry_id = e.id WHERE "
	var args []any
	if len(p) == 64 {
		q += "e.content_hash = ?"
		args = []any{p}
	} else {
		// LIMIT 2: enough to tell a unique prefix from an ambiguous one.
		q += "e.content_hash >= ? AND e.content_hash < ? ORDER BY e.content_hash LIMIT 2"
		args = []any{p, prefixUpperBound(p)}
	}
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return Entry{}, fmt.Errorf("catalog get %s: %w", p, err)
	}
	defer rows.Close()
	var found []Entry
	for rows.Next() {
		e, err := scanEntry(rows, true)
		if err != nil {
			return Entry{}, fmt.Errorf("catalog get %s: %w", p, err)
		}
		found = append(found, e)
	}
	if err := rows.Err(); err != nil {
		return Entry{}, fmt.Errorf("catalog get %s: %w", p, err)
	}
	switch len(found) {
	case 0:
		return Entry{}, fmt.Errorf("catalog get %s: %w", p, ErrNotFound)
	case 1:
		return found[0], nil
	default:
		return Entry{}, fmt.Errorf("catalog get %s: %w: matches %s and %s at least", p, ErrAmbiguous, found[0].ContentHash, found[1].ContentHash)
	}
}

// where renders the filtering part of q as SQL conditions on entries e,
// joined with AND; "1" when nothing filters.
func (q *query) where() (string, []any) {
	var (
		conds []string
		args  []any
	)
	add := func(cond string, a ...any) {
		conds = append(conds, cond)
		args = append(args, a...)
	}
	for _, f := range []struct{ col, val string }{
		{"e.model_id", q.ModelID},
		{"e.engine_name", q.EngineName},
		{"e.suite_id", q.SuiteID},
		{"e.gpu_model", q.GPUModel},
		{"e.hardware_fingerprint", q.HardwareFingerprint},
		{"e.dataset_id", q.DatasetID},
		{"e.job_id", q.JobID},
		{"e.batch_id", q.BatchID},
	} {
		if f.val != "" {
			add(f.col+" = ?", f.val)
		}
	}
	switch {
	case len(q.hashPrefix) == 64:
		add("e.content_hash = ?", q.hashPrefix)
	case q.hashPrefix != "":
		add("e.content_hash >= ? AND e.content_hash < ?", q.hashPrefix, prefixUpperBound(q.hashPrefix))
	}
	if !q.Since.IsZero() {
		add("e.timestamp_us >= ?", q.since)
	}
	if !q.Until.IsZero() {
		add("e.timestamp_us < ?", q.until)
	}
	if !q.VerifiedAfter.IsZero() {
		add("e.verified_at_us > ?", q.verifiedAfterUS)
	}
	if len(conds) == 0 {
		return "1", nil
	}
	return strings.Join(conds, " AND "), args
}

// direction is the SQL keyword for q's sort direction.
func (q *query) direction() string {
	if q.ascending {
		return " ASC"
	}
	return " DESC"
}

// selectSQL renders "SELECT <entry columns> FROM <from> WHERE <cond> AND
// <q's filters> ORDER BY <order> LIMIT ? OFFSET ?". from must name the
// entries table e; the envelope join is added when q asks for envelopes.
// condArgs bind the placeholders of cond, which precede the filters'.
func (q *query) selectSQL(from, cond string, condArgs []any, order string, limit, offset int) (string, []any) {
	var b strings.Builder
	b.WriteString("SELECT " + entryColumns)
	if q.WithEnvelope {
		b.WriteString(", v.body")
	}
	b.WriteString(" FROM " + from)
	if q.WithEnvelope {
		b.WriteString(" JOIN envelopes v ON v.entry_id = e.id")
	}
	w, wargs := q.where()
	b.WriteString(" WHERE " + cond + " AND " + w)
	b.WriteString(" ORDER BY " + order + " LIMIT ? OFFSET ?")
	args := append(append(append([]any{}, condArgs...), wargs...), limit, offset)
	return b.String(), args
}

// List implements Catalog.
func (s *SQLite) List(ctx context.Context, f Filter) ([]Entry, error) {
	q, err := parseFilter(f, true)
	if err != nil {
		return nil, fmt.Errorf("catalog list: %w", err)
	}
	var out []Entry
	if q.order == orderMetric {
		out, err = s.listByMetric(ctx, &q)
	} else {
		col := "e.timestamp_us"
		if q.order == orderVerifiedAt {
			col = "e.verified_at_us"
		}
		dir := q.direction()
		stmt, args := q.selectSQL("entries e", "1", nil, col+dir+", e.content_hash"+dir, q.limit, q.Offset)
		out, err = queryEntries(ctx, s.r, &q, stmt, args, nil)
	}
	if err != nil {
		return nil, fmt.Errorf("catalog list: %w", err)
	}
	return out, nil
}

// listByMetric lists in the order of one metric: first the entries that
// report it, by value, then those that do not. The two parts are two
// queries so that the first walks the metrics (name, value) index in order
// and stops at the page's end, as a leaderboard over a large catalog needs;
// a single LEFT JOIN would read and sort every matching entry instead. Both
// run in one read transaction, so they see the same snapshot.
func (s *SQLite) listByMetric(ctx context.Context, q *query) ([]Entry, error) {
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback() // read-only: nothing to commit
	dir := q.direction()
	stmt, args := q.selectSQL("metrics m JOIN entries e ON e.id = m.entry_id", "m.name = ?", []any{q.metric},
		"m.value"+dir+", e.content_hash"+dir, q.limit, q.Offset)
	out, err := queryEntries(ctx, tx, q, stmt, args, nil)
	if err != nil || len(out) == q.limit {
		return out, err
	}
	// The page reaches past the entries that report the metric: continue
	// with the others. How many reported it decides where in the second
	// part the page starts; only an empty first part needs counting.
	have := q.Offset + len(out)
	if len(out) == 0 && q.Offset > 0 {
		w, wargs := q.where()
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM metrics m JOIN entries e ON e.id = m.entry_id WHERE m.name = ? AND "+w,
			append([]any{q.metric}, wargs...)...).Scan(&have); err != nil {
			return nil, err
		}
	}
	stmt, args = q.selectSQL("entries e", "NOT EXISTS (SELECT 1 FROM metrics m WHERE m.entry_id = e.id AND m.name = ?)", []any{q.metric},
		"e.content_hash"+dir, q.limit-len(out), q.Offset+len(out)-have)
	return queryEntries(ctx, tx, q, stmt, args, out)
}

// queryer is what queryEntries needs of a *sql.DB or *sql.Tx.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// queryEntries runs a statement built by selectSQL and appends its entries
// to out.
func queryEntries(ctx context.Context, db queryer, q *query, stmt string, args []any, out []Entry) ([]Entry, error) {
	rows, err := db.QueryContext(ctx, stmt, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	if out == nil {
		out = make([]Entry, 0, min(q.limit, 256))
	}
	for rows.Next() {
		e, err := scanEntry(rows, q.WithEnvelope)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// Count implements Catalog.
func (s *SQLite) Count(ctx context.Context, f Filter) (int, error) {
	q, err := parseFilter(f, false)
	if err != nil {
		return 0, fmt.Errorf("catalog count: %w", err)
	}
	w, args := q.where()
	var n int
	if err := s.r.QueryRowContext(ctx, "SELECT count(*) FROM entries e WHERE "+w, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("catalog count: %w", err)
	}
	return n, nil
}

// Ping implements Catalog: it reads the schema version through the reader
// pool, which proves the file is open, readable and migrated.
func (s *SQLite) Ping(ctx context.Context) error {
	var v int
	if err := s.r.QueryRowContext(ctx, "SELECT coalesce(max(version), 0) FROM schema_migrations").Scan(&v); err != nil {
		return fmt.Errorf("catalog ping %s: %w", s.path, err)
	}
	if v != schemaVersion {
		return fmt.Errorf("catalog ping %s: schema version %d, want %d", s.path, v, schemaVersion)
	}
	return nil
}

// Close implements Catalog. It waits for running queries and Puts to
// finish; a Put that has not begun its transaction fails. Before closing it
// lets SQLite refresh the query planner's statistics (PRAGMA optimize, as
// SQLite recommends for every connection that writes), best effort: a
// failure there loses nothing.
func (s *SQLite) Close() error {
	s.w.ExecContext(context.Background(), "PRAGMA optimize")
	var errs []error
	if s.r != nil {
		errs = append(errs, s.r.Close())
	}
	errs = append(errs, s.closeWriter())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close sqlite catalog %s: %w", s.path, err)
	}
	return nil
}

// closeWriter closes the prepared statements and the writer connection.
// Closing the last connection of a WAL database checkpoints it and removes
// the -wal and -shm files.
func (s *SQLite) closeWriter() error {
	var errs []error
	for _, st := range []*sql.Stmt{s.insEntry, s.insEnvelope, s.insMetrics} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	errs = append(errs, s.w.Close())
	return errors.Join(errs...)
}
