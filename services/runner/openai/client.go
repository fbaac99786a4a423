// Package openai measures requests to an OpenAI-compatible inference server:
// /v1/chat/completions and /v1/completions, streaming (SSE with
// stream_options.include_usage) or not. It works unchanged against vLLM,
// SGLang, TGI, llama.cpp's server and ollama, which differ in where usage
// figures arrive and in how they report errors.
//
// Do fills a trace.Record with every timestamp of the request and its
// outcome. A request succeeds only with HTTP 200, a complete stream (ending
// in [DONE]), at least one generated token and no error payload; every other
// outcome is classified (trace.ErrorClass), never counted as a success.
package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/inferencebench/bench/pkg/envelope/canonjson"
	"github.com/inferencebench/bench/services/runner/clock"
	"github.com/inferencebench/bench/services/runner/sse"
	"github.com/inferencebench/bench/services/runner/trace"
)

// API selects the endpoint.
type API string

const (
	Chat        API = "chat"        // POST /v1/chat/completions
	Completions API = "completions" // POST /v1/completions
)

// Request is one generation request.
type Request struct {
	API       API
	Model     string
	Prompt    string
	MaxTokens int
	Stream    bool
	// Extra is merged into the JSON body: engine-specific parameters such
	// as "ignore_eos" (vLLM, SGLang) or "temperature". ExtraJSON, from
	// EncodeExtra, saves encoding it for every request.
	Extra     map[string]any
	ExtraJSON json.RawMessage
}

// Options configures a Client. The zero value works.
type Options struct {
	APIKey string // sent as a bearer token when set
	// Timeout bounds one request from send to the end of its response;
	// 0 means no limit beyond the caller's context.
	Timeout time.Duration
	// MaxConns is the number of keep-alive connections kept to the server;
	// size it to the expected number of requests in flight, so that requests
	// do not wait for a connection or pay for new ones. Default 64.
	MaxConns int
	// ReadBufferSize is the per-stream read buffer; default 1024. Chunks are
	// a few hundred bytes and longer lines are assembled, so a small buffer
	// costs nothing and keeps memory per in-flight stream low.
	ReadBufferSize int
	// Transport replaces the default transport (tests).
	Transport http.RoundTripper
}

// Client measures requests to one server. It is safe for concurrent use.
type Client struct {
	base    string // scheme://host[:port][/prefix], without /v1
	http    *http.Client
	opts    Options
	chatURL string
	compURL string
}

