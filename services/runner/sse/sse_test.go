package sse

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

type want struct{ typ, data string }

func collect(t *testing.T, r io.Reader) ([]want, error) {
	t.Helper()
	rd := NewReader(r, 16, 0) // a tiny buffer forces lines across fills
	var got []want
	for {
		ev, err := rd.Next()
		if err == io.EOF {
			return got, nil
		}
		if err != nil {
			return append(got, want{ev.Type, string(ev.Data)}), err
		}
		got = append(got, want{ev.Type, string(ev.Data)})
	}
}

func TestFraming(t *testing.T) {
	cases := []struct {
		name, in string
		want     []want
	}{
		{"lf", "data: a\n\ndata: b\n\n", []want{{"", "a"}, {"", "b"}}},
		{"crlf", "data: a\r\n\r\ndata: b\r\n\r\n", []want{{"", "a"}, {"", "b"}}},
		{"cr", "data: a\r\rdata: b\r\r", []want{{"", "a"}, {"", "b"}}},
		{"mixed endings", "data: a\r\n\rdata: b\n\r\n", []want{{"", "a"}, {"", "b"}}},
		{"comments and keep-alives", ": ping\n\n:\ndata: a\n: mid-event comment\n\n", []want{{"", "a"}}},
		{"multi-line data", "data: line1\ndata: line2\ndata:\n\n", []want{{"", "line1\nline2\n"}}},
		{"no space after colon", "data:{\"a\":1}\n\n", []want{{"", `{"a":1}`}}},
		{"only one space is stripped", "data:  two\n\n", []want{{"", " two"}}},
		{"event type", "event: error\ndata: {\"message\":\"boom\"}\n\n", []want{{"error", `{"message":"boom"}`}}},
		{"event type does not leak", "event: error\ndata: x\n\ndata: y\n\n", []want{{"error", "x"}, {"", "y"}}},
		{"blank lines without data dispatch nothing", "\n\n\nevent: x\n\ndata: a\n\n", []want{{"", "a"}}},
		{"field without colon", "data\n\n", []want{{"", ""}}},
		{"unknown fields ignored", "retry: 10\nfoo: bar\nid: 7\ndata: a\n\n", []want{{"", "a"}}},
		{"done sentinel", "data: {\"x\":1}\n\ndata: [DONE]\n\n", []want{{"", `{"x":1}`}, {"", "[DONE]"}}},
		{"long line across many fills", "data: " + strings.Repeat("x", 1000) + "\n\n", []want{{"", strings.Repeat("x", 1000)}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// Whole, then one byte per read: events split anywhere.
			for _, r := range []io.Reader{strings.NewReader(c.in), iotest.OneByteReader(strings.NewReader(c.in)), iotest.HalfReader(strings.NewReader(c.in))} {
				got, err := collect(t, r)
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != len(c.want) {
					t.Fatalf("got %q, want %q", got, c.want)
				}
				for i := range got {
					if got[i] != c.want[i] {
						t.Fatalf("event %d: got %q, want %q", i, got[i], c.want[i])
					}
				}
			}
		})
	}
}

func TestIncompleteEventAtEOF(t *testing.T) {
	got, err := collect(t, strings.NewReader("data: a\n\ndata: {\"partial\""))
	if !errors.Is(err, ErrIncomplete) || len(got) != 2 || got[1].data != `{"partial"` {
		t.Fatalf("got %q, %v", got, err)
	}
	// A trailing event type alone is nothing.
	got, err = collect(t, strings.NewReader("data: a\n\nevent: x\n"))
	if err != nil || len(got) != 1 {
		t.Fatalf("got %q, %v", got, err)
	}
}

func TestReadErrorsPassThrough(t *testing.T) {
	boom := errors.New("connection reset")
	r := io.MultiReader(strings.NewReader("data: a\n\ndata: b"), iotest.ErrReader(boom))
	got, err := collect(t, r)
	if !errors.Is(err, boom) || len(got) != 2 || got[0].data != "a" {
		t.Fatalf("got %q, %v", got, err)
	}
}

func TestEventSizeIsBounded(t *testing.T) {
	rd := NewReader(strings.NewReader("data: "+strings.Repeat("x", 5000)+"\n\n"), 64, 1024)
	if _, err := rd.Next(); !errors.Is(err, ErrEventTooLarge) {
		t.Fatalf("err %v", err)
	}
	rd = NewReader(strings.NewReader(strings.Repeat("data: xxxxxxxxxx\n", 200)+"\n"), 64, 1024)
	if _, err := rd.Next(); !errors.Is(err, ErrEventTooLarge) {
		t.Fatalf("many data lines: err %v", err)
	}
}

func BenchmarkChunkStream(b *testing.B) {
	chunk := `data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":" tok"},"finish_reason":null}]}` + "\n\n"
	stream := strings.Repeat(chunk, 64) + "data: [DONE]\n\n"
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	sr := strings.NewReader(stream)
	rd := NewReader(sr, 4096, 0)
	for b.Loop() {
		sr.Reset(stream)
		rd.br.Reset(sr)
		for {
			if _, err := rd.Next(); err != nil {
				break
			}
		}
	}
}
