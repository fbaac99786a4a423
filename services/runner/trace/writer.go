package trace

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/metadata"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/apache/arrow-go/v18/parquet/schema"
)

// RowGroupRows is the number of rows the Writer buffers before it writes
// them out as one Parquet row group. It bounds the Writer's memory (about
// 250 bytes a row for rows with 16 ITL values, in each of two buffers, plus
// the encoded row group) while keeping row groups large enough for good
// compression and for readers that parallelise over row groups (DuckDB's own
// default is 122,880 rows).
const RowGroupRows = 64 * 1024

// maxBufferedITL caps the ITL values buffered for one row group (64 MiB),
// so that a few requests with enormous ITL lists cannot break the memory
// bound: the row group is cut short instead.
const maxBufferedITL = 8 << 20

// zstdLevel is the zstd level passed to the Parquet writer. Level 1 maps to
// klauspost/compress's fastest encoder: trace data is mostly the
// incompressible low-order bits of clock readings, so higher levels cost
// much more time than they save in bytes, and the runner writes the file
// on the same CPU that just ran the benchmark.
const zstdLevel = 1

// ErrClosed is returned by Write and Close on a Writer that was closed.
var ErrClosed = errors.New("trace: writer is closed")

// parquetSchema is the Parquet schema derived from arrowSchema by pqarrow,
// so that the file reads back, through pqarrow, as exactly arrowSchema.
var parquetSchema = sync.OnceValues(func() (*schema.Schema, error) {
	return pqarrow.ToParquet(arrowSchema, writerProperties(), pqarrow.DefaultWriterProps())
})

// Writer streams Records into a Parquet file. It buffers at most
// RowGroupRows rows, in column form, so memory stays bounded however long
// the run: each full buffer becomes one row group. Writing is parallel,
// because zstd and Parquet's encoders, not I/O, bound the speed of writing
// a trace: a full row group is encoded in the background (its columns
// spread over one goroutine per CPU) while Write fills the next buffer, so
// at most two row groups are in memory.
//
// A Writer is not safe for concurrent use. An error from encoding a row
// group in the background is returned by a later Write or by Close; after
// an error every call returns it, and the output is incomplete and must be
// discarded. Close must be called even then, to wait for the background
// work.
type Writer struct {
	pw       *file.Writer
	buf      *batch     // rows being added
	spare    *batch     // the other buffer: being encoded, or free
	inflight chan error // the result of the row group being encoded; nil if none
	scratch  []*scratch // one per encoding goroutine
	err      error
	closed   bool
}

// writeOnly hides any Close method of the caller's writer: the Parquet
// writer closes its sink when it implements io.Closer, but NewWriter's
// contract is that the caller owns w.
type writeOnly struct{ w io.Writer }

func (o writeOnly) Write(p []byte) (int, error) { return o.w.Write(p) }

// NewWriter starts a trace file on w with meta stored as Parquet key-value
// metadata (meta.Version is ignored: FormatVersion is always written).
// Nothing is complete until Close returns nil; Close does not close w.
func NewWriter(w io.Writer, meta Metadata) (*Writer, error) {
	if w == nil {
		return nil, errors.New("trace: new writer: nil io.Writer")
	}
	if !utf8.ValidString(meta.RunID) {
		return nil, errors.New("trace: new writer: run id is not valid UTF-8")
	}
	sc, err := parquetSchema()
	if err != nil {
		return nil, fmt.Errorf("trace: new writer: parquet schema: %w", err)
	}
	kv := metadata.NewKeyValueMetadata()
	if err := kv.Append(MetaKeyVersion, FormatVersion); err != nil {
		return nil, fmt.Errorf("trace: new writer: %w", err)
	}
	if err := kv.Append(MetaKeyRunID, meta.RunID); err != nil {
		return nil, fmt.Errorf("trace: new writer: %w", err)
	}
	pw, err := file.NewParquetWriterWithError(writeOnly{w}, sc.Root(),
		file.WithWriterProps(writerProperties()), file.WithWriteMetadata(kv))
	if err != nil {
		return nil, fmt.Errorf("trace: new writer: %w", err)
	}
	workers := min(runtime.GOMAXPROCS(0), numColumns)
	tw := &Writer{pw: pw, buf: newBatch(), scratch: make([]*scratch, workers)}
	for i := range tw.scratch {
		tw.scratch[i] = &scratch{}
	}
	return tw, nil
}

