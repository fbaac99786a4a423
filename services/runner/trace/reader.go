package trace

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/metadata"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/apache/arrow-go/v18/parquet/schema"
)

// readBatchRows is the most levels (rows, for every column but itl_ns)
// the reader asks arrow-go's column readers for at a time.
const readBatchRows = 64 * 1024

// maxPrealloc caps the capacity reserved from the row count in the footer,
// which a corrupt or hostile file could set to anything.
const maxPrealloc = 1 << 20

// Defaults for the limits that Read applies to what a file's footer
// declares. A trace of the largest object the pipeline reads (256 MiB)
// holds about 3.3 million requests; these leave room above that while
// bounding the memory a small, hostile file can make Read allocate
// (Parquet's run-length encoding stores a million NULLs in a few bytes):
// about 1 GiB of Records and 1 GiB of inter-token latencies.
const (
	DefaultMaxRows      = 1 << 22 // 4,194,304
	DefaultMaxITLValues = 1 << 27 // 134,217,728
)

// ErrTooLarge is returned (wrapped) when a file declares more rows or
// inter-token latencies than the reader's limits.
var ErrTooLarge = errors.New("trace: file declares more than the reader's limit")

// ReadOption adjusts Read.
type ReadOption func(*readLimits)

type readLimits struct {
	maxRows, maxITLValues int64
}

// WithMaxRows sets the most rows (requests) a file may declare
// (default DefaultMaxRows).
func WithMaxRows(n int64) ReadOption { return func(l *readLimits) { l.maxRows = n } }

// WithMaxITLValues sets the most inter-token latencies, over all rows, a
// file may declare (default DefaultMaxITLValues).
func WithMaxITLValues(n int64) ReadOption { return func(l *readLimits) { l.maxITLValues = n } }

func limitsOf(opts []ReadOption) readLimits {
	l := readLimits{maxRows: DefaultMaxRows, maxITLValues: DefaultMaxITLValues}
	for _, o := range opts {
		o(&l)
	}
	return l
}

