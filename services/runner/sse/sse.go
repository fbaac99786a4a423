// Package sse reads Server-Sent Events as the WHATWG HTML standard defines
// them, which is what OpenAI-compatible inference servers stream: lines
// ending in CRLF, LF or a lone CR; comment lines starting with ':';
// "data:" lines that accumulate (several make one multi-line payload); an
// event dispatched at each blank line. Events may arrive split across reads
// in any way.
//
// A Reader does not allocate per event: Event.Data aliases an internal buffer
// that is valid until the next call to Next.
package sse

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// DefaultMaxEventSize bounds one event's data. Inference chunks are a few
// hundred bytes; a usage or error chunk a few KiB.
const DefaultMaxEventSize = 1 << 20

// ErrEventTooLarge is returned when an event's data exceeds the limit.
var ErrEventTooLarge = errors.New("sse: event larger than the limit")

// ErrIncomplete is returned, with the partial event, when the stream ends
// in the middle of an event (data lines not yet closed by a blank line).
var ErrIncomplete = errors.New("sse: stream ended inside an event")

// Event is one dispatched event.
type Event struct {
	Type string // the "event:" field; "" means "message"
	Data []byte // the "data:" lines joined with '\n'; valid until the next call to Next
	ID   string // the "id:" field, if any
}

// Reader reads events from a stream.
type Reader struct {
	br       *bufio.Reader
	maxEvent int
	skipLF   bool   // the previous line ended in CR: a following LF belongs to it
	data     []byte // data of the event being assembled
	hasData  bool   // a data field was seen (even an empty one)
	evType   []byte
	id       []byte
	line     []byte // a line longer than the bufio buffer, assembled
}

// NewReader reads events from r through a buffer of bufSize bytes (4096 if
// bufSize <= 0). maxEvent bounds an event's data (DefaultMaxEventSize if <= 0).
func NewReader(r io.Reader, bufSize, maxEvent int) *Reader {
	if bufSize <= 0 {
		bufSize = 4096
	}
	if maxEvent <= 0 {
		maxEvent = DefaultMaxEventSize
	}
	return &Reader{br: bufio.NewReaderSize(r, bufSize), maxEvent: maxEvent}
}

// Next returns the next event. At the end of the stream it returns io.EOF,
// or the partial event and ErrIncomplete when the stream stopped inside one.
// Any other error is the underlying reader's (a timeout, a reset).
func (r *Reader) Next() (Event, error) {
	r.data, r.hasData, r.evType, r.id = r.data[:0], false, r.evType[:0], r.id[:0]
	pending := false // some field of this event has been read
	for {
		line, err := r.readLine()
		if err != nil {
			if err == io.EOF && pending && r.hasData {
				return r.event(), ErrIncomplete
			}
			return Event{}, err
		}
		if len(line) == 0 { // blank line: dispatch
			if r.hasData {
				return r.event(), nil
			}
			r.evType, r.id, pending = r.evType[:0], r.id[:0], false
			continue
		}
		if line[0] == ':' {
			continue // comment, often a keep-alive
		}
		pending = true
		field, value := line, []byte(nil)
		if i := bytes.IndexByte(line, ':'); i >= 0 {
			field, value = line[:i], line[i+1:]
			if len(value) > 0 && value[0] == ' ' {
				value = value[1:]
			}
		}
		switch string(field) {
		case "data":
			if r.hasData {
				r.data = append(r.data, '\n')
			}
			r.data = append(r.data, value...)
			r.hasData = true
			if len(r.data) > r.maxEvent {
				return Event{}, fmt.Errorf("%w (%d bytes)", ErrEventTooLarge, r.maxEvent)
			}
		case "event":
			r.evType = append(r.evType[:0], value...)
		case "id":
			if bytes.IndexByte(value, 0) < 0 {
				r.id = append(r.id[:0], value...)
			}
		}
		// "retry" and unknown fields are ignored, as the standard says.
	}
}

func (r *Reader) event() Event {
	return Event{Type: string(r.evType), Data: r.data, ID: string(r.id)}
}

// readLine returns the next line without its terminator; the slice is valid
// until the next call. A CR ends a line at once and a following LF is
// skipped when the next line is read, so a lone CR never waits for more
// input.
func (r *Reader) readLine() ([]byte, error) {
	r.line = r.line[:0]
	for {
		if _, err := r.br.Peek(1); err != nil { // wait for at least one byte
			if err == io.EOF && len(r.line) > 0 {
				return r.line, nil // a last line without a terminator
			}
			return nil, err
		}
		buf, _ := r.br.Peek(r.br.Buffered())
		if r.skipLF {
			r.skipLF = false
			if buf[0] == '\n' {
				r.br.Discard(1)
				continue
			}
		}
		i := bytes.IndexAny(buf, "\r\n")
		if i < 0 {
			r.line = append(r.line, buf...)
			r.br.Discard(len(buf))
			if len(r.line) > r.maxEvent+len("data: ") {
				return nil, fmt.Errorf("%w (a line of more than %d bytes)", ErrEventTooLarge, r.maxEvent)
			}
			continue
		}
		r.line = append(r.line, buf[:i]...)
		r.skipLF = buf[i] == '\r'
		r.br.Discard(i + 1)
		return r.line, nil
	}
}
