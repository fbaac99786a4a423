package trace

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// readBatchRows is how many rows the reader decodes from Arrow at a time.
const readBatchRows = 64 * 1024

// maxPrealloc caps the capacity reserved from the row count in the footer,
// which a corrupt or hostile file could set to anything.
const maxPrealloc = 1 << 20

// ReadFile reads a whole trace file; see Read.
func ReadFile(path string) (Metadata, []Record, error) {
	f, err := os.Open(path)
	if err != nil {
		return Metadata{}, nil, fmt.Errorf("trace: read %s: %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Metadata{}, nil, fmt.Errorf("trace: read %s: %w", path, err)
	}
	meta, recs, err := Read(f, st.Size())
	if err != nil {
		return Metadata{}, nil, fmt.Errorf("trace: read %s: %w", path, err)
	}
	return meta, recs, nil
}

// Read reads a whole trace file of size bytes from r.
//
// Every field of every Record comes back exactly as written, with these
// conventions, which follow from the NULLs described in SCHEMA.md: a NULL
// reads as the field's zero value (0 or ""), and ITLNS is never nil: a
// request with no gaps (written from a nil or an empty slice alike) reads
// as an empty, non-nil slice. The ITL slices of one call share backing
// arrays but have their capacity clipped, so appending to one never writes
// into another.
//
// Errors: ErrUnsupportedVersion for a trace of another format version,
// ErrNotTrace for Parquet that is not a trace, and a wrapped decoding error
// for anything truncated or corrupt. Read does not panic on bad input
// (though a footer that declares absurd sizes can still exhaust memory).
func Read(r io.ReaderAt, size int64) (meta Metadata, recs []Record, err error) {
	// arrow-go's decoders panic on some malformed inputs (bad dictionary
	// indices, zstd frames, offsets); a trace file arrives over the network
	// and must never take the verifier down, so turn those into errors.
	defer func() {
		if p := recover(); p != nil {
			meta, recs, err = Metadata{}, nil, fmt.Errorf("trace: corrupt parquet file: %v", p)
		}
	}()
	if r == nil {
		return Metadata{}, nil, errors.New("trace: read: nil io.ReaderAt")
	}
	if size < 0 {
		return Metadata{}, nil, fmt.Errorf("trace: read: negative size %d", size)
	}

	pf, err := file.NewParquetReader(io.NewSectionReader(r, 0, size))
	if err != nil {
		return Metadata{}, nil, fmt.Errorf("trace: opening parquet: %w", err)
	}
	defer pf.Close()

	meta, err = readMetadata(pf)
	if err != nil {
		return Metadata{}, nil, err
	}

	// Columns are decoded serially (Parallel: false): a decoder panic in
	// one of pqarrow's worker goroutines could not be recovered here.
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: readBatchRows}, memory.DefaultAllocator)
	if err != nil {
		return Metadata{}, nil, fmt.Errorf("trace: opening parquet: %w", err)
	}
	sc, err := fr.Schema()
	if err != nil {
		return Metadata{}, nil, fmt.Errorf("trace: parquet schema: %w", err)
	}
	fields, err := columnIndices(sc)
	if err != nil {
		return Metadata{}, nil, err
	}
	// GetRecordReader selects Parquet leaf columns, not Arrow fields; every
	// trace column has exactly one leaf. The batches it returns hold the
	// fields in the order of the leaves asked for, i.e. the trace order.
	var cols [numColumns]int
	for i, fi := range fields {
		leaf, err := leafIndex(fr.Manifest, fi)
		if err != nil {
			return Metadata{}, nil, err
		}
		cols[i] = leaf
	}

	rr, err := fr.GetRecordReader(context.Background(), cols[:], nil)
	if err != nil {
		return Metadata{}, nil, fmt.Errorf("trace: reading parquet: %w", err)
	}
	defer rr.Release()

	recs = make([]Record, 0, min(max(pf.NumRows(), 0), maxPrealloc))
	var in interner
	for rr.Next() {
		if recs, err = appendBatch(recs, rr.RecordBatch(), &in); err != nil {
			return Metadata{}, nil, err
		}
	}
	if err := rr.Err(); err != nil && !errors.Is(err, io.EOF) {
		return Metadata{}, nil, fmt.Errorf("trace: reading parquet: %w", err)
	}
	if int64(len(recs)) != pf.NumRows() {
		return Metadata{}, nil, fmt.Errorf("trace: reading parquet: got %d rows, footer says %d", len(recs), pf.NumRows())
	}
	return meta, recs, nil
}

