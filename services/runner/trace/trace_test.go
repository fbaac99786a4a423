package trace

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/metadata"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

var (
	allPhases       = []Phase{PhaseWarmup, PhaseMeasure, PhaseCooldown}
	allStatuses     = []Status{StatusOK, StatusError}
	allErrorClasses = []ErrorClass{ErrNone, ErrConnect, ErrHTTPStatus, ErrErrorPayload, ErrTruncated, ErrTimeout, ErrMalformed, ErrNoTokens, ErrCanceled}
	allTokenSources = []TokenSource{TokensUsage, TokensChunks, TokensNone}
	allUsageSources = []UsageSource{UsageNone, UsageChunk, UsageFinalChunk, UsageBody}
	errorTexts      = []string{
		"",
		"dial tcp 10.0.0.7:8000: connect: connection refused",
		"délai dépassé après 30 s ⏱",
		"模型过载，请稍后再试",
		"stream ended without [DONE] 🙃",
		"with\nnewline\tand \x00 NUL",
		strings.Repeat("long error ", 500),
	}
)

func pick[T any](rng *rand.Rand, xs []T) T { return xs[rng.IntN(len(xs))] }

// ts returns a plausible timestamp, or one of the edge values (0 = absent,
// negative, extremes) a fifth of the time.
func ts(rng *rand.Rand) int64 {
	switch rng.IntN(10) {
	case 0:
		return 0
	case 1:
		return pick(rng, []int64{-1, 1, math.MinInt64, math.MaxInt64})
	}
	return 1_760_000_000_000_000_000 + rng.Int64N(1e12)
}

// randomRecord makes a record that exercises every field; enum fields
// cycle with i so that every value appears in any run of 36+ records.
func randomRecord(rng *rand.Rand, i int) Record {
	r := Record{
		Index:              int64(i),
		Phase:              allPhases[i%len(allPhases)],
		ScheduledNS:        ts(rng),
		SentNS:             ts(rng),
		FirstChunkNS:       ts(rng),
		FirstTokenNS:       ts(rng),
		LastTokenNS:        ts(rng),
		EndNS:              ts(rng),
		PromptTokens:       rng.Int64N(4096),
		CompletionTokens:   rng.Int64N(1024),
		TokenSource:        allTokenSources[i%len(allTokenSources)],
		UsageSource:        allUsageSources[i%len(allUsageSources)],
		ContentChunks:      rng.Int64N(1024),
		Status:             allStatuses[i%len(allStatuses)],
		ErrorClass:         allErrorClasses[i%len(allErrorClasses)],
		Error:              pick(rng, errorTexts),
		HTTPStatus:         pick(rng, []int32{0, 200, 429, 500, 503, -1, math.MaxInt32}),
		ServerReceivedNS:   ts(rng),
		ServerFirstTokenNS: ts(rng),
	}
	switch rng.IntN(4) {
	case 0: // nil ITL
	case 1:
		r.ITLNS = []int64{}
	default:
		r.ITLNS = make([]int64, 1+rng.IntN(40))
		for j := range r.ITLNS {
			r.ITLNS[j] = rng.Int64N(1e8)
		}
		if rng.IntN(5) == 0 {
			r.ITLNS[0] = pick(rng, []int64{0, -5, math.MaxInt64})
		}
	}
	if rng.IntN(50) == 0 {
		r.Index = pick(rng, []int64{0, -1, math.MaxInt64})
		r.PromptTokens = 0
	}
	return r
}

func randomRecords(seed uint64, n int) []Record {
	rng := rand.New(rand.NewPCG(seed, 42))
	recs := make([]Record, n)
	for i := range recs {
		recs[i] = randomRecord(rng, i)
	}
	return recs
}

// normalized is what Read promises to return for r: ITLNS is never nil.
func normalized(recs []Record) []Record {
	out := slices.Clone(recs)
	for i := range out {
		if out[i].ITLNS == nil {
			out[i].ITLNS = []int64{}
		}
	}
	return out
}

func requireEqualRecords(t *testing.T, got, want []Record) {
	t.Helper()
	want = normalized(want)
	if len(got) != len(want) {
		t.Fatalf("got %d records, want %d", len(got), len(want))
	}
	for i := range want {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Fatalf("record %d differs:\n got %#v\nwant %#v", i, got[i], want[i])
		}
		if got[i].ITLNS == nil {
			t.Fatalf("record %d: ITLNS is nil, want non-nil", i)
		}
	}
}

