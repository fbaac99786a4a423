package trace

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"slices"
	"sync"

	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/metadata"
	"github.com/klauspost/compress/zstd"
)

// This file decodes column chunks straight from the file's bytes, for the
// page layouts and encodings that the Writer produces: version 1 data pages
// with RLE levels, and PLAIN, dictionary or DELTA_BINARY_PACKED values,
// uncompressed or compressed with zstd or snappy. arrow-go's column readers
// do the same work but spend most of a short trace's Read setting
// themselves up (buffers, decoders, page statistics) for each of its twenty
// column chunks.
//
// The page decoder never has the last word on a file: whenever it cannot
// decode a column chunk, because the chunk uses something it leaves alone
// (errUnsupported: a file from another writer, say) or because the chunk
// is not what it expects (errCorrupt), the reader decodes that chunk again
// with arrow-go, whose answer stands (see decoder.readColumn). So the page
// decoder has to agree with arrow-go on every chunk it does decode, and
// otherwise only has to fail safely: it checks every length, count, offset
// and bit width it reads before it slices or allocates with it, it never
// produces more than a page header announces, and where arrow-go is stricter
// than the format (a page with no values, a header over 4 MiB) it is at
// least as strict. FuzzRead checks the agreement.
//
// Parquet's format is described in parquet.thrift and Encodings.md of
// https://github.com/apache/parquet-format.

// errUnsupported reports a column chunk that chunkReader does not decode
// but arrow-go may: the caller reads the chunk with arrow-go instead.
var errUnsupported = errors.New("unsupported by the page decoder")

// errCorrupt is wrapped by the errors that the decoder finds in its input.
var errCorrupt = errors.New("corrupt parquet file")

func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errCorrupt, fmt.Sprintf(format, args...))
}

// Limits on what a page may claim. Read gives arrow-go's reader the same
// page size limits, so that both decoders refuse the same pages.
const (
	// maxPageSize bounds the uncompressed size of a page, and so the
	// buffer that one is decompressed into. It is arrow-go's default;
	// the Writer's pages are about 1 MiB.
	maxPageSize = parquet.DefaultMaxUncompressedPageSize // 256 MiB
	// maxCompressedPageSize bounds the stored size of a page (arrow-go's
	// default).
	maxCompressedPageSize = parquet.DefaultMaxCompressedPageSize // 64 MiB
	// maxPageHeaderSize is the largest page header arrow-go reads.
	maxPageHeaderSize = 4 << 20
)

// Page types (parquet.thrift PageType).
const (
	dataPage       = 0
	dictionaryPage = 2
)

// levels holds the definition and repetition levels of a column chunk.
// A column with a maximum level of 0 stores no levels of that kind.
type levels struct {
	def, rep []int16
}

// chunkReader reads column chunks from one file. It keeps its buffers from
// one chunk to the next.
type chunkReader struct {
	r    io.ReaderAt
	size int64
	raw  []byte // the chunk as stored
	page []byte // one page, decompressed
}

// chunkMeta is what the reader uses of a column chunk's metadata.
// checkDeclaredSizes takes it from the footer as it checks the declared
// counts, so that the footer is walked once: making arrow-go's
// ColumnChunkMetaData again for each chunk to decode would allocate
// as much again.
type chunkMeta struct {
	start, size      int64 // where the chunk is in the file (see chunkMetaOf)
	uncompressedSize int64 // of its pages, headers included, all together
	numValues        int64 // its levels: values, NULLs and empty lists
	codec            compress.Compression
	encrypted        bool // left to arrow-go
}

// chunkMetaOf returns what the reader uses of cc. The chunk's extent is
// as arrow-go works it out: the chunk starts at its dictionary page, if
// any, and some writers record a dictionary offset of 0 for none.
func chunkMetaOf(cc *metadata.ColumnChunkMetaData) chunkMeta {
	start := cc.DataPageOffset()
	if off := cc.DictionaryPageOffset(); cc.HasDictionaryPage() && off > 0 && off < start {
		start = off
	}
	return chunkMeta{
		start:            start,
		size:             cc.TotalCompressedSize(),
		uncompressedSize: cc.TotalUncompressedSize(),
		numValues:        cc.NumValues(),
		codec:            cc.Compression(),
		encrypted:        cc.CryptoMetadata() != nil,
	}
}