// New returns a client for the server at baseURL, with or without the /v1
// suffix ("http://localhost:8000" and "http://localhost:8000/v1" are the same).
func New(baseURL string, opts Options) (*Client, error) {
	u, err := url.Parse(strings.TrimSpace(baseURL))
	if err != nil {
		return nil, fmt.Errorf("endpoint %q: %w", baseURL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("endpoint %q: want http://HOST[:PORT] or https://HOST[:PORT]", baseURL)
	}
	base := strings.TrimSuffix(strings.TrimSuffix(u.String(), "/"), "/v1")
	if opts.MaxConns <= 0 {
		opts.MaxConns = 64
	}
	if opts.ReadBufferSize <= 0 {
		opts.ReadBufferSize = 1024
	}
	rt := opts.Transport
	if rt == nil {
		rt = &http.Transport{
			Proxy: http.ProxyFromEnvironment,
			DialContext: (&net.Dialer{
				Timeout:   10 * time.Second,
				KeepAlive: 30 * time.Second,
			}).DialContext,
			MaxIdleConns:        opts.MaxConns,
			MaxIdleConnsPerHost: opts.MaxConns,
			IdleConnTimeout:     90 * time.Second,
			// Compressed streams would be buffered by the decompressor and
			// delay every token.
			DisableCompression: true,
			ForceAttemptHTTP2:  false,
			// Requests are small and responses are read through the stream
			// reader's own buffer: small connection buffers keep memory per
			// in-flight stream low.
			WriteBufferSize:       1024,
			ReadBufferSize:        1024,
			ResponseHeaderTimeout: 0,
		}
	}
	return &Client{
		base:    base,
		http:    &http.Client{Transport: rt},
		opts:    opts,
		chatURL: base + "/v1/chat/completions",
		compURL: base + "/v1/completions",
	}, nil
}

// Base returns the server's base URL, without /v1.
func (c *Client) Base() string { return c.base }

// errRequestTimeout is the cause of a context that ran out of Options.Timeout.
var errRequestTimeout = errors.New("request timeout")

// Do sends req and records it into rec: SentNS when the request was written
// to the connection, then the first chunk, first and last token, end,
// token counts and their source, the gaps between tokens, and the outcome.
// rec's Index, Phase and ScheduledNS are left as the caller set them.
func (c *Client) Do(ctx context.Context, req *Request, rec *trace.Record) {
	if c.opts.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, c.opts.Timeout, errRequestTimeout)
		defer cancel()
	}
	body, err := requestBody(req)
	if err != nil {
		c.fail(rec, clock.Now(), trace.ErrMalformed, "building the request: "+err.Error())
		return
	}
	target := c.chatURL
	if req.API == Completions {
		target = c.compURL
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		c.fail(rec, clock.Now(), trace.ErrConnect, err.Error())
		return
	}
	hreq.Header.Set("Content-Type", "application/json")
	if req.Stream {
		hreq.Header.Set("Accept", "text/event-stream")
	}
	if c.opts.APIKey != "" {
		hreq.Header.Set("Authorization", "Bearer "+c.opts.APIKey)
	}

	// SentNS is when the request was written to the connection: net/http
	// hands it to a writer goroutine first, and TTFT should measure the
	// engine, not that handoff (which send_delay_ms still shows, since it
	// runs from the scheduled time to here).
	var wrote atomic.Int64
	hreq = hreq.WithContext(httptrace.WithClientTrace(hreq.Context(), &httptrace.ClientTrace{
		WroteRequest: func(httptrace.WroteRequestInfo) { wrote.Store(clock.Now()) },
	}))
	handedOver := clock.Now()
	resp, err := c.http.Do(hreq)
	rec.SentNS = wrote.Load()
	if rec.SentNS == 0 {
		rec.SentNS = handedOver // never written: a connection failure
	}
	if err != nil {
		c.fail(rec, clock.Now(), classifyContext(ctx, trace.ErrConnect), err.Error())
		return
	}
	defer resp.Body.Close()
	rec.HTTPStatus = int32(resp.StatusCode)
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		c.fail(rec, clock.Now(), trace.ErrHTTPStatus, fmt.Sprintf("HTTP %d: %s", resp.StatusCode, errorMessage(msg)))
		return
	}
	if req.Stream {
		c.readStream(ctx, resp.Body, rec)
	} else {
		c.readBody(ctx, resp.Body, rec)
	}
}

func (c *Client) fail(rec *trace.Record, now int64, class trace.ErrorClass, msg string) {
	rec.Status, rec.ErrorClass, rec.Error, rec.EndNS = trace.StatusError, class, msg, now
	if rec.CompletionTokens == 0 {
		rec.TokenSource = trace.TokensNone
	}
}

// classifyContext tells a timeout or a cancelled run apart from other
// failures, which get class otherwise.
func classifyContext(ctx context.Context, otherwise trace.ErrorClass) trace.ErrorClass {
	switch {
	case ctx.Err() == nil:
		return otherwise
	case context.Cause(ctx) == errRequestTimeout || errors.Is(ctx.Err(), context.DeadlineExceeded):
		return trace.ErrTimeout
	default:
		return trace.ErrCanceled
	}
}

var doneSentinel = []byte("[DONE]")