func writeToBuffer(t testing.TB, meta Metadata, recs []Record) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, meta)
	if err != nil {
		t.Fatal(err)
	}
	for i := range recs {
		if err := w.Write(&recs[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestRoundTrip(t *testing.T) {
	for _, n := range []int{0, 1, 37, RowGroupRows, 2*RowGroupRows + 123} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			recs := randomRecords(uint64(n), n)
			orig := normalized(recs) // the writer must not modify its input
			meta := Metadata{RunID: "run-ü-" + fmt.Sprint(n)}
			data := writeToBuffer(t, meta, recs)

			gotMeta, got, err := Read(bytes.NewReader(data), int64(len(data)))
			if err != nil {
				t.Fatal(err)
			}
			if want := (Metadata{Version: FormatVersion, RunID: meta.RunID}); gotMeta != want {
				t.Fatalf("metadata = %+v, want %+v", gotMeta, want)
			}
			requireEqualRecords(t, got, recs)
			requireEqualRecords(t, normalized(recs), orig)
		})
	}
}

func TestRoundTripEveryEnumValue(t *testing.T) {
	var recs []Record
	for _, p := range allPhases {
		for _, s := range allStatuses {
			for _, ec := range allErrorClasses {
				for _, tsrc := range allTokenSources {
					for _, us := range allUsageSources {
						recs = append(recs, Record{Index: int64(len(recs)), Phase: p, Status: s, ErrorClass: ec, TokenSource: tsrc, UsageSource: us})
					}
				}
			}
		}
	}
	// Values outside the known sets (a future error class, an empty
	// phase) must survive too: the writer does not police enums.
	recs = append(recs, Record{Phase: "", Status: "", TokenSource: "", ErrorClass: "future_class", UsageSource: "elsewhere"})
	data := writeToBuffer(t, Metadata{}, recs)
	_, got, err := Read(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	requireEqualRecords(t, got, recs)
}

func TestReadReturnsIndependentITLSlices(t *testing.T) {
	recs := []Record{{ITLNS: []int64{1, 2}}, {ITLNS: []int64{3, 4}}, {}}
	data := writeToBuffer(t, Metadata{}, recs)
	_, got, err := Read(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	got[0].ITLNS = append(got[0].ITLNS, 99)
	got[2].ITLNS = append(got[2].ITLNS, 98)
	if !slices.Equal(got[1].ITLNS, []int64{3, 4}) {
		t.Fatalf("appending to one ITL slice changed another: %v", got[1].ITLNS)
	}
}

// TestManyDistinctErrors makes the error column's dictionary outgrow the
// Parquet writer's 1 MiB limit, so that it falls back to plain encoding
// part way through a row group.
func TestManyDistinctErrors(t *testing.T) {
	recs := make([]Record, RowGroupRows+500)
	for i := range recs {
		recs[i] = Record{Index: int64(i), Status: StatusError, ErrorClass: ErrTimeout,
			Error: fmt.Sprintf("request %d: %s", i, strings.Repeat("é", i%200))}
		if i%3 == 0 {
			recs[i].Error = ""
		}
	}
	data := writeToBuffer(t, Metadata{}, recs)
	got, st := requireSameReads(t, data)
	requireEqualRecords(t, got, recs)
	if st.fallbacks != 0 {
		t.Fatalf("%d column chunks read with arrow-go", st.fallbacks)
	}

	pf, err := file.NewParquetReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	cc, err := pf.MetaData().RowGroup(0).ColumnChunk(iError)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(cc.EncodingStats(), func(s metadata.PageEncodingStats) bool {
		return s.Encoding == parquet.Encodings.Plain && s.PageType.String() == "DATA_PAGE"
	}) {
		t.Fatalf("error column did not fall back to plain data pages: %v", cc.EncodingStats())
	}
}

// TestHugeITLListsCutRowGroups checks that a few enormous ITL lists end a
// row group early (the memory bound) and still round-trip.
func TestHugeITLListsCutRowGroups(t *testing.T) {
	if testing.Short() {
		t.Skip("writes ~100 MB")
	}
	recs := make([]Record, 3)
	for i := range recs {
		recs[i] = Record{Index: int64(i), ITLNS: make([]int64, maxBufferedITL/2+1000)}
		for j := range recs[i].ITLNS {
			recs[i].ITLNS[j] = int64(i*7 + j)
		}
	}
	data := writeToBuffer(t, Metadata{}, recs)
	pf, err := file.NewParquetReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if n := pf.NumRowGroups(); n != 2 {
		t.Fatalf("%d row groups, want 2 (the first cut short by the ITL cap)", n)
	}
	_, got, err := Read(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	requireEqualRecords(t, got, recs)
}

func TestInvalidUTF8IsReplaced(t *testing.T) {
	recs := []Record{{Error: "bad \xff\xfe bytes", ErrorClass: "x\xc3"}}
	data := writeToBuffer(t, Metadata{}, recs)
	_, got, err := Read(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Error != "bad \uFFFD bytes" || got[0].ErrorClass != "x\uFFFD" {
		t.Fatalf("got %q, %q", got[0].Error, got[0].ErrorClass)
	}
	if _, err := NewWriter(&bytes.Buffer{}, Metadata{RunID: "\xff"}); err == nil {
		t.Fatal("NewWriter accepted a run id that is not UTF-8")
	}
}

// closeRecorder is an io.WriteCloser that notes whether it was closed.
type closeRecorder struct {
	bytes.Buffer
	closed bool
}

func (c *closeRecorder) Close() error { c.closed = true; return nil }

func TestWriterLifecycle(t *testing.T) {
	var out closeRecorder
	w, err := NewWriter(&out, Metadata{RunID: "r"})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(nil); err == nil {
		t.Fatal("Write(nil) succeeded")
	}
	if err := w.Write(&Record{Index: 7}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if out.closed {
		t.Fatal("Close closed the caller's io.Writer")
	}
	if err := w.Write(&Record{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Write after Close: %v, want ErrClosed", err)
	}
	if err := w.Close(); !errors.Is(err, ErrClosed) {
		t.Fatalf("second Close: %v, want ErrClosed", err)
	}
	_, got, err := Read(bytes.NewReader(out.Bytes()), int64(out.Len()))
	if err != nil {
		t.Fatal(err)
	}
	requireEqualRecords(t, got, []Record{{Index: 7}})

	if _, err := NewWriter(nil, Metadata{}); err == nil {
		t.Fatal("NewWriter(nil) succeeded")
	}
}

// failingWriter fails after limit bytes, like a full disk.
type failingWriter struct{ n, limit int }

func (f *failingWriter) Write(p []byte) (int, error) {
	if f.n+len(p) > f.limit {
		return 0, errors.New("disk full")
	}
	f.n += len(p)
	return len(p), nil
}

func TestWriterReportsSinkErrors(t *testing.T) {
	recs := randomRecords(3, RowGroupRows+10)
	w, err := NewWriter(&failingWriter{limit: 1000}, Metadata{})
	if err != nil {
		t.Fatal(err)
	}
	var werr error
	for i := range recs {
		if werr = w.Write(&recs[i]); werr != nil {
			break
		}
	}
	cerr := w.Close()
	if werr == nil && cerr == nil {
		t.Fatal("no error from a sink that fails")
	}
}

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "trace.parquet")
	recs := randomRecords(7, 1000)

	// Over an existing file, as a retried write would be.
	if err := os.WriteFile(path, []byte("old contents"), 0o644); err != nil {
		t.Fatal(err)
	}
	sum, err := WriteFile(path, Metadata{RunID: "run-1"}, recs)
	if err != nil {
		t.Fatal(err)
	}

	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := sha256.Sum256(data)
	if sum != hex.EncodeToString(want[:]) {
		t.Fatalf("WriteFile returned sha256 %s, the file's is %x", sum, want)
	}
	if len(sum) != 64 || strings.ToLower(sum) != sum {
		t.Fatalf("sha256 %q is not 64 lowercase hex digits", sum)
	}

	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != "trace.parquet" {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Fatalf("directory holds %v, want only trace.parquet (no temp files)", names)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o644 {
		t.Fatalf("stat: %v, mode %v", err, st.Mode())
	}

	meta, got, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if meta.RunID != "run-1" || meta.Version != FormatVersion {
		t.Fatalf("metadata = %+v", meta)
	}
	requireEqualRecords(t, got, recs)
}

func TestWriteFileFailureLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "trace.parquet")
	if err := os.WriteFile(path, []byte("old contents"), 0o644); err != nil {
		t.Fatal(err)
	}
	// An invalid run id fails after the temporary file exists.
	if _, err := WriteFile(path, Metadata{RunID: "\xff"}, randomRecords(1, 10)); err == nil {
		t.Fatal("WriteFile succeeded with an invalid run id")
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Fatalf("directory holds %d entries, want the untouched original only", len(entries))
	}
	if data, _ := os.ReadFile(path); string(data) != "old contents" {
		t.Fatalf("original replaced on failure: %q", data)
	}

	if _, err := WriteFile(filepath.Join(dir, "no", "such", "dir.parquet"), Metadata{}, nil); err == nil {
		t.Fatal("WriteFile into a missing directory succeeded")
	}
	if _, _, err := ReadFile(filepath.Join(dir, "missing.parquet")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("ReadFile(missing) = %v, want os.ErrNotExist", err)
	}
}

// readNoPanic calls Read and turns a panic into a test failure.
func readNoPanic(t *testing.T, data []byte) (err error) {
	t.Helper()
	defer func() {
		if p := recover(); p != nil {
			t.Fatalf("Read panicked: %v", p)
		}
	}()
	_, _, err = Read(bytes.NewReader(data), int64(len(data)))
	return err
}

func TestCorruptFiles(t *testing.T) {
	data := writeToBuffer(t, Metadata{RunID: "r"}, randomRecords(5, 3000))

	// Every truncation is an error: the footer (or its length) is gone.
	cuts := []int{0, 1, 3, 4, 7, 8, 100, len(data) / 2, len(data) - 9, len(data) - 8, len(data) - 5, len(data) - 4, len(data) - 1}
	for i := 0; i < 200; i++ {
		cuts = append(cuts, i*len(data)/200)
	}
	for _, n := range cuts {
		if err := readNoPanic(t, data[:n]); err == nil {
			t.Fatalf("truncated to %d of %d bytes: no error", n, len(data))
		}
	}
	// A size larger than the data the ReaderAt holds.
	if _, _, err := Read(bytes.NewReader(data), int64(len(data))+10); err == nil {
		t.Fatal("size past the end: no error")
	}
	if _, _, err := Read(bytes.NewReader(data), -1); err == nil {
		t.Fatal("negative size: no error")
	}
	if _, _, err := Read(nil, 10); err == nil {
		t.Fatal("nil reader: no error")
	}

	// Not Parquet at all.
	for _, junk := range [][]byte{[]byte("PAR1"), []byte("PAR1PAR1"), bytes.Repeat([]byte("x"), 4096), append([]byte("PAR1"), append(bytes.Repeat([]byte{0xff}, 100), "PAR1"...)...)} {
		if err := readNoPanic(t, junk); err == nil {
			t.Fatalf("junk %q...: no error", junk[:min(len(junk), 16)])
		}
	}

	// Damaged bytes anywhere: Read may succeed (a flipped byte in a
	// statistic changes nothing we read) but must not panic. Damage in
	// the footer or in the compressed pages must not go unnoticed often;
	// count the errors to check that damage is actually being detected.
	rng := rand.New(rand.NewPCG(1, 2))
	errs := 0
	const trials = 400
	for i := 0; i < trials; i++ {
		bad := bytes.Clone(data)
		for j := 0; j <= rng.IntN(4); j++ {
			bad[rng.IntN(len(bad))] ^= byte(1 + rng.IntN(255))
		}
		if readNoPanic(t, bad) != nil {
			errs++
		}
	}
	if errs < trials/2 {
		t.Fatalf("only %d of %d corrupted files gave an error", errs, trials)
	}
	t.Logf("%d of %d randomly corrupted files gave an error (the rest decoded without panicking)", errs, trials)
}

// writeGeneric writes a table with arrow-go's generic writer, to make files
// that are valid Parquet but not valid traces.
func writeGeneric(t *testing.T, sc *arrow.Schema, build func(*array.RecordBuilder), props ...parquet.WriterProperty) []byte {
	t.Helper()
	b := array.NewRecordBuilder(memory.DefaultAllocator, sc)
	defer b.Release()
	build(b)
	rec := b.NewRecordBatch()
	defer rec.Release()
	tbl := array.NewTableFromRecords(sc, []arrow.RecordBatch{rec})
	defer tbl.Release()
	var buf bytes.Buffer
	if err := pqarrow.WriteTable(tbl, &buf, 1024, parquet.NewWriterProperties(props...), pqarrow.DefaultWriterProps()); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestForeignParquet(t *testing.T) {
	// No trace metadata.
	other := arrow.NewSchema([]arrow.Field{{Name: "x", Type: arrow.PrimitiveTypes.Int64}}, nil)
	data := writeGeneric(t, other, func(b *array.RecordBuilder) { b.Field(0).(*array.Int64Builder).Append(1) })
	if _, _, err := Read(bytes.NewReader(data), int64(len(data))); !errors.Is(err, ErrNotTrace) {
		t.Fatalf("plain parquet: %v, want ErrNotTrace", err)
	}

	// Trace metadata but the wrong columns.
	md := arrow.NewMetadata([]string{MetaKeyVersion}, []string{FormatVersion})
	wrong := arrow.NewSchema([]arrow.Field{{Name: "index", Type: arrow.BinaryTypes.String}}, &md)
	data = writeGeneric(t, wrong, func(b *array.RecordBuilder) { b.Field(0).(*array.StringBuilder).Append("1") })
	if _, _, err := Read(bytes.NewReader(data), int64(len(data))); !errors.Is(err, ErrNotTrace) {
		t.Fatalf("wrong columns: %v, want ErrNotTrace", err)
	}

	// The right columns but another format version.
	md = arrow.NewMetadata([]string{MetaKeyVersion}, []string{"2"})
	v2 := arrow.NewSchema(arrowSchema.Fields(), &md)
	data = writeGeneric(t, v2, func(b *array.RecordBuilder) {})
	if _, _, err := Read(bytes.NewReader(data), int64(len(data))); !errors.Is(err, ErrUnsupportedVersion) {
		t.Fatalf("version 2: %v, want ErrUnsupportedVersion", err)
	}
}

// TestIsRealParquet checks the file with tools other than this package's
// reader: the magic bytes, arrow-go's generic table reader, and the footer
// as the low-level Parquet reader sees it.
func TestIsRealParquet(t *testing.T) {
	const n = RowGroupRows + 500
	recs := randomRecords(11, n)
	path := filepath.Join(t.TempDir(), "t.parquet")
	if _, err := WriteFile(path, Metadata{RunID: "run-x"}, recs); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) < 12 || string(data[:4]) != "PAR1" || string(data[len(data)-4:]) != "PAR1" {
		t.Fatalf("missing PAR1 magic at the start or end")
	}

	tbl, err := pqarrow.ReadTable(context.Background(), bytes.NewReader(data), nil, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	defer tbl.Release()
	if tbl.NumRows() != n {
		t.Fatalf("ReadTable: %d rows, want %d", tbl.NumRows(), n)
	}
	var names []string
	for _, f := range tbl.Schema().Fields() {
		names = append(names, f.Name)
	}
	want := []string{"index", "phase", "scheduled_ns", "sent_ns", "first_chunk_ns", "first_token_ns", "last_token_ns", "end_ns", "prompt_tokens", "completion_tokens", "token_source", "usage_source", "content_chunks", "itl_ns", "status", "error_class", "error", "http_status", "server_received_ns", "server_first_token_ns"}
	if !slices.Equal(names, want) {
		t.Fatalf("columns = %v\nwant      %v", names, want)
	}
	if !slices.Equal(ColumnNames(), want) {
		t.Fatalf("ColumnNames() = %v", ColumnNames())
	}
	// Zero timestamps are NULL, as SCHEMA.md says.
	zeros := 0
	for _, r := range recs {
		if r.FirstTokenNS == 0 {
			zeros++
		}
	}
	col := tbl.Column(slices.Index(want, "first_token_ns"))
	if col.NullN() != zeros || zeros == 0 {
		t.Fatalf("first_token_ns: %d nulls, want %d", col.NullN(), zeros)
	}
	if dt := tbl.Column(slices.Index(want, "itl_ns")).DataType(); dt.ID() != arrow.LIST {
		t.Fatalf("itl_ns type %s, want a list", dt)
	}

	// Footer: zstd everywhere, dictionary pages on the low-cardinality
	// strings and none on the timestamps.
	pf, err := file.NewParquetReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	kv := pf.MetaData().KeyValueMetadata()
	if v := kv.FindValue("inferencebench.trace.version"); v == nil || *v != "1" {
		t.Fatalf("inferencebench.trace.version = %v", v)
	}
	if v := kv.FindValue("inferencebench.run_id"); v == nil || *v != "run-x" {
		t.Fatalf("inferencebench.run_id = %v", v)
	}
	if pf.NumRowGroups() != 2 {
		t.Fatalf("%d row groups, want 2", pf.NumRowGroups())
	}
	rg := pf.MetaData().RowGroup(0)
	for i := 0; i < rg.NumColumns(); i++ {
		cc, err := rg.ColumnChunk(i)
		if err != nil {
			t.Fatal(err)
		}
		if cc.Compression() != compress.Codecs.Zstd {
			t.Fatalf("column %s: compression %v, want zstd", cc.PathInSchema(), cc.Compression())
		}
		dict := slices.Contains(cc.Encodings(), parquet.Encodings.RLEDict) || slices.Contains(cc.Encodings(), parquet.Encodings.PlainDict)
		name := cc.PathInSchema().String()
		if wantDict := slices.Contains(dictionaryColumns, name); wantDict != dict {
			t.Fatalf("column %s: dictionary encoded = %v, want %v (encodings %v)", name, dict, wantDict, cc.Encodings())
		}
	}
}
