package trace

import (
	"encoding/binary"
	"fmt"

	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/klauspost/compress/snappy"
)

// arrow-go's column readers, which Read falls back on, decompress a page
// into a buffer sized from the page header (itself bounded by
// maxPageSize), but two of its codecs do not stop there: zstd's DecodeAll
// appends past the buffer for as long as the frame goes on, and snappy
// allocates whatever length the block declares. A page of a few KiB can
// so make the reader allocate gigabytes. The codecs registered here decode
// the same bytes but never past the buffer they are given, and encode
// exactly as arrow-go's do (the Writer's files are unchanged).
func init() {
	for _, c := range []struct {
		typ    compress.Compression
		decode func(dst, src []byte) ([]byte, error)
	}{
		{compress.Codecs.Zstd, decodeZstdCapped},
		{compress.Codecs.Snappy, decodeSnappyCapped},
	} {
		orig, err := compress.GetCodec(c.typ)
		if err != nil {
			continue // not built in: nothing to bound
		}
		full, ok := orig.(arrowCodec)
		if !ok {
			continue
		}
		compress.RegisterCodec(c.typ, cappedCodec{arrowCodec: full, decode: c.decode})
	}
}

// arrowCodec is what arrow-go's built-in codecs implement.
type arrowCodec interface {
	compress.Codec
	compress.StreamingCodec
}

// cappedCodec is an arrow-go codec whose block decoding stops at the
// length of the destination buffer (arrow-go sizes it from the page
// header).
type cappedCodec struct {
	arrowCodec
	decode func(dst, src []byte) ([]byte, error)
}

func (c cappedCodec) DecodeWithError(dst, src []byte) ([]byte, error) { return c.decode(dst, src) }

// Decode panics on bad input, as the compress.Codec contract has it;
// arrow-go calls DecodeWithError, which returns the error instead.
func (c cappedCodec) Decode(dst, src []byte) []byte {
	out, err := c.decode(dst, src)
	if err != nil {
		panic(err)
	}
	return out
}

// decodeZstdCapped and decodeSnappyCapped decode a block into dst, and
// refuse one that decodes to more than len(dst) bytes before writing past
// it. Both decoders use them: the page decoder and, through cappedCodec,
// arrow-go's column readers.
func decodeZstdCapped(dst, src []byte) ([]byte, error) {
	dec, err := zstdDecoder() // WithDecodeAllCapLimit: never past cap
	if err != nil {
		return nil, err
	}
	return dec.DecodeAll(src, dst[:0:len(dst)])
}

func decodeSnappyCapped(dst, src []byte) ([]byte, error) {
	n, k := binary.Uvarint(src)
	if k <= 0 {
		return nil, fmt.Errorf("%w: snappy block without a length", errCorrupt)
	}
	if n > uint64(len(dst)) {
		return nil, fmt.Errorf("%w: snappy block declares %d bytes, more than the page's %d", errCorrupt, n, len(dst))
	}
	return snappy.Decode(dst, src)
}