// read decodes column chunk cm of a column with the given maximum levels,
// appending its levels to lv and its values to vd. An error wraps
// errUnsupported or errCorrupt, except for an error from the file's
// io.ReaderAt, which it wraps as it is.
func (cr *chunkReader) read(cm *chunkMeta, maxDef, maxRep int16, lv *levels, vd valueDecoder) error {
	if cm.encrypted {
		return errUnsupported
	}
	codec := cm.codec
	switch codec {
	case compress.Codecs.Uncompressed, compress.Codecs.Zstd, compress.Codecs.Snappy:
	default:
		return errUnsupported // arrow-go has the others
	}
	start, size := cm.start, cm.size
	if start < 0 || size < 0 || start > cr.size || size > cr.size-start {
		return corrupt("column chunk [%d, +%d) outside the file of %d bytes", start, size, cr.size)
	}
	cr.raw = resize(cr.raw, int(size))
	if n, err := cr.r.ReadAt(cr.raw, start); n < len(cr.raw) {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("reading column chunk [%d, +%d): %w", start, size, err)
	}

	// Pages follow one another to the end of the chunk; like arrow-go,
	// stop once the chunk's level count has been read. The metadata's
	// uncompressed size of the chunk (page headers included) bounds what
	// its pages may decompress to, all together.
	b := cr.raw
	budget := cm.uncompressedSize
	dict := false // whether the dictionary page has been read
	for left := cm.numValues; left > 0 && len(b) > 0; {
		var h pageHeader
		n, err := h.parse(b)
		if err != nil {
			return err
		}
		switch {
		case n > maxPageHeaderSize:
			return corrupt("page header of %d bytes", n)
		case h.compressedSize < 0 || h.uncompressedSize < 0:
			return corrupt("negative page size")
		case int64(h.compressedSize) > maxCompressedPageSize:
			return corrupt("page of %d bytes, over the limit of %d", h.compressedSize, maxCompressedPageSize)
		case int64(h.uncompressedSize) > maxPageSize:
			return corrupt("page of %d bytes uncompressed, over the limit of %d", h.uncompressedSize, maxPageSize)
		case int(h.compressedSize) > len(b)-n:
			return corrupt("page of %d bytes where %d are left in the column chunk", h.compressedSize, len(b)-n)
		}
		budget -= int64(n) + int64(h.uncompressedSize)
		if budget < 0 {
			return corrupt("pages larger than the column chunk's uncompressed size of %d bytes", cm.uncompressedSize)
		}
		stored := b[n : n+int(h.compressedSize)]
		b = b[n+int(h.compressedSize):]

		switch h.typ {
		case dictionaryPage:
			switch {
			case !h.hasDict:
				return corrupt("dictionary page without its header")
			case dict:
				return corrupt("a second dictionary page")
			case h.dict.numValues < 0:
				return corrupt("dictionary page of %d values", h.dict.numValues)
			case h.dict.encoding != int32(parquet.Encodings.Plain) && h.dict.encoding != int32(parquet.Encodings.PlainDict):
				return errUnsupported
			}
		case dataPage:
			switch {
			case !h.hasData:
				return corrupt("data page without its header")
			case h.data.numValues < 0 || int64(h.data.numValues) > left:
				return corrupt("data page of %d values where %d are left in the column chunk", h.data.numValues, left)
			case h.data.numValues == 0:
				return errUnsupported // arrow-go stops reading the chunk at an empty page
			}
		default:
			// Version 2 data pages, index pages, page types to come:
			// arrow-go reads or skips them.
			return errUnsupported
		}

		data, err := cr.decompress(codec, stored, int(h.uncompressedSize))
		if err != nil {
			return err
		}
		if h.typ == dictionaryPage {
			dict = true
			if err := vd.dictionary(data, int(h.dict.numValues)); err != nil {
				return err
			}
			continue
		}
		enc := parquet.Encoding(h.data.encoding)
		if !dict && (enc == parquet.Encodings.RLEDict || enc == parquet.Encodings.PlainDict) {
			// arrow-go looks for the dictionary at the chunk's dictionary
			// page offset: let it.
			return errUnsupported
		}
		left -= int64(h.data.numValues)
		if err := readDataPage(&h.data, data, maxDef, maxRep, lv, vd); err != nil {
			return err
		}
	}
	return nil
}

