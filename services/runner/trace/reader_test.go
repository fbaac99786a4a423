package trace

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/klauspost/compress/zstd"
)

// writeArrow writes recs with pqarrow's generic writer, as another Arrow-
// based tool would, in a table of schema sc (arrowSchema or one that
// differs in nullability), with NULL for the zero values of nullable
// columns as SCHEMA.md says.
func writeArrow(t testing.TB, sc *arrow.Schema, recs []Record, rowGroupRows int64, props *parquet.WriterProperties, aprops pqarrow.ArrowWriterProperties) []byte {
	t.Helper()
	if reflect.TypeFor[Record]().NumField() != numColumns {
		t.Fatal("Record's fields are no longer the columns, in order")
	}
	b := array.NewRecordBuilder(memory.DefaultAllocator, sc)
	defer b.Release()
	for i := range recs {
		r := reflect.ValueOf(&recs[i]).Elem()
		for c := range numColumns {
			v, nullable := r.Field(c), sc.Field(c).Nullable
			switch fb := b.Field(c).(type) {
			case *array.Int64Builder:
				if nullable && v.Int() == 0 {
					fb.AppendNull()
				} else {
					fb.Append(v.Int())
				}
			case *array.Int32Builder:
				if nullable && v.Int() == 0 {
					fb.AppendNull()
				} else {
					fb.Append(int32(v.Int()))
				}
			case *array.StringBuilder:
				if nullable && v.String() == "" {
					fb.AppendNull()
				} else {
					fb.Append(v.String())
				}
			case *array.ListBuilder:
				fb.Append(true)
				fb.ValueBuilder().(*array.Int64Builder).AppendValues(v.Interface().([]int64), nil)
			default:
				t.Fatalf("column %d: builder %T", c, fb)
			}
		}
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	tbl := array.NewTableFromRecords(sc, []arrow.RecordBatch{rec})
	defer tbl.Release()
	var buf bytes.Buffer
	if err := pqarrow.WriteTable(tbl, &buf, rowGroupRows, props, aprops); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// otherWriter is a layout in which pqarrow's generic writer writes a
// trace, as another Arrow-based tool would.
type otherWriter struct {
	name    string
	byArrow bool // Read leaves its chunks to arrow-go's readers
	sc      *arrow.Schema
	rg      int64
	props   []parquet.WriterProperty
	aprops  []pqarrow.WriterOption
}

// write writes recs in the layout w, with rows rows a row group at most
// when rows is positive.
func (w otherWriter) write(t testing.TB, recs []Record, rows int64) []byte {
	t.Helper()
	rg := w.rg
	if rows > 0 {
		rg = rows
	}
	return writeArrow(t, w.sc, recs, rg, parquet.NewWriterProperties(w.props...), pqarrow.NewArrowWriterProperties(w.aprops...))
}

// otherWriters are layouts that the Writer does not use, which Read decodes
// either by itself (other encodings and codecs, several pages a chunk) or,
// for what its page decoder leaves alone (version 2 data pages, gzip), with
// arrow-go's readers. Their files have run id "elsewhere".
func otherWriters() []otherWriter {
	md := arrow.NewMetadata([]string{MetaKeyVersion, MetaKeyRunID}, []string{FormatVersion, "elsewhere"})
	traceSchema := arrow.NewSchema(arrowSchema.Fields(), &md)
	// pyarrow's habit: every column nullable, list elements too.
	var fields []arrow.Field
	for _, f := range arrowSchema.Fields() {
		f.Nullable = true
		if f.Name == ColITLNS {
			f.Type = arrow.ListOf(arrow.PrimitiveTypes.Int64)
		}
		fields = append(fields, f)
	}
	nullableSchema := arrow.NewSchema(fields, &md)
	return []otherWriter{
		{name: "defaults", sc: traceSchema, rg: 1 << 20},
		{name: "v2 pages", byArrow: true, sc: traceSchema, rg: 1000, props: []parquet.WriterProperty{
			parquet.WithDataPageVersion(parquet.DataPageV2), parquet.WithCompression(compress.Codecs.Zstd)}},
		{name: "plain small pages", sc: traceSchema, rg: 1000, props: []parquet.WriterProperty{
			parquet.WithDictionaryDefault(false), parquet.WithDataPageSize(512), parquet.WithBatchSize(64),
			parquet.WithCompression(compress.Codecs.Snappy)}},
		{name: "delta gzip", byArrow: true, sc: traceSchema, rg: 700, props: []parquet.WriterProperty{
			parquet.WithDictionaryDefault(false), parquet.WithEncoding(parquet.Encodings.DeltaBinaryPacked),
			parquet.WithEncodingFor(ColPhase, parquet.Encodings.Plain), parquet.WithEncodingFor(ColTokenSource, parquet.Encodings.Plain),
			parquet.WithEncodingFor(ColUsageSource, parquet.Encodings.Plain), parquet.WithEncodingFor(ColStatus, parquet.Encodings.Plain),
			parquet.WithEncodingFor(ColErrorClass, parquet.Encodings.Plain), parquet.WithEncodingFor(ColError, parquet.Encodings.Plain),
			parquet.WithCompression(compress.Codecs.Gzip)}},
		{name: "delta zstd small pages", sc: traceSchema, rg: 700, props: []parquet.WriterProperty{
			parquet.WithDictionaryDefault(false), parquet.WithEncoding(parquet.Encodings.DeltaBinaryPacked),
			parquet.WithEncodingFor(ColPhase, parquet.Encodings.Plain), parquet.WithEncodingFor(ColTokenSource, parquet.Encodings.Plain),
			parquet.WithEncodingFor(ColUsageSource, parquet.Encodings.Plain), parquet.WithEncodingFor(ColStatus, parquet.Encodings.Plain),
			parquet.WithEncodingFor(ColErrorClass, parquet.Encodings.Plain), parquet.WithEncodingFor(ColError, parquet.Encodings.Plain),
			parquet.WithDataPageSize(256), parquet.WithBatchSize(50), parquet.WithCompression(compress.Codecs.Zstd)}},
		{name: "uncompressed dictionary", sc: traceSchema, rg: 1000, props: []parquet.WriterProperty{
			parquet.WithDictionaryDefault(true), parquet.WithDataPageSize(1024), parquet.WithBatchSize(100)}},
		{name: "nullable with arrow schema", sc: nullableSchema, rg: 1000, aprops: []pqarrow.WriterOption{pqarrow.WithStoreSchema()}},
		{name: "nullable v2 pages", byArrow: true, sc: nullableSchema, rg: 1000, props: []parquet.WriterProperty{
			parquet.WithDataPageVersion(parquet.DataPageV2)}},
	}
}

// TestReadOtherWriters reads traces written by pqarrow's generic writer in
// the otherWriters layouts, with both decoders.
func TestReadOtherWriters(t *testing.T) {
	recs := randomRecords(17, 2500)
	for _, w := range otherWriters() {
		t.Run(w.name, func(t *testing.T) {
			data := w.write(t, recs, 0)
			meta, got, err := Read(bytes.NewReader(data), int64(len(data)))
			if err != nil {
				t.Fatal(err)
			}
			if meta.RunID != "elsewhere" {
				t.Fatalf("run id %q", meta.RunID)
			}
			requireEqualRecords(t, got, recs)
			if _, st := requireSameReads(t, data); (st.fallbacks > 0) != w.byArrow {
				t.Fatalf("%d column chunks fell back to arrow-go's readers; this layout should be read by %s", st.fallbacks, map[bool]string{false: "the page decoder", true: "arrow-go"}[w.byArrow])
			}
		})
	}
}

// TestReadNullListElement: a NULL in itl_ns, which the trace format does
// not allow, is an error, whichever decoder meets it.
func TestReadNullListElement(t *testing.T) {
	md := arrow.NewMetadata([]string{MetaKeyVersion}, []string{FormatVersion})
	var fields []arrow.Field
	for _, f := range arrowSchema.Fields() {
		if f.Name == ColITLNS {
			f.Type = arrow.ListOf(arrow.PrimitiveTypes.Int64)
		}
		fields = append(fields, f)
	}
	sc := arrow.NewSchema(fields, &md)
	for _, v2 := range []bool{false, true} {
		t.Run(fmt.Sprint("v2=", v2), func(t *testing.T) {
			version := parquet.DataPageV1
			if v2 {
				version = parquet.DataPageV2
			}
			data := writeGeneric(t, sc, func(b *array.RecordBuilder) {
				for c := range numColumns {
					switch fb := b.Field(c).(type) {
					case *array.Int64Builder:
						fb.Append(1)
					case *array.Int32Builder:
						fb.Append(1)
					case *array.StringBuilder:
						fb.Append("x")
					case *array.ListBuilder:
						fb.Append(true)
						fb.ValueBuilder().(*array.Int64Builder).AppendValues([]int64{1, 0}, []bool{true, false})
					}
				}
			}, parquet.WithDataPageVersion(version))
			if _, _, err := Read(bytes.NewReader(data), int64(len(data))); err == nil {
				t.Fatal("no error for a NULL list element")
			}
		})
	}
}

// TestReadsAreIndependent reads traces concurrently and one after another:
// Read reuses its buffers, and no Record may keep pointing into them.
func TestReadsAreIndependent(t *testing.T) {
	var files [][]byte
	var want [][]Record
	for i, n := range []int{3, 200, 1, RowGroupRows + 10} {
		recs := randomRecords(uint64(100+i), n)
		files = append(files, writeToBuffer(t, Metadata{}, recs))
		want = append(want, recs)
	}
	read := func(i int) []Record {
		_, recs, err := Read(bytes.NewReader(files[i]), int64(len(files[i])))
		if err != nil {
			t.Error(err)
		}
		return recs
	}

	kept := make([][]Record, len(files))
	for i := range files {
		kept[i] = read(i)
	}
	var wg sync.WaitGroup
	concurrent := make([][][]Record, 4)
	for g := range concurrent {
		wg.Go(func() {
			for i := range files {
				concurrent[g] = append(concurrent[g], read(i))
			}
		})
	}
	wg.Wait()
	for i := range files {
		requireEqualRecords(t, kept[i], want[i])
		for g := range concurrent {
			requireEqualRecords(t, concurrent[g][i], want[i])
		}
	}
}

// TestDecompressIsBounded: a page's compressed bytes cannot make the page
// decoder allocate or write more than the page header's uncompressed size,
// whatever a zstd frame or a snappy block declares.
func TestDecompressIsBounded(t *testing.T) {
	zeros := make([]byte, 64<<20)
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	var stream bytes.Buffer // a frame that does not declare its size
	sw, err := zstd.NewWriter(&stream, zstd.WithSingleSegment(false))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sw.Write(zeros); err != nil {
		t.Fatal(err)
	}
	if err := sw.Close(); err != nil {
		t.Fatal(err)
	}
	snappyBomb := binary.AppendUvarint(nil, 1<<30)
	snappyBomb = append(snappyBomb, 0, 0, 0, 0)

	for _, tc := range []struct {
		name  string
		codec compress.Compression
		src   []byte
	}{
		{"zstd frame of 64 MiB", compress.Codecs.Zstd, enc.EncodeAll(zeros, nil)},
		{"zstd stream of 64 MiB", compress.Codecs.Zstd, stream.Bytes()},
		{"snappy block of 1 GiB", compress.Codecs.Snappy, snappyBomb},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var cr chunkReader
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := cr.decompress(tc.codec, tc.src, 1000)
			runtime.ReadMemStats(&after)
			if !errors.Is(err, errCorrupt) {
				t.Fatalf("err = %v, want errCorrupt", err)
			}
			if n := after.TotalAlloc - before.TotalAlloc; n > 4<<20 {
				t.Fatalf("allocated %d bytes for a page of 1000", n)
			}

			// The same through the codec arrow-go's column readers use
			// (the fallback for pages the page decoder refuses).
			c, err := compress.GetCodec(tc.codec)
			if err != nil {
				t.Fatal(err)
			}
			runtime.ReadMemStats(&before)
			out, err := compress.Decode(c, make([]byte, 1000), tc.src)
			runtime.ReadMemStats(&after)
			if err == nil {
				t.Fatalf("arrow-go codec: decoded %d bytes into a page of 1000", len(out))
			}
			if n := after.TotalAlloc - before.TotalAlloc; n > 4<<20 {
				t.Fatalf("arrow-go codec: allocated %d bytes for a page of 1000", n)
			}
		})
	}

	// And a page that decompresses to what its header says reads.
	var cr chunkReader
	page := bytes.Repeat([]byte("trace "), 200)
	got, err := cr.decompress(compress.Codecs.Zstd, enc.EncodeAll(page, nil), len(page))
	if err != nil || !bytes.Equal(got, page) {
		t.Fatalf("zstd page: %v", err)
	}
}

