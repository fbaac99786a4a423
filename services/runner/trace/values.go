package trace

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
)

// valueDecoder appends the non-NULL values of a column chunk, decoded, to
// its destination; there is one implementation for each physical type of
// a trace column. Either chunkReader.read feeds it pages, or arrow reads
// the chunk with arrow-go's column reader.
type valueDecoder interface {
	// dictionary decodes a dictionary page of n PLAIN values.
	dictionary(data []byte, n int) error
	// values decodes the n values of a data page of levels levels, in
	// encoding enc.
	values(enc parquet.Encoding, data []byte, n, levels int) error
	// reset drops what was decoded, to start the chunk again.
	reset()
	// arrow reads the whole chunk with cr, up to batch levels at a time,
	// appending its levels to lv.
	arrow(cr file.ColumnChunkReader, batch int, lv *levels) error
}

var errReaderType = errors.New("unexpected column reader type")

// errNoProgress: arrow-go's column reader has levels left to read but
// returns none (it does so for some damaged levels, where looping on would
// never end).
var errNoProgress = fmt.Errorf("%w: arrow-go's column reader is stuck (damaged levels?)", errCorrupt)

// int64Values decodes INT64 columns.
type int64Values struct {
	dst  *[]int64
	dict []int64
	idx  []int32
}

func (v *int64Values) dictionary(data []byte, n int) (err error) {
	v.dict, err = plainFixed(v.dict[:0], data, n, 8, getInt64)
	return err
}

func (v *int64Values) values(enc parquet.Encoding, data []byte, n, levels int) (err error) {
	switch enc {
	case parquet.Encodings.Plain:
		*v.dst, err = plainFixed(*v.dst, data, n, 8, getInt64)
	case parquet.Encodings.DeltaBinaryPacked:
		*v.dst, err = readDelta(*v.dst, data, n, levels, false)
	case parquet.Encodings.RLEDict, parquet.Encodings.PlainDict:
		*v.dst, err = lookUp(*v.dst, v.dict, data, n, &v.idx)
	default:
		err = errUnsupported
	}
	return err
}

// use starts a column chunk, whose values go to dst.
func (v *int64Values) use(dst *[]int64) *int64Values {
	v.dst, v.dict = dst, v.dict[:0]
	return v
}

func (v *int64Values) reset() { *v.dst, v.dict = (*v.dst)[:0], v.dict[:0] }

func (v *int64Values) arrow(cr file.ColumnChunkReader, batch int, lv *levels) (err error) {
	r, ok := cr.(*file.Int64ColumnChunkReader)
	if !ok {
		return errReaderType
	}
	*v.dst, err = readBatches(*v.dst, r, batch, lv)
	return err
}

func getInt64(b []byte) int64 { return int64(binary.LittleEndian.Uint64(b)) }

// int32Values decodes INT32 columns.
type int32Values struct {
	dst   *[]int32
	dict  []int32
	idx   []int32
	delta []int64
}

func (v *int32Values) dictionary(data []byte, n int) (err error) {
	v.dict, err = plainFixed(v.dict[:0], data, n, 4, getInt32)
	return err
}

func (v *int32Values) values(enc parquet.Encoding, data []byte, n, levels int) (err error) {
	switch enc {
	case parquet.Encodings.Plain:
		*v.dst, err = plainFixed(*v.dst, data, n, 4, getInt32)
	case parquet.Encodings.DeltaBinaryPacked:
		v.delta, err = readDelta(v.delta[:0], data, n, levels, true)
		*v.dst = slices.Grow(*v.dst, len(v.delta))
		for _, x := range v.delta {
			*v.dst = append(*v.dst, int32(x))
		}
	case parquet.Encodings.RLEDict, parquet.Encodings.PlainDict:
		*v.dst, err = lookUp(*v.dst, v.dict, data, n, &v.idx)
	default:
		err = errUnsupported
	}
	return err
}

// use starts a column chunk, whose values go to dst.
func (v *int32Values) use(dst *[]int32) *int32Values {
	v.dst, v.dict = dst, v.dict[:0]
	return v
}

func (v *int32Values) reset() { *v.dst, v.dict = (*v.dst)[:0], v.dict[:0] }

func (v *int32Values) arrow(cr file.ColumnChunkReader, batch int, lv *levels) (err error) {
	r, ok := cr.(*file.Int32ColumnChunkReader)
	if !ok {
		return errReaderType
	}
	*v.dst, err = readBatches(*v.dst, r, batch, lv)
	return err
}