// writerProperties are the Parquet settings of every trace file.
func writerProperties() *parquet.WriterProperties {
	opts := []parquet.WriterProperty{
		parquet.WithAllocator(memory.DefaultAllocator),
		parquet.WithCompression(compress.Codecs.Zstd),
		parquet.WithCompressionLevel(zstdLevel),
		parquet.WithMaxRowGroupLength(RowGroupRows),
		parquet.WithDictionaryDefault(false),
	}
	for _, c := range dictionaryColumns {
		opts = append(opts, parquet.WithDictionaryFor(c, true))
	}
	for _, c := range deltaColumns {
		opts = append(opts, parquet.WithEncodingFor(c, parquet.Encodings.DeltaBinaryPacked))
	}
	return parquet.NewWriterProperties(opts...)
}

// Write appends one row. It copies what it needs from r, so r may be reused
// at once. Strings that are not valid UTF-8 (an error body from a server,
// say) are stored with each invalid byte sequence replaced by U+FFFD,
// because Parquet STRING columns must hold UTF-8 and DuckDB rejects files
// where they do not.
func (w *Writer) Write(r *Record) error {
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return ErrClosed
	}
	if r == nil {
		return errors.New("trace: write: nil record")
	}
	w.buf.add(r)
	if w.buf.n >= RowGroupRows || len(w.buf.itlVals) >= maxBufferedITL {
		if err := w.flush(); err != nil {
			w.err = err
			return err
		}
	}
	return nil
}

// Close writes the buffered rows and the Parquet footer. It does not close
// the io.Writer given to NewWriter. Closing twice returns ErrClosed.
func (w *Writer) Close() error {
	if w.closed {
		return ErrClosed
	}
	w.closed = true
	// Always wait first: the background encoder uses the Parquet writer.
	if err := w.wait(); err != nil && w.err == nil {
		w.err = err
	}
	if w.err == nil && w.buf.n > 0 {
		w.err = w.writeRowGroup(w.buf)
	}
	// Close the Parquet writer even after an error, to release its buffers.
	if err := w.pw.Close(); err != nil && w.err == nil {
		w.err = fmt.Errorf("trace: writing footer: %w", err)
	}
	w.buf, w.spare = nil, nil
	return w.err
}

// flush hands the buffered rows to a background goroutine that writes them
// as one row group, after the previous row group is done (so row groups stay
// in order and at most two are in memory), and starts an empty buffer.
func (w *Writer) flush() error {
	if err := w.wait(); err != nil {
		return err
	}
	b := w.buf
	done := make(chan error, 1)
	w.inflight = done
	go func() { done <- w.writeRowGroup(b) }()
	if w.spare == nil {
		w.spare = newBatch()
	}
	w.buf, w.spare = w.spare, b
	w.buf.reset()
	return nil
}

// wait waits for the row group being encoded, if any, and returns its error.
func (w *Writer) wait() error {
	if w.inflight == nil {
		return nil
	}
	err := <-w.inflight
	w.inflight = nil
	return err
}

// writeRowGroup encodes b as one row group: the columns in parallel into
// the row group's in-memory buffers, then, in column order, to the output.
// It turns a panic from arrow-go into an error: it usually runs on a
// goroutine of its own, where a panic would take the whole process down.
func (w *Writer) writeRowGroup(b *batch) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("trace: writing row group: panic: %v", p)
		}
	}()
	rgw, err := w.pw.AppendBufferedRowGroupChecked()
	if err != nil {
		return fmt.Errorf("trace: starting row group: %w", err)
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		next int
		errs [numColumns]error
	)
	for _, s := range w.scratch {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				if next == len(encodeOrder) {
					mu.Unlock()
					return
				}
				c := encodeOrder[next]
				next++
				mu.Unlock()
				errs[c] = encodeColumnSafely(b, rgw, c, s)
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs[:]...); err != nil {
		_ = rgw.Close()
		return fmt.Errorf("trace: encoding row group: %w", err)
	}
	if err := rgw.Close(); err != nil {
		return fmt.Errorf("trace: writing row group: %w", err)
	}
	return nil
}

