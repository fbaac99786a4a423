package trace

import (
	"errors"

	"github.com/apache/arrow-go/v18/arrow"
)

// FormatVersion is the version of the trace file layout that this package
// writes and the only one it reads. Bump it when a column is added, removed,
// renamed or changes meaning, so that a verifier never silently misreads an
// older or newer file. SCHEMA.md documents the layout of each version.
const FormatVersion = "1"

// Parquet key-value metadata keys. The "inferencebench." prefix keeps them
// apart from keys other tools add (pandas, ARROW:schema).
const (
	// MetaKeyVersion holds FormatVersion. Its presence is what marks a
	// Parquet file as a trace file.
	MetaKeyVersion = "inferencebench.trace.version"
	// MetaKeyRunID holds Metadata.RunID, so that a trace file found on its
	// own (in a bucket listing, say) can be tied back to its run.
	MetaKeyRunID = "inferencebench.run_id"
)

// Sentinel errors for callers (the verifier) that must tell "not ours" or
// "too new" apart from I/O and corruption errors.
var (
	// ErrNotTrace: the file is Parquet but has no MetaKeyVersion entry, or
	// its columns are not those of a trace.
	ErrNotTrace = errors.New("trace: not a trace file")
	// ErrUnsupportedVersion: the file's MetaKeyVersion is not FormatVersion.
	ErrUnsupportedVersion = errors.New("trace: unsupported trace format version")
)

// Metadata is the file-level information stored as Parquet key-value
// metadata next to the rows. It is deliberately small: everything else about
// a run (model, engine, hardware, summary metrics) lives in the signed
// envelope, which points at this file by its sha256; duplicating it here
// would only create a second copy that could disagree.
type Metadata struct {
	// Version is the trace format version. Writers ignore it and always
	// write FormatVersion; readers fill it from the file.
	Version string
	// RunID identifies the run the rows belong to (may be empty).
	RunID string
}

// Column names, in file order. They are part of the file format: DuckDB,
// Spark and pandas users query them by name.
const (
	ColIndex              = "index"
	ColPhase              = "phase"
	ColScheduledNS        = "scheduled_ns"
	ColSentNS             = "sent_ns"
	ColFirstChunkNS       = "first_chunk_ns"
	ColFirstTokenNS       = "first_token_ns"
	ColLastTokenNS        = "last_token_ns"
	ColEndNS              = "end_ns"
	ColPromptTokens       = "prompt_tokens"
	ColCompletionTokens   = "completion_tokens"
	ColTokenSource        = "token_source"
	ColUsageSource        = "usage_source"
	ColContentChunks      = "content_chunks"
	ColITLNS              = "itl_ns"
	ColStatus             = "status"
	ColErrorClass         = "error_class"
	ColError              = "error"
	ColHTTPStatus         = "http_status"
	ColServerReceivedNS   = "server_received_ns"
	ColServerFirstTokenNS = "server_first_token_ns"
)

// Column positions in the Arrow schema (and so in the Parquet file).
const (
	iIndex = iota
	iPhase
	iScheduledNS
	iSentNS
	iFirstChunkNS
	iFirstTokenNS
	iLastTokenNS
	iEndNS
	iPromptTokens
	iCompletionTokens
	iTokenSource
	iUsageSource
	iContentChunks
	iITLNS
	iStatus
	iErrorClass
	iError
	iHTTPStatus
	iServerReceivedNS
	iServerFirstTokenNS
	numColumns
)

// Timestamps are plain INT64 nanoseconds rather than the Parquet
// TIMESTAMP(NANOS) logical type: Spark (through 4.0) refuses to read
// TIMESTAMP(NANOS) columns ("Illegal Parquet type") unless
// spark.sql.legacy.parquet.nanosAsLong is set, while a plain INT64 reads
// everywhere, exactly, and converts in one call (SCHEMA.md shows how).
var (
	int64Type  = arrow.PrimitiveTypes.Int64
	int32Type  = arrow.PrimitiveTypes.Int32
	stringType = arrow.BinaryTypes.String
	// The ITL list and its elements are non-nullable: a request without
	// gaps has an empty list, and a gap is never unknown.
	itlType = arrow.ListOfNonNullable(arrow.PrimitiveTypes.Int64)
)

