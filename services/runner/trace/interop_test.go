package trace

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"
)

// duckScript has DuckDB read the trace with its own Parquet reader and
// export every row as JSON, plus the key-value metadata.
const duckScript = `
const { DuckDBInstance } = require('@duckdb/node-api');
(async () => {
  const db = await DuckDBInstance.create(':memory:');
  const c = await db.connect();
  await c.run("COPY (SELECT * FROM 't.parquet') TO 'rows.jsonl' (FORMAT JSON)");
  await c.run("COPY (SELECT key::VARCHAR AS key, value::VARCHAR AS value FROM parquet_kv_metadata('t.parquet')) TO 'kv.jsonl' (FORMAT JSON)");
})().catch((e) => { console.error(e); process.exit(1); });
`

// duckRow is a row as DuckDB exports it: NULL is a JSON null.
type duckRow struct {
	Index              int64   `json:"index"`
	Phase              *string `json:"phase"`
	ScheduledNS        *int64  `json:"scheduled_ns"`
	SentNS             *int64  `json:"sent_ns"`
	FirstChunkNS       *int64  `json:"first_chunk_ns"`
	FirstTokenNS       *int64  `json:"first_token_ns"`
	LastTokenNS        *int64  `json:"last_token_ns"`
	EndNS              *int64  `json:"end_ns"`
	PromptTokens       int64   `json:"prompt_tokens"`
	CompletionTokens   int64   `json:"completion_tokens"`
	TokenSource        *string `json:"token_source"`
	UsageSource        *string `json:"usage_source"`
	ContentChunks      int64   `json:"content_chunks"`
	ITLNS              []int64 `json:"itl_ns"`
	Status             *string `json:"status"`
	ErrorClass         *string `json:"error_class"`
	Error              *string `json:"error"`
	HTTPStatus         *int32  `json:"http_status"`
	ServerReceivedNS   *int64  `json:"server_received_ns"`
	ServerFirstTokenNS *int64  `json:"server_first_token_ns"`
}

// TestDuckDBReadsTraces checks, with DuckDB's own Parquet reader, that
// every value of a trace reads back as written and that absent values are
// NULL. It is opt-in because it needs Node.js and the @duckdb/node-api npm
// package (which ships DuckDB's binary):
//
//	cd /tmp/duck && npm install @duckdb/node-api
//	TRACE_DUCKDB_NODE_MODULES=/tmp/duck/node_modules go test -run DuckDB ./services/runner/trace/
func TestDuckDBReadsTraces(t *testing.T) {
	mods := os.Getenv("TRACE_DUCKDB_NODE_MODULES")
	if mods == "" {
		t.Skip("set TRACE_DUCKDB_NODE_MODULES to a node_modules holding @duckdb/node-api")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not found")
	}
	dir := t.TempDir()
	recs := randomRecords(99, 2*RowGroupRows+77)
	if _, err := WriteFile(filepath.Join(dir, "t.parquet"), Metadata{RunID: "run-duck"}, recs); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "read.js"), []byte(duckScript), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, "read.js")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "NODE_PATH="+mods)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("duckdb: %v\n%s", err, out)
	}

	kv := map[string]string{}
	readJSONLines(t, filepath.Join(dir, "kv.jsonl"), func(line []byte) {
		var e struct{ Key, Value string }
		if err := json.Unmarshal(line, &e); err != nil {
			t.Fatal(err)
		}
		kv[e.Key] = e.Value
	})
	if kv[MetaKeyVersion] != FormatVersion || kv[MetaKeyRunID] != "run-duck" {
		t.Fatalf("key-value metadata seen by DuckDB: %v", kv)
	}

	want := normalized(recs)
	i := 0
	readJSONLines(t, filepath.Join(dir, "rows.jsonl"), func(line []byte) {
		var d duckRow
		if err := json.Unmarshal(line, &d); err != nil {
			t.Fatal(err)
		}
		if i >= len(want) {
			t.Fatalf("DuckDB returned more than %d rows", len(want))
		}
		if got := d.record(t, i); !reflect.DeepEqual(got, want[i]) {
			t.Fatalf("row %d as DuckDB reads it:\n got %#v\nwant %#v", i, got, want[i])
		}
		i++
	})
	if i != len(want) {
		t.Fatalf("DuckDB returned %d rows, want %d", i, len(want))
	}
}

// record converts a DuckDB row back to a Record, failing if a value that
// should be NULL came back as 0.
func (d *duckRow) record(t *testing.T, row int) Record {
	ns := func(p *int64) int64 {
		if p == nil {
			return 0
		}
		if *p == 0 {
			t.Fatalf("row %d: a 0 timestamp came back as 0, not NULL", row)
		}
		return *p
	}
	str := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	r := Record{
		Index: d.Index, Phase: Phase(str(d.Phase)),
		ScheduledNS: ns(d.ScheduledNS), SentNS: ns(d.SentNS), FirstChunkNS: ns(d.FirstChunkNS),
		FirstTokenNS: ns(d.FirstTokenNS), LastTokenNS: ns(d.LastTokenNS), EndNS: ns(d.EndNS),
		PromptTokens: d.PromptTokens, CompletionTokens: d.CompletionTokens,
		TokenSource: TokenSource(str(d.TokenSource)), UsageSource: UsageSource(str(d.UsageSource)),
		ContentChunks: d.ContentChunks, ITLNS: d.ITLNS,
		Status: Status(str(d.Status)), ErrorClass: ErrorClass(str(d.ErrorClass)), Error: str(d.Error),
		ServerReceivedNS: ns(d.ServerReceivedNS), ServerFirstTokenNS: ns(d.ServerFirstTokenNS),
	}
	if d.HTTPStatus != nil {
		r.HTTPStatus = *d.HTTPStatus
	}
	if r.ITLNS == nil {
		r.ITLNS = []int64{}
	}
	return r
}

func readJSONLines(t *testing.T, path string, fn func([]byte)) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		fn(sc.Bytes())
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
}
