package simengine

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"unicode"
	"unicode/utf8"
)

// completionRequest holds the fields of a chat or text completion request
// that the simulator acts on; every other field is accepted and ignored, as
// a real server would ignore sampling parameters it cannot honour here.
type completionRequest struct {
	Model               string          `json:"model"`
	Messages            []chatMessage   `json:"messages"`
	Prompt              json.RawMessage `json:"prompt"`
	Stream              bool            `json:"stream"`
	StreamOptions       *streamOptions  `json:"stream_options"`
	MaxTokens           *int64          `json:"max_tokens"`
	MaxCompletionTokens *int64          `json:"max_completion_tokens"`
	N                   *int64          `json:"n"`
}

type chatMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

type streamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

// requestError is a 4xx answer: its status, OpenAI error type, the
// offending parameter (may be empty), error code (may be empty) and message.
type requestError struct {
	status      int
	typ         string
	param, code string
	msg         string
}

func badRequest(param, format string, args ...any) *requestError {
	return &requestError{status: http.StatusBadRequest, typ: "invalid_request_error", param: param, msg: fmt.Sprintf(format, args...)}
}

var bodyPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// parsed is what the handler needs from a valid request.
type parsed struct {
	stream       bool
	includeUsage bool
	promptTokens int
	maxTokens    int // 0: not set by the request
}

// parseRequest reads and validates the body of a completion request.
func (e *Engine) parseRequest(w http.ResponseWriter, r *http.Request, chat bool) (parsed, *requestError) {
	var p parsed
	buf := bodyPool.Get().(*bytes.Buffer)
	buf.Reset()
	defer func() {
		if buf.Cap() <= 1<<20 { // do not let one huge prompt pin memory in the pool
			bodyPool.Put(buf)
		}
	}()
	if _, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, maxBodyBytes)); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return p, &requestError{status: http.StatusRequestEntityTooLarge, typ: "invalid_request_error",
				msg: fmt.Sprintf("request body is larger than %d bytes", maxBodyBytes)}
		}
		return p, badRequest("", "reading the request body: %v", err)
	}
	var req completionRequest
	if err := json.Unmarshal(buf.Bytes(), &req); err != nil {
		return p, badRequest("", "the request body is not valid JSON for this endpoint: %v", err)
	}
	if req.Model != "" && req.Model != e.opts.Model {
		return p, &requestError{status: http.StatusNotFound, typ: "invalid_request_error", param: "model", code: "model_not_found",
			msg: fmt.Sprintf("The model `%s` does not exist. This server serves `%s`.", req.Model, e.opts.Model)}
	}
	if chat {
		if len(req.Messages) == 0 {
			return p, badRequest("messages", "messages is required and must be a non-empty array")
		}
		for i, m := range req.Messages {
			if m.Role == "" {
				return p, badRequest("messages", "messages[%d].role is required", i)
			}
			n, err := contentWords(m.Content)
			if err != nil {
				return p, badRequest("messages", "messages[%d].content: %v", i, err)
			}
			p.promptTokens += n
		}
	} else {
		n, err := promptWords(req.Prompt)
		if err != nil {
			return p, badRequest("prompt", "%v", err)
		}
		p.promptTokens = n
	}
	for _, f := range []struct {
		name string
		v    *int64
	}{{"max_tokens", req.MaxTokens}, {"max_completion_tokens", req.MaxCompletionTokens}} {
		if f.v == nil {
			continue
		}
		if *f.v < 1 {
			return p, badRequest(f.name, "%s must be at least 1, got %d", f.name, *f.v)
		}
		if *f.v > MaxOutputTokens {
			return p, badRequest(f.name, "%s must be at most %d, got %d", f.name, MaxOutputTokens, *f.v)
		}
	}
	// max_completion_tokens is OpenAI's replacement for max_tokens; it wins
	// when a client sends both.
	switch {
	case req.MaxCompletionTokens != nil:
		p.maxTokens = int(*req.MaxCompletionTokens)
	case req.MaxTokens != nil:
		p.maxTokens = int(*req.MaxTokens)
	}
	if req.N != nil && *req.N != 1 {
		return p, badRequest("n", "n must be 1: the simulator generates a single choice, got %d", *req.N)
	}
	p.stream = req.Stream
	p.includeUsage = req.StreamOptions != nil && req.StreamOptions.IncludeUsage
	return p, nil
}

// contentWords counts the words of a chat message's content: a string, an
// array of content parts (their "text" fields), or null.
func contentWords(raw json.RawMessage) (int, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return 0, nil
	}
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, err
		}
		return countWords(s), nil
	case '[':
		var parts []struct {
			Text string `json:"text"`
		}
		if err := json.Unmarshal(raw, &parts); err != nil {
			return 0, fmt.Errorf("must be a string or an array of content parts: %v", err)
		}
		n := 0
		for _, part := range parts {
			n += countWords(part.Text)
		}
		return n, nil
	}
	return 0, errors.New("must be a string or an array of content parts")
}

// promptWords counts the prompt of a text completion: a string or an array
// of strings count their words; an array of token ids, or an array of such
// arrays, counts the ids (they are already tokens).
func promptWords(raw json.RawMessage) (int, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return 0, errors.New("prompt is required")
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return 0, fmt.Errorf("prompt: %v", err)
	}
	bad := errors.New("prompt must be a string, an array of strings, an array of token ids or an array of such arrays")
	switch v := v.(type) {
	case string:
		return countWords(v), nil
	case []any:
		if len(v) == 0 {
			return 0, errors.New("prompt must not be an empty array")
		}
		n := 0
		for _, el := range v {
			switch el := el.(type) {
			case string:
				n += countWords(el)
			case float64:
				n++
			case []any:
				for _, id := range el {
					if _, ok := id.(float64); !ok {
						return 0, bad
					}
				}
				n += len(el)
			default:
				return 0, bad
			}
		}
		return n, nil
	}
	return 0, bad
}

// countWords counts maximal runs of non-space characters, as strings.Fields
// would, without allocating the fields.
func countWords(s string) int {
	n := 0
	inWord := false
	for i := 0; i < len(s); {
		c := s[i]
		var space bool
		if c < utf8.RuneSelf {
			space = c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
			i++
		} else {
			r, size := utf8.DecodeRuneInString(s[i:])
			space = unicode.IsSpace(r)
			i += size
		}
		if space {
			inWord = false
		} else if !inWord {
			inWord = true
			n++
		}
	}
	return n
}

// appendUsage appends an OpenAI usage object.
func appendUsage(b []byte, prompt, completion int) []byte {
	b = append(b, `{"prompt_tokens":`...)
	b = strconv.AppendInt(b, int64(prompt), 10)
	b = append(b, `,"completion_tokens":`...)
	b = strconv.AppendInt(b, int64(completion), 10)
	b = append(b, `,"total_tokens":`...)
	b = strconv.AppendInt(b, int64(prompt+completion), 10)
	return append(b, '}')
}