// arrowSchema is the Arrow schema of a trace file. Nullable columns are those
// whose zero value in Record means "absent" (see SCHEMA.md): writing them as
// NULL makes SQL aggregates skip them instead of averaging in a 0.
var arrowSchema = arrow.NewSchema([]arrow.Field{
	iIndex:              {Name: ColIndex, Type: int64Type},
	iPhase:              {Name: ColPhase, Type: stringType},
	iScheduledNS:        {Name: ColScheduledNS, Type: int64Type, Nullable: true},
	iSentNS:             {Name: ColSentNS, Type: int64Type, Nullable: true},
	iFirstChunkNS:       {Name: ColFirstChunkNS, Type: int64Type, Nullable: true},
	iFirstTokenNS:       {Name: ColFirstTokenNS, Type: int64Type, Nullable: true},
	iLastTokenNS:        {Name: ColLastTokenNS, Type: int64Type, Nullable: true},
	iEndNS:              {Name: ColEndNS, Type: int64Type, Nullable: true},
	iPromptTokens:       {Name: ColPromptTokens, Type: int64Type},
	iCompletionTokens:   {Name: ColCompletionTokens, Type: int64Type},
	iTokenSource:        {Name: ColTokenSource, Type: stringType},
	iUsageSource:        {Name: ColUsageSource, Type: stringType, Nullable: true},
	iContentChunks:      {Name: ColContentChunks, Type: int64Type},
	iITLNS:              {Name: ColITLNS, Type: itlType},
	iStatus:             {Name: ColStatus, Type: stringType},
	iErrorClass:         {Name: ColErrorClass, Type: stringType, Nullable: true},
	iError:              {Name: ColError, Type: stringType, Nullable: true},
	iHTTPStatus:         {Name: ColHTTPStatus, Type: int32Type, Nullable: true},
	iServerReceivedNS:   {Name: ColServerReceivedNS, Type: int64Type, Nullable: true},
	iServerFirstTokenNS: {Name: ColServerFirstTokenNS, Type: int64Type, Nullable: true},
}, nil)

// Column encodings. Every column is also zstd-compressed.
//
// dictionaryColumns are the low-cardinality ones (the strings and the HTTP
// status): Parquet dictionary encoding stores each distinct value once and
// a small index per row. The error detail is included: a run tends to fail
// with a handful of distinct messages, and the Parquet writer falls back to
// plain encoding by itself if the dictionary grows past 1 MiB.
//
// deltaColumns are the other integers, in DELTA_BINARY_PACKED encoding,
// which stores the differences between consecutive values bit-packed: for
// the index and the timestamps of a schedule these are small. On the
// benchmark's million-row trace this made the file about 28% smaller and
// took roughly half the CPU time of PLAIN followed by zstd, which has to
// chew through eight bytes a value. DuckDB, pyarrow/pandas and Spark (3.3+
// with its vectorized reader; any version without it) decode it.
var (
	dictionaryColumns = []string{ColPhase, ColTokenSource, ColUsageSource, ColStatus, ColErrorClass, ColError, ColHTTPStatus}
	deltaColumns      = []string{ColIndex, ColScheduledNS, ColSentNS, ColFirstChunkNS, ColFirstTokenNS, ColLastTokenNS, ColEndNS,
		ColPromptTokens, ColCompletionTokens, ColContentChunks, ColITLNS + ".list.element", ColServerReceivedNS, ColServerFirstTokenNS}
)

// ColumnNames returns the column names of a trace file, in file order.
func ColumnNames() []string {
	names := make([]string, len(arrowSchema.Fields()))
	for i, f := range arrowSchema.Fields() {
		names[i] = f.Name
	}
	return names
}