// zstdDecoder decompresses zstd pages. Unlike arrow-go's, it writes no
// more than the capacity of the buffer it is given (the page header's
// uncompressed size), whatever the zstd frames declare.
var zstdDecoder = sync.OnceValues(func() (*zstd.Decoder, error) {
	return zstd.NewReader(nil, zstd.WithDecodeAllCapLimit(true), zstd.WithDecoderMaxMemory(uint64(maxPageSize)))
})

// decompress returns the page stored as src, size bytes once decompressed.
// The result may be cr.page, valid until the next call.
func (cr *chunkReader) decompress(codec compress.Compression, src []byte, size int) ([]byte, error) {
	var (
		out []byte
		err error
	)
	switch codec {
	case compress.Codecs.Uncompressed:
		out = src
	case compress.Codecs.Zstd:
		cr.page = resize(cr.page, size)
		out, err = decodeZstdCapped(cr.page[:size], src)
	case compress.Codecs.Snappy:
		cr.page = resize(cr.page, size)
		out, err = decodeSnappyCapped(cr.page[:size], src)
	default:
		return nil, errUnsupported
	}
	if err != nil {
		return nil, corrupt("decompressing a page: %v", err)
	}
	if len(out) != size {
		return nil, corrupt("page of %d bytes where its header says %d", len(out), size)
	}
	return out, nil
}

// readDataPage decodes a version 1 data page: repetition levels, then
// definition levels, then the non-NULL values.
func readDataPage(h *dataPageHeader, data []byte, maxDef, maxRep int16, lv *levels, vd valueDecoder) error {
	n := int(h.numValues)
	var err error
	if maxRep > 0 {
		if data, err = readLevels(&lv.rep, data, h.repEncoding, maxRep, n); err != nil {
			return fmt.Errorf("repetition levels: %w", err)
		}
	}
	nvals := n
	if maxDef > 0 {
		if data, err = readLevels(&lv.def, data, h.defEncoding, maxDef, n); err != nil {
			return fmt.Errorf("definition levels: %w", err)
		}
		nvals = 0
		for _, l := range lv.def[len(lv.def)-n:] {
			if l == maxDef {
				nvals++
			}
		}
	}
	return vd.values(parquet.Encoding(h.encoding), data, nvals, n)
}

// readLevels appends n levels, from 0 to max, to dst from the start of
// data, where they are stored with a 4-byte length, and returns the rest of
// data.
func readLevels(dst *[]int16, data []byte, enc int32, max int16, n int) ([]byte, error) {
	if parquet.Encoding(enc) != parquet.Encodings.RLE {
		return nil, errUnsupported // BIT_PACKED: deprecated, and never written by arrow-go
	}
	if len(data) < 4 {
		return nil, corrupt("page too short for its levels")
	}
	size := binary.LittleEndian.Uint32(data)
	if uint64(size) > uint64(len(data)-4) {
		return nil, corrupt("levels of %d bytes in a page of %d", size, len(data))
	}
	start := len(*dst)
	var err error
	if *dst, err = readHybrid(*dst, data[4:4+size], bits.Len16(uint16(max)), n); err != nil {
		return nil, err
	}
	// Bit-packed levels cannot exceed 1<<width-1, but a run of one
	// value stores it in whole bytes.
	for _, l := range (*dst)[start:] {
		if l < 0 || l > max {
			return nil, corrupt("level %d outside [0, %d]", l, max)
		}
	}
	return data[4+size:], nil
}

// readHybrid appends n values of the given bit width (at most 32), stored
// in the RLE/bit-packing hybrid encoding at the start of b, to dst. A value
// of a run stored whole may not fit the width; the caller checks values.
//
// Like arrow-go, it refuses empty runs and runs longer than an int32
// counts, so that both decoders take the same bytes for the same values.
func readHybrid[T int16 | int32](dst []T, b []byte, width, n int) ([]T, error) {
	if width < 0 || width > 32 {
		return dst, corrupt("bit width %d", width)
	}
	for n > 0 {
		h, hlen := binary.Uvarint(b)
		if hlen <= 0 {
			return dst, corrupt("bad run header")
		}
		b = b[hlen:]
		runs := h >> 1
		if h&1 == 0 { // a run of one value, stored in whole bytes
			if runs == 0 || runs > math.MaxInt32 {
				return dst, corrupt("run of %d values", runs)
			}
			size := (width + 7) / 8
			if len(b) < size {
				return dst, corrupt("truncated run")
			}
			var v uint32
			for i := range size {
				v |= uint32(b[i]) << (8 * i)
			}
			b = b[size:]
			count := int(min(runs, uint64(n)))
			k := len(dst)
			dst = slices.Grow(dst, count)[:k+count]
			for i := range dst[k:] {
				dst[k+i] = T(v)
			}
			n -= count
			continue
		}
		// runs groups of 8 bit-packed values, each group width bytes;
		// the last run may hold padding past the n wanted.
		if runs == 0 || runs > math.MaxInt32/8 {
			return dst, corrupt("bit-packed run of %d groups", runs)
		}
		count := min(int(runs)*8, n)
		if (count*width+7)/8 > len(b) {
			return dst, corrupt("truncated bit-packed run")
		}
		k := len(dst)
		dst = slices.Grow(dst, count)[:k+count]
		unpack(dst[k:], b, width)
		n -= count
		b = b[min(int(runs)*width, len(b)):]
	}
	return dst, nil
}