// encodeColumnSafely is encodeColumn with any panic from arrow-go's encoders
// turned into an error: it runs on a goroutine of its own, where a panic
// would take the whole process down.
func encodeColumnSafely(b *batch, rgw file.BufferedRowGroupWriter, c int, s *scratch) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("column %s: panic: %v", arrowSchema.Field(c).Name, p)
		}
	}()
	return b.encodeColumn(rgw, c, s)
}

// encodeOrder hands the ITL column, which has 16 values a row where the
// others have one, to a goroutine first, so that the rest share the other
// goroutines meanwhile.
var encodeOrder = func() []int {
	order := []int{iITLNS}
	for c := 0; c < numColumns; c++ {
		if c != iITLNS {
			order = append(order, c)
		}
	}
	return order
}()

// hashingWriter feeds every byte written to the file into a hash as well,
// so that WriteFile returns the file's sha256 without reading it back.
type hashingWriter struct {
	w io.Writer
	h hash.Hash
}

func (hw hashingWriter) Write(p []byte) (int, error) {
	n, err := hw.w.Write(p)
	hw.h.Write(p[:n])
	return n, err
}

// WriteFile writes records to path as a trace file and returns the lowercase
// hex sha256 of the file's bytes, which the envelope uses to point at the
// file in object storage.
//
// The write is atomic: the data goes to a temporary file in the same
// directory, is fsynced, and is renamed over path only when complete (then
// the directory is fsynced so the rename survives a crash). Readers see
// either the old file or the whole new one, never a partial file, and on
// error no temporary file is left behind.
func WriteFile(path string, meta Metadata, records []Record) (sha256hex string, err error) {
	dir, base := filepath.Dir(path), filepath.Base(path)
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return "", fmt.Errorf("trace: write %s: %w", path, err)
	}
	tmp := f.Name()
	renamed := false
	defer func() {
		if !renamed {
			_ = f.Close() // may be closed already; the first error is what matters
			_ = os.Remove(tmp)
		}
	}()

	h := sha256.New()
	bw := bufio.NewWriterSize(f, 1<<20)
	tw, err := NewWriter(hashingWriter{w: bw, h: h}, meta)
	if err != nil {
		return "", fmt.Errorf("trace: write %s: %w", path, err)
	}
	for i := range records {
		if err := tw.Write(&records[i]); err != nil {
			_ = tw.Close()
			return "", fmt.Errorf("trace: write %s: record %d: %w", path, i, err)
		}
	}
	if err := tw.Close(); err != nil {
		return "", fmt.Errorf("trace: write %s: %w", path, err)
	}
	if err := bw.Flush(); err != nil {
		return "", fmt.Errorf("trace: write %s: %w", path, err)
	}
	// CreateTemp makes the file 0600; give it the mode os.Create would under
	// the usual umask, so the trace is as readable as any other output.
	if err := f.Chmod(0o644); err != nil {
		return "", fmt.Errorf("trace: write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return "", fmt.Errorf("trace: write %s: fsync: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("trace: write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", fmt.Errorf("trace: write %s: %w", path, err)
	}
	renamed = true
	sum := hex.EncodeToString(h.Sum(nil))
	if err := syncDir(dir); err != nil {
		// The file is complete and in place; only the durability of the
		// rename is in doubt. Report it, with the hash, and keep the file.
		return sum, fmt.Errorf("trace: write %s: fsync directory: %w", path, err)
	}
	return sum, nil
}

// syncDir fsyncs a directory so that a rename in it is durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		_ = d.Close()
		return err
	}
	return d.Close()
}

// validUTF8 returns s, or s with invalid byte sequences replaced by U+FFFD.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}