func (c *Client) readStream(ctx context.Context, body io.Reader, rec *trace.Record) {
	rd := sse.NewReader(body, c.opts.ReadBufferSize, 0)
	var ch chunk
	for {
		ev, err := rd.Next()
		now := clock.Now()
		if err != nil {
			switch {
			case ctx.Err() != nil:
				c.fail(rec, now, classifyContext(ctx, trace.ErrTruncated), err.Error())
			case errors.Is(err, sse.ErrEventTooLarge):
				c.fail(rec, now, trace.ErrMalformed, err.Error())
			case err == io.EOF || errors.Is(err, sse.ErrIncomplete):
				c.fail(rec, now, trace.ErrTruncated, "the stream ended without [DONE]")
			default:
				c.fail(rec, now, trace.ErrTruncated, "reading the stream: "+err.Error())
			}
			return
		}
		if rec.FirstChunkNS == 0 {
			rec.FirstChunkNS = now
		}
		if ev.Type == "error" {
			c.fail(rec, now, trace.ErrErrorPayload, "error event: "+errorMessage(ev.Data))
			return
		}
		if bytes.Equal(bytes.TrimSpace(ev.Data), doneSentinel) {
			c.finish(rec, now)
			return
		}
		ch.reset()
		if err := parseChunk(ev.Data, &ch); err != nil {
			c.fail(rec, now, trace.ErrMalformed, fmt.Sprintf("data event is not a JSON chunk: %v: %.200q", err, ev.Data))
			return
		}
		if ch.isError() {
			c.fail(rec, now, trace.ErrErrorPayload, "error in the stream: "+errorMessage(ev.Data))
			return
		}
		if ch.XSim != nil && ch.XSim.ReceivedNS != 0 {
			rec.ServerReceivedNS = ch.XSim.ReceivedNS
		}
		if ch.hasContent() {
			if rec.FirstTokenNS == 0 {
				rec.FirstTokenNS = now
				if ch.XSim != nil {
					rec.ServerFirstTokenNS = ch.XSim.SentNS
				}
			} else {
				rec.ITLNS = append(rec.ITLNS, now-rec.LastTokenNS)
			}
			rec.LastTokenNS = now
			rec.ContentChunks++
		}
		// Some engines put placeholder usage on every chunk before the real
		// figures: all zeros, or the prompt's tokens and zero completion
		// tokens (vLLM's continuous usage stats on the role chunk). Only a
		// non-zero completion count is taken as the output's.
		if u := ch.Usage; u != nil && u.PromptTokens > 0 {
			rec.PromptTokens = u.PromptTokens
		}
		if u := ch.Usage; u != nil && u.CompletionTokens > 0 {
			rec.CompletionTokens = u.CompletionTokens
			if len(ch.Choices) == 0 {
				rec.UsageSource = trace.UsageChunk
			} else {
				rec.UsageSource = trace.UsageFinalChunk
			}
		}
	}
}

// finish closes a stream that ended with [DONE].
func (c *Client) finish(rec *trace.Record, now int64) {
	rec.EndNS = now
	if rec.ContentChunks == 0 {
		c.fail(rec, now, trace.ErrNoTokens, "the stream ended without generating any content")
		return
	}
	rec.Status, rec.ErrorClass = trace.StatusOK, trace.ErrNone
	if rec.UsageSource != trace.UsageNone {
		rec.TokenSource = trace.TokensUsage
	} else {
		// No usable usage figures (none sent, or only placeholder zeros):
		// count content chunks, which undercounts multi-token chunks.
		rec.TokenSource = trace.TokensChunks
		rec.CompletionTokens = rec.ContentChunks
	}
}