// unpack sets each element of dst to the next width bits (at most 64) of
// b, least significant first. b must hold them.
func unpack[T int16 | int32 | int64](dst []T, b []byte, width int) {
	mask := uint64(1)<<width - 1 // all ones for 64: 1<<64 is 0 in Go
	i, bit := 0, 0
	if width <= 56 {
		// A value this narrow lies within the 8 bytes from the one it
		// starts in, which one load gets while 8 bytes remain.
		for ; i < len(dst) && bit>>3+8 <= len(b); i++ {
			dst[i] = T(binary.LittleEndian.Uint64(b[bit>>3:]) >> (bit & 7) & mask)
			bit += width
		}
	}
	for ; i < len(dst); i++ {
		dst[i] = T(readBits(b, bit, width))
		bit += width
	}
}

// readBits returns the width bits (at most 64) that start bit bits into b,
// least significant first. b must hold them.
func readBits(b []byte, bit, width int) uint64 {
	var buf [9]byte // a value can span 9 bytes
	copy(buf[:], b[bit>>3:])
	shift := uint(bit & 7)
	v := binary.LittleEndian.Uint64(buf[:])>>shift | uint64(buf[8])<<(64-shift) // hi<<64 is 0
	return v & (1<<width - 1)
}

// maxDeltaBlock bounds the values in a block of DELTA_BINARY_PACKED
// (writers use 128).
const maxDeltaBlock = 1 << 20

// readDelta appends n values in the DELTA_BINARY_PACKED encoding at the
// start of b, a page of levels levels, to dst. Arithmetic wraps, as the
// encoding specifies. For an INT32 column (is32), it checks what arrow-go's
// INT32 decoder checks; its values come out right once truncated.
func readDelta(dst []int64, b []byte, n, levels int, is32 bool) ([]int64, error) {
	var hdr [4]uint64
	for i := range hdr {
		v, k := binary.Uvarint(b)
		if k <= 0 {
			return dst, corrupt("bad delta header")
		}
		hdr[i], b = v, b[k:]
	}
	blockSize, miniblocks, total := hdr[0], hdr[1], hdr[2]
	v := zigzag(hdr[3]) // the first value
	if blockSize == 0 || blockSize%128 != 0 || blockSize > maxDeltaBlock ||
		miniblocks == 0 || blockSize%miniblocks != 0 || (blockSize/miniblocks)%32 != 0 {
		return dst, corrupt("delta block of %d values in %d miniblocks", blockSize, miniblocks)
	}
	// arrow-go wants no more values than levels, and enough for the
	// non-NULL ones.
	if total < uint64(n) || total > uint64(levels) {
		return dst, corrupt("%d delta-encoded values in a page of %d levels, %d of them values", total, levels, n)
	}
	maxWidth := 64
	if is32 {
		maxWidth = 32
		if v != int64(int32(v)) {
			return dst, corrupt("first value %d of an INT32 column", v)
		}
	}
	if n == 0 {
		return dst, nil
	}
	per := int(blockSize / miniblocks)
	dst = append(dst, v)
	for n--; n > 0; {
		u, k := binary.Uvarint(b)
		if k <= 0 || uint64(len(b)-k) < miniblocks {
			return dst, corrupt("truncated delta block")
		}
		md := zigzag(u) // the block's minimum delta
		if is32 && md != int64(int32(md)) {
			return dst, corrupt("minimum delta %d of an INT32 column", md)
		}
		widths := b[k : k+int(miniblocks)]
		b = b[k+int(miniblocks):]
		for _, w := range widths {
			if n == 0 {
				break
			}
			width := int(w)
			if width > maxWidth {
				return dst, corrupt("delta bit width %d", width)
			}
			// A miniblock is stored whole, padding included, even when
			// fewer of its values are wanted.
			size := per * width / 8
			if size > len(b) {
				return dst, corrupt("truncated delta miniblock")
			}
			count := min(per, n)
			k := len(dst)
			dst = slices.Grow(dst, count)[:k+count]
			unpack(dst[k:], b, width)
			for i, x := range dst[k:] {
				v += md + x // wraps, as it must
				dst[k+i] = v
			}
			n -= count
			b = b[size:]
		}
	}
	return dst, nil
}