// readMetadata checks the key-value metadata that marks a trace file.
func readMetadata(pf *file.Reader) (Metadata, error) {
	kv := pf.MetaData().KeyValueMetadata()
	ver := kv.FindValue(MetaKeyVersion)
	if ver == nil {
		return Metadata{}, fmt.Errorf("%w: no %q metadata", ErrNotTrace, MetaKeyVersion)
	}
	if *ver != FormatVersion {
		return Metadata{}, fmt.Errorf("%w: %q (this build reads %q)", ErrUnsupportedVersion, *ver, FormatVersion)
	}
	meta := Metadata{Version: *ver}
	if id := kv.FindValue(MetaKeyRunID); id != nil {
		meta.RunID = *id
	}
	return meta, nil
}

// columnIndices finds each trace column in the file's schema by name and
// checks its type, so that the decoder below can index batches blindly.
// Columns a later writer might add are ignored (a change that matters
// bumps FormatVersion).
func columnIndices(sc *arrow.Schema) (cols [numColumns]int, err error) {
	for i, want := range arrowSchema.Fields() {
		idx := sc.FieldIndices(want.Name)
		if len(idx) != 1 {
			return cols, fmt.Errorf("%w: column %q: found %d times", ErrNotTrace, want.Name, len(idx))
		}
		got := sc.Field(idx[0]).Type
		if !sameType(got, want.Type) {
			return cols, fmt.Errorf("%w: column %q has type %s, want %s", ErrNotTrace, want.Name, got, want.Type)
		}
		cols[i] = idx[0]
	}
	return cols, nil
}

// leafIndex returns the Parquet column index of the single leaf of the Arrow
// field at fieldIdx.
func leafIndex(m *pqarrow.SchemaManifest, fieldIdx int) (int, error) {
	if m == nil || fieldIdx < 0 || fieldIdx >= len(m.Fields) {
		return 0, fmt.Errorf("%w: field %d not in the parquet schema", ErrNotTrace, fieldIdx)
	}
	f := &m.Fields[fieldIdx]
	for !f.IsLeaf() {
		if len(f.Children) != 1 {
			return 0, fmt.Errorf("%w: field %d has %d children", ErrNotTrace, fieldIdx, len(f.Children))
		}
		f = &f.Children[0]
	}
	return f.ColIndex, nil
}

// sameType compares types ignoring list element names and nullability,
// which differ between writers (and between Arrow and Parquet conventions).
func sameType(got, want arrow.DataType) bool {
	if gl, ok := got.(*arrow.ListType); ok {
		wl, ok := want.(*arrow.ListType)
		return ok && arrow.TypeEqual(gl.Elem(), wl.Elem())
	}
	return arrow.TypeEqual(got, want)
}

// interner makes one owned copy of each distinct string. Arrow's string
// values point into the batch's buffers; copying each distinct value once
// (there are few: enum values and a handful of error messages) keeps the
// Records from pinning those buffers and saves an allocation per row.
type interner map[string]string

func (in *interner) get(s string) string {
	if s == "" {
		return ""
	}
	if *in == nil {
		*in = make(map[string]string)
	}
	if v, ok := (*in)[s]; ok {
		return v
	}
	v := string([]byte(s))
	(*in)[v] = v
	return v
}