// ReadFile reads a whole trace file; see Read.
func ReadFile(path string, opts ...ReadOption) (Metadata, []Record, error) {
	f, err := os.Open(path)
	if err != nil {
		return Metadata{}, nil, fmt.Errorf("trace: read %s: %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Metadata{}, nil, fmt.Errorf("trace: read %s: %w", path, err)
	}
	meta, recs, err := Read(f, st.Size(), opts...)
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
// ErrNotTrace for Parquet that is not a trace, ErrTooLarge for a footer
// that declares more rows or inter-token latencies than the limits
// (WithMaxRows, WithMaxITLValues), and a wrapped decoding error for
// anything truncated or corrupt. Read does not panic on bad input, and the
// limits, checked against the footer before anything is decoded, bound
// what it allocates: neither decoder reads past the counts the footer
// declares.
//
// Read decodes the column chunks that the Writer writes with a decoder of
// its own (pages.go), several times faster than arrow-go's column readers
// on short traces, and any other chunk, or one that decoder finds fault
// with, with arrow-go's column readers, whose answer then stands. The
// results are the same either way (FuzzRead checks this).
func Read(r io.ReaderAt, size int64, opts ...ReadOption) (meta Metadata, recs []Record, err error) {
	meta, recs, _, err = read(r, size, false, opts...)
	return meta, recs, err
}

// readStats says how a read went, for tests.
type readStats struct {
	fallbacks int // column chunks read with arrow-go's column readers
	panics    int // of those, chunks on which the page decoder panicked
}

// read is Read, and also says how many column chunks it read with
// arrow-go's column readers. arrowOnly makes it read every chunk so, as a
// reference for tests and benchmarks.
func read(r io.ReaderAt, size int64, arrowOnly bool, opts ...ReadOption) (meta Metadata, recs []Record, st readStats, err error) {
	// arrow-go's decoders panic on some malformed inputs (bad dictionary
	// indices, zstd frames, offsets); a trace file arrives over the network
	// and must never take the verifier down, so turn those into errors.
	// Everything below runs on this goroutine, where the panic can be
	// recovered.
	defer func() {
		if p := recover(); p != nil {
			meta, recs, st, err = Metadata{}, nil, readStats{}, fmt.Errorf("trace: corrupt parquet file: %v", p)
		}
	}()
	if r == nil {
		return Metadata{}, nil, readStats{}, errors.New("trace: read: nil io.ReaderAt")
	}
	if size < 0 {
		return Metadata{}, nil, readStats{}, fmt.Errorf("trace: read: negative size %d", size)
	}

	sr := io.NewSectionReader(r, 0, size)
	props := parquet.NewReaderProperties(memory.DefaultAllocator)
	props.MaxUncompressedPageSize, props.MaxCompressedPageSize = maxPageSize, maxCompressedPageSize
	pf, err := file.NewParquetReader(sr, file.WithReadProps(props))
	if err != nil {
		return Metadata{}, nil, readStats{}, fmt.Errorf("trace: opening parquet: %w", err)
	}
	defer pf.Close()

	meta, err = readMetadata(pf)
	if err != nil {
		return Metadata{}, nil, readStats{}, err
	}
	cols, err := findColumns(pf.MetaData())
	if err != nil {
		return Metadata{}, nil, readStats{}, err
	}
	d := decoders.Get().(*decoder)
	defer d.release()
	if d.rowGroups, err = checkDeclaredSizes(pf, cols, limitsOf(opts), d.rowGroups[:0]); err != nil {
		return Metadata{}, nil, readStats{}, err
	}
	d.pf, d.chunks.r, d.chunks.size, d.chunkBytes, d.stats = pf, sr, size, 0, readStats{}
	// Files from parquet-mr 1.2.8 and older understate their chunk sizes,
	// which arrow-go makes up for.
	d.arrowOnly = arrowOnly || pf.MetaData().WriterVersion().LessThan(metadata.Parquet816FixedVersion)
	d.cols = cols

	// len(recs) ends up pf.NumRows() without a check here: readRowGroup
	// appends exactly the rows its row group declares, or fails, and
	// checkDeclaredSizes has checked that those add up to pf.NumRows().
	recs = make([]Record, 0, min(pf.NumRows(), maxPrealloc))
	for i := range d.rowGroups {
		if recs, err = d.readRowGroup(recs, i); err != nil {
			return Metadata{}, nil, readStats{}, err
		}
	}
	return meta, recs, d.stats, nil
}

// rowGroupMeta is what the decoder uses of a row group's metadata.
type rowGroupMeta struct {
	rows   int64
	chunks [numColumns]chunkMeta // the trace columns', in schema order
}

// checkDeclaredSizes holds the footer's row and value counts to the
// limits, and to each other: the row groups must add up to the file's
// rows, and every column chunk but itl_ns (one level per row) must have as
// many values as its row group has rows. It also appends to rgs, and
// returns, what the decoder needs of each row group, so that Read walks
// the footer's column chunks once and still decodes nothing before every
// count is checked; with an error, the slice is returned only for reuse.
// rgs grows a row group at a time, as each passes: nothing limits the
// number of row groups, and reserving room for all of them up front would
// let a footer of many row groups of a few bytes each allocate much.
func checkDeclaredSizes(pf *file.Reader, cols [numColumns]column, l readLimits, rgs []rowGroupMeta) ([]rowGroupMeta, error) {
	total := pf.NumRows()
	if total < 0 {
		return rgs, fmt.Errorf("trace: corrupt parquet file: footer declares %d rows", total)
	}
	if total > l.maxRows {
		return rgs, fmt.Errorf("%w: %d rows declared, limit %d", ErrTooLarge, total, l.maxRows)
	}
	var rows, itl int64
	for rg := range pf.NumRowGroups() {
		md := pf.MetaData().RowGroup(rg)
		n := md.NumRows()
		if n < 0 || n > total-rows {
			return rgs, fmt.Errorf("trace: corrupt parquet file: row group %d declares %d rows; the file has %d", rg, n, total)
		}
		rows += n
		g := rowGroupMeta{rows: n}
		for c := range numColumns {
			cc, err := md.ColumnChunk(cols[c].leaf)
			if err != nil {
				return rgs, fmt.Errorf("trace: corrupt parquet file: row group %d, column %q: %w", rg, arrowSchema.Field(c).Name, err)
			}
			g.chunks[c] = chunkMetaOf(cc)
			v := g.chunks[c].numValues
			switch {
			case c == iITLNS && (v < n || v > l.maxITLValues-itl):
				if v >= n {
					return rgs, fmt.Errorf("%w: more than %d inter-token latencies declared", ErrTooLarge, l.maxITLValues)
				}
				return rgs, fmt.Errorf("trace: corrupt parquet file: row group %d, column %q: %d values for %d rows", rg, arrowSchema.Field(c).Name, v, n)
			case c == iITLNS:
				itl += v
			case v != n:
				return rgs, fmt.Errorf("trace: corrupt parquet file: row group %d, column %q: %d values for %d rows", rg, arrowSchema.Field(c).Name, v, n)
			}
		}
		rgs = append(rgs, g)
	}
	if rows != total {
		return rgs, fmt.Errorf("trace: corrupt parquet file: row groups hold %d rows; the footer declares %d", rows, total)
	}
	return rgs, nil
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

// column says where a trace column is in the file.
type column struct {
	leaf int // the Parquet column index of its single leaf
	// elemDef is, for itl_ns, the definition level from which a level
	// stands for a list element; lower levels are an empty (or NULL) list.
	elemDef int16
}

// findColumns finds each trace column in the file's schema by name and
// checks its type as Arrow sees it, as any Arrow-based reader (pyarrow,
// DuckDB) would. Columns a later writer might add are ignored (a change
// that matters bumps FormatVersion).
func findColumns(md *metadata.FileMetaData) ([numColumns]column, error) {
	// Working out the Arrow schema takes longer than decoding a short
	// trace; the answer for the schema the Writer writes, which nearly
	// every file has, is worked out once.
	if sc, err := parquetSchema(); err == nil && sameFields(md.Schema.Root(), sc.Root()) {
		return writerColumns()
	}
	return columnsIn(md.Schema)
}

// sameFields reports whether two schemas have the same columns, whatever
// their roots are called (or their repetition, which writers disagree on).
func sameFields(a, b *schema.GroupNode) bool {
	if a.NumFields() != b.NumFields() {
		return false
	}
	for i := range a.NumFields() {
		if !a.Field(i).Equals(b.Field(i)) {
			return false
		}
	}
	return true
}

// writerColumns is findColumns for the files the Writer writes.
var writerColumns = sync.OnceValues(func() ([numColumns]column, error) {
	sc, err := parquetSchema()
	if err != nil {
		return [numColumns]column{}, fmt.Errorf("trace: parquet schema: %w", err)
	}
	return columnsIn(sc)
})

// columnsIn is findColumns for any schema sc. It never hands pqarrow the
// Arrow schema a file may carry (key-value metadata ARROW:schema): decoding
// it trusts the lengths inside it, and a crafted one made arrow-go allocate
// 70 GB and kill the process (found by FuzzRead; the input is kept in
// testdata/fuzz/FuzzRead). The trace's types are known, and the Parquet
// schema alone is enough to check them.
func columnsIn(sc *schema.Schema) (cols [numColumns]column, err error) {
	m, err := pqarrow.NewSchemaManifest(sc, nil, &pqarrow.ArrowReadProperties{})
	if err != nil {
		return cols, fmt.Errorf("trace: parquet schema: %w", err)
	}
	for i, want := range arrowSchema.Fields() {
		var f *pqarrow.SchemaField
		n := 0
		for j := range m.Fields {
			if m.Fields[j].Field.Name == want.Name {
				f = &m.Fields[j]
				n++
			}
		}
		if n != 1 {
			return cols, fmt.Errorf("%w: column %q: found %d times", ErrNotTrace, want.Name, n)
		}
		if got := f.Field.Type; !sameType(got, want.Type) {
			return cols, fmt.Errorf("%w: column %q has type %s, want %s", ErrNotTrace, want.Name, got, want.Type)
		}
		// Every trace column has exactly one leaf.
		for !f.IsLeaf() {
			if len(f.Children) != 1 {
				return cols, fmt.Errorf("%w: column %q has %d children", ErrNotTrace, want.Name, len(f.Children))
			}
			f = &f.Children[0]
		}
		cols[i] = column{leaf: f.ColIndex, elemDef: f.LevelInfo.RepeatedAncestorDefLevel}
	}
	return cols, nil
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

// decoder decodes row groups, one column chunk at a time, into plain
// slices (the reverse of the Writer's batch), then assembles Records from
// those. It does not use pqarrow: building Arrow arrays, only to copy them
// into Records, cost more than the decoding itself.
//
// Decoders are reused from one Read to the next (the buffers of a short
// trace's Read would otherwise be most of what it allocates), but none of
// their buffers ends up in a Record: the values are copied, and each row
// group's ITL values get an array of their own.
type decoder struct {
	pf        *file.Reader
	arrowOnly bool // read every chunk with arrow-go
	cols      [numColumns]column
	rowGroups []rowGroupMeta // the file's, from checkDeclaredSizes
	// chunkBytes adds up the sizes of the column chunks read so far,
	// which cannot exceed the file's size.
	chunkBytes int64
	stats      readStats

	in     interner
	chunks chunkReader
	lv     levels // the levels of the column chunk being read
	i64    int64Values
	i32    int32Values
	str    stringValues

	// One row group's columns, reused for the next.
	ints      [numColumns][]int64 // the int64 columns; 0 for NULL
	http      []int32             // 0 for NULL
	strs      [numColumns][]string
	itlVals   []int64 // every row's ITL values, end to end; new for each row group
	itlStarts []int   // where each row's ITL values start in itlVals, and where the last ends
}

var decoders = sync.Pool{New: func() any { return new(decoder) }}

// maxPooledBuffer is the largest chunk or page buffer that a decoder keeps
// for the next Read.
const maxPooledBuffer = 16 << 20

// maxPooledRowGroups is the most row groups' metadata that a decoder keeps
// room for. A trace of the Writer's of DefaultMaxRows rows has 64 row
// groups, more only where long ITL lists cut them short.
const maxPooledRowGroups = 256

// release returns d to the pool, without the references to this Read's
// file and strings that it holds.
func (d *decoder) release() {
	d.pf, d.chunks.r, d.in = nil, nil, interner{}
	// Keep the buffers a trace of the Writer's needs, not one odd file's.
	if cap(d.chunks.raw) > maxPooledBuffer {
		d.chunks.raw = nil
	}
	if cap(d.chunks.page) > maxPooledBuffer {
		d.chunks.page = nil
	}
	if cap(d.rowGroups) > maxPooledRowGroups {
		d.rowGroups = nil
	}
	for i := range d.strs {
		clear(d.strs[i])
	}
	clear(d.str.dict)
	d.itlVals = nil
	decoders.Put(d)
}

// readRowGroup appends the rows of row group rg to recs: as many as
// checkDeclaredSizes found it declares, or none and an error.
func (d *decoder) readRowGroup(recs []Record, rg int) ([]Record, error) {
	n := d.rowGroups[rg].rows
	for c := range numColumns {
		rows, err := d.readColumn(rg, c)
		if err == nil && int64(rows) != n {
			err = fmt.Errorf("%w: %d rows in a row group of %d", errCorrupt, rows, n)
		}
		if err != nil {
			return recs, fmt.Errorf("trace: reading parquet: column %q: %w", arrowSchema.Field(c).Name, err)
		}
	}

	start := len(recs)
	recs = slices.Grow(recs, int(n))[:start+int(n)]
	out := recs[start:]
	ints, strs, http := &d.ints, &d.strs, d.http[:n]
	itl, starts := d.itlVals, d.itlStarts[:n+1]
	for i := range out {
		s, e := starts[i], starts[i+1]
		out[i] = Record{
			Index:              ints[iIndex][i],
			Phase:              Phase(strs[iPhase][i]),
			ScheduledNS:        ints[iScheduledNS][i],
			SentNS:             ints[iSentNS][i],
			FirstChunkNS:       ints[iFirstChunkNS][i],
			FirstTokenNS:       ints[iFirstTokenNS][i],
			LastTokenNS:        ints[iLastTokenNS][i],
			EndNS:              ints[iEndNS][i],
			PromptTokens:       ints[iPromptTokens][i],
			CompletionTokens:   ints[iCompletionTokens][i],
			TokenSource:        TokenSource(strs[iTokenSource][i]),
			UsageSource:        UsageSource(strs[iUsageSource][i]),
			ContentChunks:      ints[iContentChunks][i],
			ITLNS:              itl[s:e:e],
			Status:             Status(strs[iStatus][i]),
			ErrorClass:         ErrorClass(strs[iErrorClass][i]),
			Error:              strs[iError][i],
			HTTPStatus:         http[i],
			ServerReceivedNS:   ints[iServerReceivedNS][i],
			ServerFirstTokenNS: ints[iServerFirstTokenNS][i],
		}
	}
	return recs, nil
}

// readColumn decodes trace column c of row group rg into d, and returns
// its number of rows.
func (d *decoder) readColumn(rg, c int) (rows int, err error) {
	leaf := d.cols[c].leaf
	descr := d.pf.MetaData().Schema.Column(leaf)
	maxDef, maxRep := descr.MaxDefinitionLevel(), descr.MaxRepetitionLevel()
	cm := &d.rowGroups[rg].chunks[c]
	// Column chunks do not overlap, so together they fit in the file:
	// this bounds what a footer can make either decoder read.
	start, size := cm.start, cm.size
	if start < 0 || size < 0 || start > d.chunks.size || size > d.chunks.size-start || size > d.chunks.size-d.chunkBytes {
		return 0, corrupt("column chunk [%d, +%d) outside the file of %d bytes, or overlapping others", start, size, d.chunks.size)
	}
	d.chunkBytes += size
	// Room for the levels of the chunk, or its rows, as its metadata
	// counts them, so that appending rarely has to grow a slice.
	n := int(min(max(cm.numValues, 0), maxPrealloc))

	wantRep, wantType := int16(0), parquet.Types.Int64
	var vd valueDecoder
	var vals []int64 // itl_ns: the values, in a new array that the Records keep
	switch c {
	case iITLNS:
		wantRep = 1
		vals = make([]int64, 0, n)
		vd = d.i64.use(&vals)
	case iHTTPStatus:
		wantType = parquet.Types.Int32
		d.http = slices.Grow(d.http[:0], n)
		vd = d.i32.use(&d.http)
	case iPhase, iTokenSource, iUsageSource, iStatus, iErrorClass, iError:
		wantType = parquet.Types.ByteArray
		d.strs[c] = slices.Grow(d.strs[c][:0], n)
		vd = d.str.use(&d.strs[c], &d.in)
	default:
		d.ints[c] = slices.Grow(d.ints[c][:0], n)
		vd = d.i64.use(&d.ints[c])
	}
	if maxRep != wantRep || descr.PhysicalType() != wantType {
		return 0, fmt.Errorf("%w: parquet type %s with repetition level %d", ErrNotTrace, descr.PhysicalType(), maxRep)
	}
	d.lv.def, d.lv.rep = d.lv.def[:0], d.lv.rep[:0]
	if maxDef > 0 {
		d.lv.def = slices.Grow(d.lv.def, n)
	}
	if maxRep > 0 {
		d.lv.rep = slices.Grow(d.lv.rep, n)
	}
	err = errUnsupported
	if !d.arrowOnly {
		err = d.readPages(cm, maxDef, maxRep, vd)
	}
	if errors.Is(err, errUnsupported) || errors.Is(err, errCorrupt) {
		// Let arrow-go decide: the page decoder refuses some chunks that
		// are valid, if odd. Where arrow-go fails too, the page decoder's
		// error says better what is wrong.
		d.stats.fallbacks++
		d.lv.def, d.lv.rep = d.lv.def[:0], d.lv.rep[:0]
		vd.reset()
		if aerr := d.readArrow(rg, leaf, cm.numValues, vd); aerr == nil || !errors.Is(err, errCorrupt) {
			err = aerr
		}
	}
	if err != nil {
		return 0, err
	}

	switch c {
	case iITLNS:
		return d.listRows(vals, maxDef, d.cols[c].elemDef)
	case iHTTPStatus:
		d.http, err = spread(d.http, d.lv.def, maxDef)
		return len(d.http), err
	case iPhase, iTokenSource, iUsageSource, iStatus, iErrorClass, iError:
		d.strs[c], err = spread(d.strs[c], d.lv.def, maxDef)
		return len(d.strs[c]), err
	default:
		d.ints[c], err = spread(d.ints[c], d.lv.def, maxDef)
		return len(d.ints[c]), err
	}
}

// readPages reads a column chunk with d.chunks. A panic there would be a
// bug in the page decoder: rather than fail the read, it makes the chunk
// corrupt, for arrow-go to read instead; tests look for it in d.stats.
func (d *decoder) readPages(cm *chunkMeta, maxDef, maxRep int16, vd valueDecoder) (err error) {
	defer func() {
		if p := recover(); p != nil {
			d.stats.panics++
			err = corrupt("page decoder panic: %v", p)
		}
	}()
	return d.chunks.read(cm, maxDef, maxRep, &d.lv, vd)
}

// spread turns the packed non-NULL values of a flat column, as Parquet
// stores them, into one value a row, with the zero value for each NULL,
// according to the column's definition levels def.
func spread[T any](vals []T, def []int16, maxDef int16) ([]T, error) {
	if maxDef == 0 {
		return vals, nil // no NULLs: a value a row
	}
	j := len(vals)
	if j > len(def) {
		return vals, fmt.Errorf("%w: %d values for %d rows", errCorrupt, j, len(def))
	}
	vals = slices.Grow(vals, len(def)-j)[:len(def)]
	// Back to front, so that no value is overwritten before it moves.
	for i := len(def) - 1; i >= 0; i-- {
		if def[i] != maxDef {
			var zero T
			vals[i] = zero
			continue
		}
		if j == 0 {
			return vals, fmt.Errorf("%w: more rows than values", errCorrupt)
		}
		j--
		vals[i] = vals[j]
	}
	if j != 0 {
		return vals, fmt.Errorf("%w: more values than rows", errCorrupt)
	}
	return vals, nil
}

// listRows sets d.itlVals to vals, the values of the itl_ns column chunk
// just read, and d.itlStarts to where each row's values start in it
// (followed by where the last row's end), from the chunk's levels, and
// returns the number of rows. Levels from elemDef up stand for a list
// element, lower ones for an empty or a NULL list, which read alike.
func (d *decoder) listRows(vals []int64, maxDef, elemDef int16) (int, error) {
	if vals == nil {
		vals = []int64{} // ITLNS is never nil
	}
	def, rep := d.lv.def, d.lv.rep
	if len(rep) != len(def) {
		return 0, fmt.Errorf("%w: %d repetition levels, %d definition levels", errCorrupt, len(rep), len(def))
	}
	starts := d.itlStarts[:0]
	count := 0
	for i, l := range def {
		if rep[i] == 0 {
			starts = append(starts, count) // a new row
		} else if i == 0 {
			return 0, fmt.Errorf("%w: a list continues before it starts", errCorrupt)
		}
		switch {
		case l == maxDef:
			count++
		case l >= elemDef:
			return 0, fmt.Errorf("%w: NULL list element", ErrNotTrace)
		case rep[i] != 0:
			return 0, fmt.Errorf("%w: an empty list continues", errCorrupt)
		}
	}
	if count != len(vals) {
		return 0, fmt.Errorf("%w: %d list values, %d in the levels", errCorrupt, len(vals), count)
	}
	d.itlVals, d.itlStarts = vals, append(starts, count)
	return len(starts), nil
}

// readArrow reads a column chunk with arrow-go's column reader, for the
// chunks chunkReader does not decode, appending to d.lv and vd as
// chunkReader.read does. levelCount is the chunk's number of levels.
func (d *decoder) readArrow(rg, leaf int, levelCount int64, vd valueDecoder) (err error) {
	cr, err := d.pf.RowGroup(rg).Column(leaf)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := cr.Close(); err == nil {
			err = cerr
		}
	}()
	batch := int(min(max(levelCount, 1), readBatchRows))
	return vd.arrow(cr, batch, &d.lv)
}

// interner makes one owned copy of each distinct string. The byte slices
// it gets point into page buffers, which are reused; copying each distinct
// value once (there are few: enum values and a handful of error messages)
// saves an allocation per row.
type interner struct {
	m    map[string]string
	last string // the previous value: a column tends to repeat one
}

func (in *interner) get(b []byte) string {
	if string(b) == in.last {
		return in.last
	}
	s, ok := in.m[string(b)]
	if !ok {
		if in.m == nil {
			in.m = make(map[string]string)
		}
		s = string(b)
		in.m[s] = s
	}
	in.last = s
	return s
}
