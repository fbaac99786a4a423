package trace

import (
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// batch holds up to RowGroupRows rows in column form, the shape Parquet
// wants, in plain Go slices that are reused from one row group to the next:
// after the first row group the Writer allocates almost nothing per row.
type batch struct {
	n       int
	ints    [numColumns][]int64 // the int64 columns; a 0 in a nullable one is NULL
	http    []int32             // 0 is NULL
	strs    [numColumns]dictColumn
	itlVals []int64 // every row's ITL values, end to end
	itlLens []int32 // the number of ITL values of each row
}

// dictColumn is a string column as indices into the distinct values seen in
// the current row group. Trace strings repeat (enum values, a few error
// messages), so this stores each one once and makes the per-row cost a
// comparison with the previous row's value, usually the same.
type dictColumn struct {
	nullable bool
	idx      []int32             // per row; -1 is NULL
	values   []parquet.ByteArray // the distinct values, UTF-8 checked
	bytes    int                 // their total length
	lookup   map[string]int32
	last     string
	lastIdx  int32
}

// initialRows is the row capacity a new batch starts with; it doubles up to
// RowGroupRows as rows come, so that a short trace does not pay for a full
// row group's buffers.
const initialRows = 1024

func newBatch() *batch {
	b := &batch{itlVals: make([]int64, 0, 16*initialRows)}
	for i, f := range arrowSchema.Fields() {
		if f.Type.ID() == arrow.STRING {
			b.strs[i] = dictColumn{nullable: f.Nullable, lookup: make(map[string]int32), lastIdx: -1}
		}
	}
	b.grow(initialRows)
	return b
}

// grow gives every per-row slice room for rows rows.
func (b *batch) grow(rows int) {
	b.http = growTo(b.http, rows)
	b.itlLens = growTo(b.itlLens, rows)
	for i, f := range arrowSchema.Fields() {
		switch f.Type.ID() {
		case arrow.INT64:
			b.ints[i] = growTo(b.ints[i], rows)
		case arrow.STRING:
			b.strs[i].idx = growTo(b.strs[i].idx, rows)
		}
	}
}

func growTo[T any](s []T, n int) []T {
	if len(s) >= n {
		return s
	}
	t := make([]T, n)
	copy(t, s)
	return t
}

// add stores r as row b.n. Storing by index into slices grown ahead,
// rather than appending, avoids rewriting a slice header (and its GC write
// barrier) per value.
func (b *batch) add(r *Record) {
	n := b.n
	if n == len(b.http) {
		b.grow(min(2*n, RowGroupRows))
	}
	b.ints[iIndex][n] = r.Index
	b.strs[iPhase].set(n, string(r.Phase))
	b.ints[iScheduledNS][n] = r.ScheduledNS
	b.ints[iSentNS][n] = r.SentNS
	b.ints[iFirstChunkNS][n] = r.FirstChunkNS
	b.ints[iFirstTokenNS][n] = r.FirstTokenNS
	b.ints[iLastTokenNS][n] = r.LastTokenNS
	b.ints[iEndNS][n] = r.EndNS
	b.ints[iPromptTokens][n] = r.PromptTokens
	b.ints[iCompletionTokens][n] = r.CompletionTokens
	b.strs[iTokenSource].set(n, string(r.TokenSource))
	b.strs[iUsageSource].set(n, string(r.UsageSource))
	b.ints[iContentChunks][n] = r.ContentChunks
	b.itlVals = append(b.itlVals, r.ITLNS...)
	b.itlLens[n] = int32(len(r.ITLNS))
	b.strs[iStatus].set(n, string(r.Status))
	b.strs[iErrorClass].set(n, string(r.ErrorClass))
	b.strs[iError].set(n, r.Error)
	b.http[n] = r.HTTPStatus
	b.ints[iServerReceivedNS][n] = r.ServerReceivedNS
	b.ints[iServerFirstTokenNS][n] = r.ServerFirstTokenNS
	b.n = n + 1
}

// set stores s as the value of row n.
func (d *dictColumn) set(n int, s string) {
	switch {
	case s == "" && d.nullable:
		d.idx[n] = -1
		return
	case d.lastIdx >= 0 && s == d.last:
		d.idx[n] = d.lastIdx
		return
	}
	i, ok := d.lookup[s]
	if !ok {
		// Key by the stored (UTF-8 checked) value too, so that two invalid
		// strings that clean up alike share one dictionary entry: a
		// dictionary with duplicates would force pqarrow to plain encoding.
		v := validUTF8(s)
		if i, ok = d.lookup[v]; !ok {
			i = int32(len(d.values))
			d.values = append(d.values, parquet.ByteArray(v))
			d.bytes += len(v)
			d.lookup[v] = i
		}
		d.lookup[s] = i
	}
	d.last, d.lastIdx = s, i
	d.idx[n] = i
}

// reset empties the batch for the next row group, keeping its memory.
func (b *batch) reset() {
	b.n = 0
	for i := range b.strs {
		d := &b.strs[i]
		if d.lookup == nil {
			continue
		}
		clear(d.values) // drop the strings, keep the memory
		d.values, d.bytes, d.last, d.lastIdx = d.values[:0], 0, "", -1
		clear(d.lookup)
	}
	b.itlVals = b.itlVals[:0]
}

// encode writes the column as an Arrow dictionary array, which pqarrow
// hands to the Parquet dictionary encoder as a dictionary plus indices. The
// alternative, a Parquet ByteArray batch, hashes every row's string again
// (with an allocation each: most of the writer's garbage), although the
// batch already knows which distinct value each row holds.
func (d *dictColumn) encode(cw file.ColumnChunkWriter, n int, s *scratch) error {
	if d.bytes > int(cw.Properties().DictionaryPageSizeLimit()) {
		// Too many distinct values (error messages that all differ):
		// pqarrow would write one oversized dictionary page. Write the
		// values instead and let the Parquet writer fall back to plain
		// encoding at its dictionary limit, as for any other column.
		return d.encodeValues(cw, n, s)
	}
	mem := memory.DefaultAllocator

	db := array.NewStringBuilder(mem)
	defer db.Release()
	for _, v := range d.values {
		db.BinaryBuilder.Append(v)
	}
	dict := db.NewArray()
	defer dict.Release()

	// NULL rows (index -1) get index 0 and a cleared validity bit; the
	// Arrow indices are then always in range of the dictionary.
	s.i32 = resize(s.i32, n)
	var (
		def       []int16
		validity  *memory.Buffer
		nulls     int
		leafNulls bool
	)
	if d.nullable {
		leafNulls = true
		s.def = resize(s.def, n)
		def = s.def
		s.bits = resize(s.bits, int(bitutil.BytesForBits(int64(n))))
		clear(s.bits)
		for i, ix := range d.idx[:n] {
			if ix < 0 {
				s.i32[i], def[i] = 0, 0
				nulls++
			} else {
				s.i32[i], def[i] = ix, 1
				bitutil.SetBit(s.bits, i)
			}
		}
		validity = memory.NewBufferBytes(s.bits)
	} else {
		copy(s.i32, d.idx[:n])
	}
	idxData := array.NewData(arrow.PrimitiveTypes.Int32, n,
		[]*memory.Buffer{validity, memory.NewBufferBytes(arrow.Int32Traits.CastToBytes(s.i32))}, nil, nulls, 0)
	defer idxData.Release()
	indices := array.MakeFromData(idxData)
	defer indices.Release()

	arr := array.NewDictionaryArray(&arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}, indices, dict)
	defer arr.Release()
	return pqarrow.WriteArrowToColumn(pqarrow.NewArrowWriteContext(context.Background(), nil), cw, arr, def, nil, leafNulls)
}