func getInt32(b []byte) int32 { return int32(binary.LittleEndian.Uint32(b)) }

// stringValues decodes BYTE_ARRAY columns into interned strings. The
// values of a dictionary are interned once, and then each row that refers
// to one costs an index.
type stringValues struct {
	dst  *[]string
	dict []string
	idx  []int32
	in   *interner
}

func (v *stringValues) dictionary(data []byte, n int) (err error) {
	v.dict, err = plainStrings(v.dict[:0], data, n, v.in)
	return err
}

func (v *stringValues) values(enc parquet.Encoding, data []byte, n, _ int) (err error) {
	switch enc {
	case parquet.Encodings.Plain:
		*v.dst, err = plainStrings(*v.dst, data, n, v.in)
	case parquet.Encodings.RLEDict, parquet.Encodings.PlainDict:
		*v.dst, err = lookUp(*v.dst, v.dict, data, n, &v.idx)
	default:
		err = errUnsupported
	}
	return err
}

// use starts a column chunk, whose values go to dst, interned by in.
func (v *stringValues) use(dst *[]string, in *interner) *stringValues {
	v.dst, v.dict, v.in = dst, v.dict[:0], in
	return v
}

func (v *stringValues) reset() { *v.dst, v.dict = (*v.dst)[:0], v.dict[:0] }

func (v *stringValues) arrow(cr file.ColumnChunkReader, batch int, lv *levels) error {
	r, ok := cr.(*file.ByteArrayColumnChunkReader)
	if !ok {
		return errReaderType
	}
	descr := r.Descriptor()
	vals := make([]parquet.ByteArray, batch)
	for r.HasNext() {
		// Unlike ReadBatch, ReadBatchInPage does not copy each value: the
		// values point into the page, which the interner copies from
		// before the next page is read.
		def, rep := lv.room(descr.MaxDefinitionLevel(), descr.MaxRepetitionLevel(), batch)
		n, nvals, err := r.ReadBatchInPage(int64(batch), vals, def, rep)
		if err != nil {
			return err
		}
		if n == 0 {
			return errNoProgress
		}
		lv.add(def, rep, int(n))
		for _, b := range vals[:nvals] {
			*v.dst = append(*v.dst, v.in.get(b))
		}
	}
	return r.Err()
}

// intReader is file.Int32ColumnChunkReader or file.Int64ColumnChunkReader.
type intReader[T int32 | int64] interface {
	file.ColumnChunkReader
	ReadBatchInPage(batchSize int64, values []T, defLvls, repLvls []int16) (total int64, valuesRead int, err error)
}

// readBatches reads a column chunk to its end with r, up to batch levels at
// a time, appending its non-NULL values to dst and its levels to lv. It
// reads a page at a time, because arrow-go's ReadBatch loops forever on
// some damaged pages, from which ReadBatchInPage returns no levels.
func readBatches[T int32 | int64](dst []T, r intReader[T], batch int, lv *levels) ([]T, error) {
	descr := r.Descriptor()
	for r.HasNext() {
		k := len(dst)
		dst = slices.Grow(dst, batch)
		def, rep := lv.room(descr.MaxDefinitionLevel(), descr.MaxRepetitionLevel(), batch)
		n, nvals, err := r.ReadBatchInPage(int64(batch), dst[k:k+batch], def, rep)
		if err != nil {
			return dst[:k], err
		}
		if n == 0 {
			return dst[:k], errNoProgress
		}
		dst = dst[:k+nvals]
		lv.add(def, rep, int(n))
	}
	return dst, r.Err()
}

// room returns space for n more levels at the end of lv, for a column with
// the given maximum levels: nil for a kind of level the column has none of.
func (lv *levels) room(maxDef, maxRep int16, n int) (def, rep []int16) {
	if maxDef > 0 {
		lv.def = slices.Grow(lv.def, n)
		def = lv.def[len(lv.def) : len(lv.def)+n]
	}
	if maxRep > 0 {
		lv.rep = slices.Grow(lv.rep, n)
		rep = lv.rep[len(lv.rep) : len(lv.rep)+n]
	}
	return def, rep
}

// add extends lv over the first n levels of the room def and rep.
func (lv *levels) add(def, rep []int16, n int) {
	if def != nil {
		lv.def = lv.def[:len(lv.def)+n]
	}
	if rep != nil {
		lv.rep = lv.rep[:len(lv.rep)+n]
	}
}