func (c *Client) readBody(ctx context.Context, body io.Reader, rec *trace.Record) {
	rec.FirstChunkNS = clock.Now()
	data, err := io.ReadAll(io.LimitReader(body, 16<<20))
	now := clock.Now()
	if err != nil {
		c.fail(rec, now, classifyContext(ctx, trace.ErrTruncated), "reading the response: "+err.Error())
		return
	}
	var ch chunk
	if err := parseChunk(data, &ch); err != nil {
		c.fail(rec, now, trace.ErrMalformed, fmt.Sprintf("response is not JSON: %v: %.200q", err, data))
		return
	}
	if ch.isError() {
		c.fail(rec, now, trace.ErrErrorPayload, errorMessage(data))
		return
	}
	if ch.XSim != nil {
		rec.ServerReceivedNS, rec.ServerFirstTokenNS = ch.XSim.ReceivedNS, ch.XSim.SentNS
	}
	rec.EndNS = now
	if !ch.hasContent() {
		c.fail(rec, now, trace.ErrNoTokens, "the response holds no generated content")
		return
	}
	// Without streaming the first token arrives with the last.
	rec.FirstTokenNS, rec.LastTokenNS, rec.ContentChunks = now, now, 1
	rec.Status, rec.ErrorClass = trace.StatusOK, trace.ErrNone
	if u := ch.Usage; u != nil && u.PromptTokens > 0 {
		rec.PromptTokens = u.PromptTokens
	}
	if u := ch.Usage; u != nil && u.CompletionTokens > 0 {
		rec.CompletionTokens = u.CompletionTokens
		rec.UsageSource, rec.TokenSource = trace.UsageBody, trace.TokensUsage
	} else {
		rec.TokenSource = trace.TokensNone // one body: no chunks to count instead
	}
}

// requestBody writes the JSON body directly: json.Marshal of a map per
// request was a measurable part of the client's cost at high rates.
func requestBody(req *Request) ([]byte, error) {
	if req.MaxTokens < 1 {
		return nil, errors.New("max_tokens must be at least 1")
	}
	extra := req.ExtraJSON
	if extra == nil && len(req.Extra) > 0 {
		var err error
		if extra, err = EncodeExtra(req.Extra); err != nil {
			return nil, err
		}
	}
	b := make([]byte, 0, 128+len(req.Prompt)+len(req.Model)+len(extra))
	b = append(b, '{')
	if req.Model != "" {
		b = append(b, `"model":`...)
		b = canonjson.AppendString(b, req.Model)
		b = append(b, ',')
	}
	if req.API == Completions {
		b = append(b, `"prompt":`...)
		b = canonjson.AppendString(b, req.Prompt)
	} else {
		b = append(b, `"messages":[{"role":"user","content":`...)
		b = canonjson.AppendString(b, req.Prompt)
		b = append(b, "}]"...)
	}
	b = append(b, `,"max_tokens":`...)
	b = strconv.AppendInt(b, int64(req.MaxTokens), 10)
	if req.Stream {
		b = append(b, `,"stream":true,"stream_options":{"include_usage":true}`...)
	} else {
		b = append(b, `,"stream":false`...)
	}
	if len(extra) > 2 { // extra is an object: splice its members in
		b = append(b, ',')
		b = append(b, bytes.TrimSpace(extra)[1:len(bytes.TrimSpace(extra))-1]...)
	}
	return append(b, '}'), nil
}

// EncodeExtra encodes extra request parameters once, for Request.ExtraJSON.
// Keys that the client sets itself (model, messages, prompt, max_tokens,
// stream, stream_options) are refused, so that the body never holds a key
// twice.
func EncodeExtra(extra map[string]any) (json.RawMessage, error) {
	for _, k := range []string{"model", "messages", "prompt", "max_tokens", "stream", "stream_options"} {
		if _, ok := extra[k]; ok {
			return nil, fmt.Errorf("extra request parameter %q is set by the client itself", k)
		}
	}
	return json.Marshal(extra)
}

// errorMessage extracts a readable message from an error body or event.
func errorMessage(data []byte) string {
	var e struct {
		Error   json.RawMessage `json:"error"`
		Message string          `json:"message"`
		Detail  string          `json:"detail"`
	}
	if json.Unmarshal(data, &e) == nil {
		var inner struct {
			Message string `json:"message"`
		}
		switch {
		case len(e.Error) > 0 && json.Unmarshal(e.Error, &inner) == nil && inner.Message != "":
			return inner.Message
		case len(e.Error) > 0 && e.Error[0] == '"':
			var s string
			_ = json.Unmarshal(e.Error, &s)
			return s
		case e.Message != "":
			return e.Message
		case e.Detail != "":
			return e.Detail
		}
	}
	s := strings.TrimSpace(string(data))
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}