// encodeValues writes the column as a batch of Parquet byte arrays.
func (d *dictColumn) encodeValues(cw file.ColumnChunkWriter, n int, s *scratch) error {
	w, ok := cw.(*file.ByteArrayColumnChunkWriter)
	if !ok {
		return fmt.Errorf("unexpected writer %T", cw)
	}
	vals := s.ba[:0]
	var def []int16
	if d.nullable {
		s.def = resize(s.def, n)
		def = s.def
	}
	for i, ix := range d.idx[:n] {
		if def != nil {
			if ix < 0 {
				def[i] = 0
				continue
			}
			def[i] = 1
		}
		vals = append(vals, d.values[ix])
	}
	_, err := w.WriteBatch(vals, def, nil)
	clear(vals) // drop references to the batch's strings
	s.ba = vals[:0]
	return err
}

// scratch holds one encoding goroutine's level and value buffers, reused
// across columns and row groups.
type scratch struct {
	def, rep []int16
	i64      []int64
	i32      []int32
	bits     []byte
	ba       []parquet.ByteArray
}

func resize[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// pageFlusher is implemented by every typed column writer of arrow-go's
// file package (the method of their embedded columnWriter).
type pageFlusher interface{ FlushCurrentPage() error }

// encodeColumn writes column c of the batch to its column chunk writer of a
// buffered row group. Columns are independent there, so several goroutines
// may run this at once on different columns, each with its own scratch.
//
// Definition and repetition levels follow the Parquet schema that
// pqarrow.ToParquet derives from arrowSchema: a nullable column has max
// definition level 1 (0 = NULL); itl_ns is a required LIST of required
// int64, so an empty list is one level pair (def 0, rep 0) and each value
// has def 1 and rep 0 when it starts a row, 1 otherwise.
func (b *batch) encodeColumn(rgw file.BufferedRowGroupWriter, c int, s *scratch) error {
	cw, err := rgw.Column(c)
	if err != nil {
		return err
	}
	n := b.n
	switch c {
	case iIndex, iPromptTokens, iCompletionTokens, iContentChunks:
		w, ok := cw.(*file.Int64ColumnChunkWriter)
		if !ok {
			return fmt.Errorf("column %s: unexpected writer %T", arrowSchema.Field(c).Name, cw)
		}
		_, err = w.WriteBatch(b.ints[c][:n], nil, nil)

	case iScheduledNS, iSentNS, iFirstChunkNS, iFirstTokenNS, iLastTokenNS, iEndNS, iServerReceivedNS, iServerFirstTokenNS:
		w, ok := cw.(*file.Int64ColumnChunkWriter)
		if !ok {
			return fmt.Errorf("column %s: unexpected writer %T", arrowSchema.Field(c).Name, cw)
		}
		s.def = resize(s.def, n)
		vals := s.i64[:0]
		for i, v := range b.ints[c][:n] {
			if v == 0 {
				s.def[i] = 0
			} else {
				s.def[i] = 1
				vals = append(vals, v)
			}
		}
		s.i64 = vals
		_, err = w.WriteBatch(vals, s.def, nil)

	case iHTTPStatus:
		w, ok := cw.(*file.Int32ColumnChunkWriter)
		if !ok {
			return fmt.Errorf("column %s: unexpected writer %T", arrowSchema.Field(c).Name, cw)
		}
		s.def = resize(s.def, n)
		vals := s.i32[:0]
		for i, v := range b.http[:n] {
			if v == 0 {
				s.def[i] = 0
			} else {
				s.def[i] = 1
				vals = append(vals, v)
			}
		}
		s.i32 = vals
		_, err = w.WriteBatch(vals, s.def, nil)

	case iPhase, iTokenSource, iUsageSource, iStatus, iErrorClass, iError:
		err = b.strs[c].encode(cw, n, s)

	case iITLNS:
		w, ok := cw.(*file.Int64ColumnChunkWriter)
		if !ok {
			return fmt.Errorf("column %s: unexpected writer %T", arrowSchema.Field(c).Name, cw)
		}
		levels := 0
		for _, l := range b.itlLens[:n] {
			levels += max(int(l), 1)
		}
		s.def, s.rep = resize(s.def, levels), resize(s.rep, levels)
		def, rep := s.def, s.rep
		j := 0
		for _, l := range b.itlLens[:n] {
			if l == 0 {
				def[j], rep[j] = 0, 0
				j++
				continue
			}
			def[j], rep[j] = 1, 0
			for k := j + 1; k < j+int(l); k++ {
				def[k], rep[k] = 1, 1
			}
			j += int(l)
		}
		_, err = w.WriteBatch(b.itlVals, def, rep)

	default:
		return fmt.Errorf("column %d: no encoder", c)
	}
	if err != nil {
		return fmt.Errorf("column %s: %w", arrowSchema.Field(c).Name, err)
	}

	// Compress the last, partial page here, in parallel with the other
	// columns, rather than in the row group's Close, which runs serially.
	// The page statistics count the levels buffered since the last page
	// (values and NULLs), so this never makes an empty page.
	if st := cw.PageStatistics(); st != nil && st.NumValues()+st.NullCount() > 0 {
		if f, ok := cw.(pageFlusher); ok {
			if err := f.FlushCurrentPage(); err != nil {
				return fmt.Errorf("column %s: %w", arrowSchema.Field(c).Name, err)
			}
		}
	}
	return nil
}