func zigzag(u uint64) int64 { return int64(u>>1) ^ -int64(u&1) }

// plainFixed appends n PLAIN values of size bytes each from data to dst.
func plainFixed[T any](dst []T, data []byte, n, size int, get func([]byte) T) ([]T, error) {
	if n < 0 || n > len(data)/size {
		return dst, corrupt("%d values of %d bytes in %d bytes", n, size, len(data))
	}
	dst = slices.Grow(dst, n)
	for i := range n {
		dst = append(dst, get(data[i*size:]))
	}
	return dst, nil
}

// plainStrings appends n PLAIN byte arrays (each a 4-byte length and the
// bytes) from data to dst.
func plainStrings(dst []string, data []byte, n int, in *interner) ([]string, error) {
	for range n {
		if len(data) < 4 {
			return dst, corrupt("truncated byte array")
		}
		size := binary.LittleEndian.Uint32(data)
		if uint64(size) > uint64(len(data)-4) {
			return dst, corrupt("byte array of %d bytes in %d", size, len(data)-4)
		}
		dst = append(dst, in.get(data[4:4+size]))
		data = data[4+size:]
	}
	return dst, nil
}

// lookUp appends the dictionary entries of n dictionary indices, stored
// as a bit width byte and the RLE/bit-packing hybrid, from data to dst.
// idx is scratch space.
func lookUp[T any](dst []T, dict []T, data []byte, n int, idx *[]int32) ([]T, error) {
	// arrow-go checks the width even of a page without values.
	if len(data) > 0 && data[0] > 32 {
		return dst, corrupt("dictionary index width %d", data[0])
	}
	if n == 0 {
		return dst, nil
	}
	if len(data) < 1 {
		return dst, corrupt("missing dictionary index width")
	}
	if data[0] == 0 {
		// Writers use width 0 for a dictionary of one entry. arrow-go's
		// decoder reads runs of width 0 as the value of the last byte it
		// read, not 0; leave such pages to it, so both decoders agree.
		return dst, errUnsupported
	}
	var err error
	if *idx, err = readHybrid((*idx)[:0], data[1:], int(data[0]), n); err != nil {
		return dst, err
	}
	dst = slices.Grow(dst, n)
	for _, i := range *idx {
		if i < 0 || int(i) >= len(dict) {
			return dst, corrupt("dictionary index %d of %d entries", i, len(dict))
		}
		dst = append(dst, dict[i])
	}
	return dst, nil
}

// pageHeader holds the fields of a Parquet PageHeader that the reader
// uses.
type pageHeader struct {
	typ              int32
	uncompressedSize int32
	compressedSize   int32
	hasData, hasDict bool
	data             dataPageHeader // if hasData
	dict             dictPageHeader // if hasDict
}

// dataPageHeader holds the fields of a DataPageHeader.
type dataPageHeader struct {
	numValues   int32
	encoding    int32
	defEncoding int32
	repEncoding int32
}

// dictPageHeader holds the fields of a DictionaryPageHeader.
type dictPageHeader struct {
	numValues int32
	encoding  int32
}