// appendBatch decodes one record batch whose columns are in trace order.
// It works column by column (one tight loop per field) rather than row by
// row, which is several times faster on a million rows.
func appendBatch(recs []Record, b arrow.RecordBatch, in *interner) ([]Record, error) {
	n := int(b.NumRows())
	if int(b.NumCols()) != numColumns {
		return recs, fmt.Errorf("%w: batch has %d columns, want %d", ErrNotTrace, b.NumCols(), numColumns)
	}
	bad := func(c int) error {
		return fmt.Errorf("%w: column %q: unexpected %s array of %d rows in a batch of %d",
			ErrNotTrace, arrowSchema.Field(c).Name, b.Column(c).DataType(), b.Column(c).Len(), n)
	}
	for c := 0; c < numColumns; c++ {
		if b.Column(c).Len() != n {
			return recs, bad(c)
		}
	}

	start := len(recs)
	recs = slices.Grow(recs, n)[:start+n]
	out := recs[start:]
	clear(out)

	int64s := func(c int, field func(*Record) *int64) error {
		a, ok := b.Column(c).(*array.Int64)
		if !ok {
			return bad(c)
		}
		vals := a.Int64Values()
		if a.NullN() == 0 {
			for i := range out {
				*field(&out[i]) = vals[i]
			}
			return nil
		}
		for i := range out {
			if a.IsValid(i) {
				*field(&out[i]) = vals[i]
			}
		}
		return nil
	}
	strs := func(c int, field func(*Record, string)) error {
		a, ok := b.Column(c).(*array.String)
		if !ok {
			return bad(c)
		}
		for i := range out {
			if a.IsValid(i) {
				field(&out[i], in.get(a.Value(i)))
			}
		}
		return nil
	}

	err := errors.Join(
		int64s(iIndex, func(r *Record) *int64 { return &r.Index }),
		strs(iPhase, func(r *Record, s string) { r.Phase = Phase(s) }),
		int64s(iScheduledNS, func(r *Record) *int64 { return &r.ScheduledNS }),
		int64s(iSentNS, func(r *Record) *int64 { return &r.SentNS }),
		int64s(iFirstChunkNS, func(r *Record) *int64 { return &r.FirstChunkNS }),
		int64s(iFirstTokenNS, func(r *Record) *int64 { return &r.FirstTokenNS }),
		int64s(iLastTokenNS, func(r *Record) *int64 { return &r.LastTokenNS }),
		int64s(iEndNS, func(r *Record) *int64 { return &r.EndNS }),
		int64s(iPromptTokens, func(r *Record) *int64 { return &r.PromptTokens }),
		int64s(iCompletionTokens, func(r *Record) *int64 { return &r.CompletionTokens }),
		strs(iTokenSource, func(r *Record, s string) { r.TokenSource = TokenSource(s) }),
		strs(iUsageSource, func(r *Record, s string) { r.UsageSource = UsageSource(s) }),
		int64s(iContentChunks, func(r *Record) *int64 { return &r.ContentChunks }),
		readITL(out, b.Column(iITLNS), bad(iITLNS)),
		strs(iStatus, func(r *Record, s string) { r.Status = Status(s) }),
		strs(iErrorClass, func(r *Record, s string) { r.ErrorClass = ErrorClass(s) }),
		strs(iError, func(r *Record, s string) { r.Error = s }),
		readHTTPStatus(out, b.Column(iHTTPStatus), bad(iHTTPStatus)),
		int64s(iServerReceivedNS, func(r *Record) *int64 { return &r.ServerReceivedNS }),
		int64s(iServerFirstTokenNS, func(r *Record) *int64 { return &r.ServerFirstTokenNS }),
	)
	if err != nil {
		return recs[:start], err
	}
	return recs, nil
}

func readHTTPStatus(out []Record, col arrow.Array, bad error) error {
	a, ok := col.(*array.Int32)
	if !ok {
		return bad
	}
	vals := a.Int32Values()
	for i := range out {
		if a.IsValid(i) {
			out[i].HTTPStatus = vals[i]
		}
	}
	return nil
}

// readITL sets the ITL lists of out. All of them share one new backing
// array (one allocation per batch, not per row), each clipped to its own
// length so that appending to one cannot overwrite the next.
func readITL(out []Record, col arrow.Array, bad error) error {
	a, ok := col.(*array.List)
	if !ok {
		return bad
	}
	child, ok := a.ListValues().(*array.Int64)
	if !ok || child.NullN() > 0 {
		return bad // a trace's ITL values are never NULL
	}
	if len(out) == 0 {
		return nil
	}
	vals := child.Int64Values()
	lo, _ := a.ValueOffsets(0)
	_, hi := a.ValueOffsets(len(out) - 1)
	if lo < 0 || hi < lo || hi > int64(len(vals)) {
		return fmt.Errorf("trace: corrupt parquet file: column %q: list offsets [%d, %d) outside %d values", ColITLNS, lo, hi, len(vals))
	}
	backing := make([]int64, hi-lo) // non-nil even when empty
	copy(backing, vals[lo:hi])
	for i := range out {
		s, e := a.ValueOffsets(i)
		if s < lo || e < s || e > hi {
			return fmt.Errorf("trace: corrupt parquet file: column %q: bad list offsets at row %d", ColITLNS, i)
		}
		out[i].ITLNS = backing[s-lo : e-lo : e-lo]
	}
	return nil
}