// The limits hold the footer's declared counts, checked before anything is
// decoded: a file just within them reads, one just past them is refused
// with ErrTooLarge, and a small file that declares many rows costs nothing
// to refuse.
func TestReadLimits(t *testing.T) {
	recs := randomRecords(7, 100)
	data := writeToBuffer(t, Metadata{}, recs)
	levels := int64(0) // one per latency, and one for a row with none
	for _, r := range recs {
		levels += int64(max(len(r.ITLNS), 1))
	}
	read := func(opts ...ReadOption) error {
		_, _, err := Read(bytes.NewReader(data), int64(len(data)), opts...)
		return err
	}
	if err := read(WithMaxRows(100), WithMaxITLValues(levels)); err != nil {
		t.Fatalf("a file at the limits: %v", err)
	}
	if err := read(WithMaxRows(99)); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "100 rows declared, limit 99") {
		t.Fatalf("one row past the limit: err = %v, want ErrTooLarge naming 100 rows and the limit", err)
	}
	if err := read(WithMaxITLValues(levels - 1)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("one latency past the limit: err = %v, want ErrTooLarge", err)
	}

	// 200,000 identical rows compress to a few KiB; refusing them must not
	// decode them.
	same := make([]Record, 200_000)
	bomb := writeToBuffer(t, Metadata{}, same)
	if len(bomb) > 64<<10 {
		t.Fatalf("the test wants a small file: %d bytes", len(bomb))
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, _, err := Read(bytes.NewReader(bomb), int64(len(bomb)), WithMaxRows(1000))
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 2<<20 {
		t.Fatalf("refusing a %d-byte file allocated %d bytes", len(bomb), n)
	}
}