// parse decodes the thrift-encoded PageHeader at the start of b and
// returns its length. Like arrow-go's thrift code, it rejects a header that
// lacks a field that parquet.thrift requires, and it skips fields of an
// unexpected type (and keeps the last of fields that repeat).
func (h *pageHeader) parse(b []byte) (int, error) {
	t := thriftReader{b: b}
	var got uint // 1<<id for each required field read
	t.fields(func(id int16, typ byte) {
		switch {
		case id == 1 && typ == thriftI32:
			h.typ = t.i32()
		case id == 2 && typ == thriftI32:
			h.uncompressedSize = t.i32()
		case id == 3 && typ == thriftI32:
			h.compressedSize = t.i32()
		case id == 5 && typ == thriftStruct: // DataPageHeader
			h.data = dataPageHeader{}
			h.hasData = t.i32Fields(&h.data.numValues, &h.data.encoding, &h.data.defEncoding, &h.data.repEncoding)
			if !h.hasData && t.err == nil {
				t.err = corrupt("data page header without a required field")
			}
			return
		case id == 7 && typ == thriftStruct: // DictionaryPageHeader
			h.dict = dictPageHeader{}
			h.hasDict = t.i32Fields(&h.dict.numValues, &h.dict.encoding)
			if !h.hasDict && t.err == nil {
				t.err = corrupt("dictionary page header without a required field")
			}
			return
		default:
			t.skip(typ, 0)
			return
		}
		got |= 1 << id
	})
	if t.err != nil {
		return 0, t.err
	}
	if want := uint(1<<1 | 1<<2 | 1<<3); got&want != want {
		return 0, corrupt("page header without a required field")
	}
	return t.pos, nil
}

// Thrift compact protocol types.
const (
	thriftStop   = 0
	thriftTrue   = 1
	thriftFalse  = 2
	thriftI32    = 5
	thriftI64    = 6
	thriftBinary = 8
	thriftStruct = 12
)

// thriftReader decodes the thrift compact protocol, just enough of it for
// the page headers that Parquet writers write: structs of integers,
// booleans and byte strings (page statistics). Anything else in a header
// (lists, maps, doubles) makes it give up, leaving the chunk to arrow-go.
// The first error sticks; after it every read returns 0.
type thriftReader struct {
	b   []byte
	pos int
	err error
}

func (t *thriftReader) fail(err error) {
	if t.err == nil {
		t.err = err
	}
	t.pos = len(t.b)
}

func (t *thriftReader) byte() byte {
	if t.pos >= len(t.b) {
		t.fail(corrupt("truncated page header"))
		return 0
	}
	t.pos++
	return t.b[t.pos-1]
}

func (t *thriftReader) uvarint() uint64 {
	v, n := binary.Uvarint(t.b[t.pos:])
	if n <= 0 {
		t.fail(corrupt("bad varint in a page header"))
		return 0
	}
	t.pos += n
	return v
}

// i32 reads a zigzag varint, which must fit an int32 (thrift would
// truncate one that does not).
func (t *thriftReader) i32() int32 {
	v := zigzag(t.uvarint())
	if int64(int32(v)) != v {
		t.fail(corrupt("page header integer %d out of range", v))
		return 0
	}
	return int32(v)
}

// fields calls field for each field of a struct, up to and including its
// stop byte; field must consume the value.
func (t *thriftReader) fields(field func(id int16, typ byte)) {
	var id int16
	for t.err == nil {
		b := t.byte()
		typ := b & 0x0f
		if typ == thriftStop {
			return
		}
		if delta := int16(b >> 4); delta != 0 {
			id += delta
		} else {
			id = int16(t.i32())
		}
		if t.err == nil {
			field(id, typ)
		}
	}
}

// i32Fields reads a struct whose fields 1, 2, ... are i32s, into dst, and
// reports whether it had them all. It skips any other field.
func (t *thriftReader) i32Fields(dst ...*int32) bool {
	var got uint
	t.fields(func(id int16, typ byte) {
		if id < 1 || int(id) > len(dst) || typ != thriftI32 {
			t.skip(typ, 0)
			return
		}
		*dst[id-1] = t.i32()
		got |= 1 << (id - 1)
	})
	return t.err == nil && got == 1<<len(dst)-1
}

// maxThriftDepth bounds the nesting of skipped structs, which a corrupt
// header could make deep enough to exhaust the stack (thrift's own limit is
// 64).
const maxThriftDepth = 32

// skip consumes a value of type typ.
func (t *thriftReader) skip(typ byte, depth int) {
	switch typ {
	case thriftTrue, thriftFalse: // in a field header, the type is the value
	case thriftI32, thriftI64:
		t.uvarint()
	case thriftBinary:
		n := t.uvarint()
		if n > math.MaxInt32 || n > uint64(len(t.b)-t.pos) {
			t.fail(corrupt("truncated page header"))
			return
		}
		t.pos += int(n)
	case thriftStruct:
		if depth >= maxThriftDepth {
			t.fail(errUnsupported)
			return
		}
		t.fields(func(_ int16, typ byte) { t.skip(typ, depth+1) })
	default:
		t.fail(errUnsupported)
	}
}
