package openai

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/inferencebench/bench/services/runner/trace"
)

// streamServer serves the given raw bytes as a 200 event stream, writing
// each piece separately with a flush in between (so events split across
// reads wherever the pieces split them), optionally pausing between pieces.
func streamServer(t *testing.T, pause time.Duration, pieces ...string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		f := w.(http.Flusher)
		for _, p := range pieces {
			if p == "<hangup>" { // close the connection without finishing the response
				panic(http.ErrAbortHandler)
			}
			if p == "<stall>" {
				<-r.Context().Done()
				return
			}
			io.WriteString(w, p)
			f.Flush()
			if pause > 0 {
				time.Sleep(pause)
			}
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func do(t *testing.T, base string, req *Request, opts Options) trace.Record {
	t.Helper()
	c, err := New(base, opts)
	if err != nil {
		t.Fatal(err)
	}
	var rec trace.Record
	c.Do(context.Background(), req, &rec)
	return rec
}

func chatReq() *Request {
	return &Request{API: Chat, Model: "m", Prompt: "hello there", MaxTokens: 8, Stream: true}
}

const (
	roleChunk  = `data: {"object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}` + "\n\n"
	tokChunk   = `data: {"object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":" tok"},"finish_reason":null}]}` + "\n\n"
	finalChunk = `data: {"object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":""},"finish_reason":"length"}]}` + "\n\n"
	usageChunk = `data: {"object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":2,"completion_tokens":3,"total_tokens":5}}` + "\n\n"
	done       = "data: [DONE]\n\n"
)

func TestSuccessfulStream(t *testing.T) {
	srv := streamServer(t, 2*time.Millisecond, roleChunk, tokChunk, tokChunk, tokChunk, finalChunk, usageChunk, done)
	rec := do(t, srv.URL, chatReq(), Options{})
	if !rec.OK() || rec.ErrorClass != trace.ErrNone {
		t.Fatalf("not ok: %+v", rec)
	}
	if rec.TokenSource != trace.TokensUsage || rec.UsageSource != trace.UsageChunk || rec.CompletionTokens != 3 || rec.PromptTokens != 2 {
		t.Fatalf("tokens: %+v", rec)
	}
	if rec.ContentChunks != 3 || len(rec.ITLNS) != 2 {
		t.Fatalf("chunks %d itl %v", rec.ContentChunks, rec.ITLNS)
	}
	// The role-only chunk is the first chunk, not the first token.
	if !(rec.SentNS < rec.FirstChunkNS && rec.FirstChunkNS < rec.FirstTokenNS && rec.FirstTokenNS < rec.LastTokenNS && rec.LastTokenNS <= rec.EndNS) {
		t.Fatalf("timestamps out of order: %+v", rec)
	}
	for _, gap := range rec.ITLNS {
		if gap < int64(time.Millisecond) {
			t.Fatalf("ITL %v shorter than the server's pause", time.Duration(gap))
		}
	}
	if rec.HTTPStatus != 200 {
		t.Fatal(rec.HTTPStatus)
	}
}

func TestFramingVariants(t *testing.T) {
	crlf := strings.ReplaceAll(tokChunk, "\n", "\r\n")
	multiLine := "data: {\"object\":\"chat.completion.chunk\",\ndata: \"choices\":[{\"index\":0,\"delta\":{\"content\":\"x\"}}]}\n\n"
	// Split every event across writes, mid-line and mid-terminator.
	split := func(s string) []string {
		var out []string
		for i := 0; i < len(s); i += 7 {
			out = append(out, s[i:min(i+7, len(s))])
		}
		return out
	}
	pieces := []string{": keep-alive comment\n\n"}
	pieces = append(pieces, split(roleChunk+crlf+multiLine+tokChunk+usageChunk+done)...)
	srv := streamServer(t, 0, pieces...)
	rec := do(t, srv.URL, chatReq(), Options{})
	if !rec.OK() || rec.ContentChunks != 3 || rec.CompletionTokens != 3 {
		t.Fatalf("%+v", rec)
	}
}

func TestUsagePlacements(t *testing.T) {
	zeros := `data: {"choices":[{"index":0,"delta":{"content":" a"}}],"usage":{"prompt_tokens":0,"completion_tokens":0}}` + "\n\n"
	final := `data: {"choices":[{"index":0,"delta":{},"finish_reason":"length"}],"usage":{"prompt_tokens":4,"completion_tokens":9}}` + "\n\n"
	// vLLM's continuous usage stats: the role chunk carries the prompt's
	// tokens and zero completion tokens.
	promptOnly := `data: {"choices":[{"index":0,"delta":{"role":"assistant"}}],"usage":{"prompt_tokens":4,"completion_tokens":0}}` + "\n\n"
	cases := []struct {
		name    string
		pieces  []string
		source  trace.UsageSource
		tokens  trace.TokenSource
		out, in int64
	}{
		{"separate usage chunk", []string{tokChunk, tokChunk, usageChunk, done}, trace.UsageChunk, trace.TokensUsage, 3, 2},
		{"usage on the final chunk", []string{tokChunk, final, done}, trace.UsageFinalChunk, trace.TokensUsage, 9, 4},
		{"placeholder zeros, then the real figures", []string{zeros, zeros, final, done}, trace.UsageFinalChunk, trace.TokensUsage, 9, 4},
		{"no usage: count chunks", []string{tokChunk, tokChunk, finalChunk, done}, trace.UsageNone, trace.TokensChunks, 2, 0},
		{"only zeros: count chunks", []string{zeros, zeros, done}, trace.UsageNone, trace.TokensChunks, 2, 0},
		{"prompt-only usage, no final figures: count chunks", []string{promptOnly, tokChunk, tokChunk, tokChunk, finalChunk, done}, trace.UsageNone, trace.TokensChunks, 3, 4},
		{"prompt-only usage, then the real figures", []string{promptOnly, tokChunk, final, done}, trace.UsageFinalChunk, trace.TokensUsage, 9, 4},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := do(t, streamServer(t, 0, c.pieces...).URL, chatReq(), Options{})
			if !rec.OK() || rec.UsageSource != c.source || rec.TokenSource != c.tokens || rec.CompletionTokens != c.out || rec.PromptTokens != c.in {
				t.Fatalf("%+v", rec)
			}
		})
	}
}

func TestFailuresAreClassified(t *testing.T) {
	cases := []struct {
		name   string
		pieces []string
		class  trace.ErrorClass
		msg    string
	}{
		{"error payload inside a 200 stream", []string{tokChunk, `data: {"error":{"message":"CUDA out of memory","type":"internal_error","code":500}}` + "\n\n", done}, trace.ErrErrorPayload, "CUDA out of memory"},
		{"error event", []string{tokChunk, "event: error\ndata: {\"message\":\"overloaded\"}\n\n"}, trace.ErrErrorPayload, "overloaded"},
		{"vLLM object error", []string{`data: {"object":"error","message":"max_tokens too large","code":400}` + "\n\n", done}, trace.ErrErrorPayload, "max_tokens too large"},
		{"TGI string error", []string{`data: {"error":"Input validation error","error_type":"validation"}` + "\n\n"}, trace.ErrErrorPayload, "Input validation error"},
		{"truncated: EOF without [DONE]", []string{roleChunk, tokChunk, tokChunk}, trace.ErrTruncated, "without [DONE]"},
		{"truncated: connection dropped", []string{tokChunk, "<hangup>"}, trace.ErrTruncated, ""},
		{"truncated: mid-event", []string{tokChunk, `data: {"choices":[{"delta":{"cont`, "<hangup>"}, trace.ErrTruncated, ""},
		{"malformed data", []string{tokChunk, "data: {not json}\n\n", done}, trace.ErrMalformed, "not a JSON chunk"},
		{"no tokens", []string{roleChunk, finalChunk, usageChunk, done}, trace.ErrNoTokens, "without generating"},
		{"only [DONE]", []string{done}, trace.ErrNoTokens, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := do(t, streamServer(t, 0, c.pieces...).URL, chatReq(), Options{})
			if rec.OK() || rec.Status != trace.StatusError || rec.ErrorClass != c.class {
				t.Fatalf("class %q, want %q: %+v", rec.ErrorClass, c.class, rec)
			}
			if !strings.Contains(rec.Error, c.msg) {
				t.Fatalf("error %q does not mention %q", rec.Error, c.msg)
			}
			if rec.EndNS == 0 {
				t.Fatal("EndNS not set")
			}
		})
	}
}

func TestHTTPErrors(t *testing.T) {
	for _, status := range []int{400, 429, 500, 503} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(status)
			io.WriteString(w, `{"error":{"message":"nope","type":"server_error"}}`)
		}))
		rec := do(t, srv.URL, chatReq(), Options{})
		srv.Close()
		if rec.ErrorClass != trace.ErrHTTPStatus || rec.HTTPStatus != int32(status) || !strings.Contains(rec.Error, "nope") {
			t.Fatalf("status %d: %+v", status, rec)
		}
	}
}

func TestTimeoutCancelAndConnect(t *testing.T) {
	stall := streamServer(t, 0, roleChunk, "<stall>")
	rec := do(t, stall.URL, chatReq(), Options{Timeout: 50 * time.Millisecond})
	if rec.ErrorClass != trace.ErrTimeout {
		t.Fatalf("stall: %+v", rec)
	}
	// The deadline starts a moment before the request is sent (SentNS),
	// so the recorded span can be a hair under the timeout.
	if d := time.Duration(rec.EndNS - rec.SentNS); d < 45*time.Millisecond || d > 2*time.Second {
		t.Fatalf("timed out after %v", d)
	}

	c, _ := New(stall.URL, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	var crec trace.Record
	go func() { time.Sleep(30 * time.Millisecond); cancel() }()
	c.Do(ctx, chatReq(), &crec)
	if crec.ErrorClass != trace.ErrCanceled {
		t.Fatalf("cancel: %+v", crec)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	rec = do(t, "http://"+addr, chatReq(), Options{})
	if rec.ErrorClass != trace.ErrConnect || rec.HTTPStatus != 0 {
		t.Fatalf("connect: %+v", rec)
	}
}

func TestNonStreaming(t *testing.T) {
	var got map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewDecoder(r.Body).Decode(&got)
		io.WriteString(w, `{"object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"hi there"},"finish_reason":"length"}],"usage":{"prompt_tokens":2,"completion_tokens":5}}`)
	}))
	defer srv.Close()
	req := chatReq()
	req.Stream = false
	rec := do(t, srv.URL+"/v1/", req, Options{})
	if !rec.OK() || rec.UsageSource != trace.UsageBody || rec.CompletionTokens != 5 || rec.FirstTokenNS != rec.LastTokenNS {
		t.Fatalf("%+v", rec)
	}
	if got["stream"] != false || got["stream_options"] != nil || got["max_tokens"] != float64(8) {
		t.Fatalf("request body %v", got)
	}

	// Without usage, or with zero completion tokens, the output's tokens
	// are unknown: the request succeeded, but no count is made up.
	for _, usage := range []string{``, `,"usage":{"prompt_tokens":2,"completion_tokens":0}`} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, `{"object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"hi there"},"finish_reason":"length"}]`+usage+`}`)
		}))
		rec := do(t, srv.URL+"/v1/", req, Options{})
		srv.Close()
		if !rec.OK() || rec.TokenSource != trace.TokensNone || rec.UsageSource != trace.UsageNone || rec.CompletionTokens != 0 {
			t.Fatalf("usage %q: %+v", usage, rec)
		}
	}
}

func TestRequestBodies(t *testing.T) {
	var bodies []map[string]any
	var paths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b map[string]any
		json.NewDecoder(r.Body).Decode(&b)
		bodies, paths = append(bodies, b), append(paths, r.URL.Path)
		if r.Header.Get("Authorization") != "Bearer sk-test" {
			w.WriteHeader(401)
			return
		}
		io.WriteString(w, `data: {"choices":[{"index":0,"text":" x"}]}`+"\n\n"+done)
	}))
	defer srv.Close()
	c, _ := New(srv.URL, Options{APIKey: "sk-test"})
	var rec trace.Record
	c.Do(context.Background(), &Request{API: Completions, Model: "m", Prompt: "p", MaxTokens: 3, Stream: true, Extra: map[string]any{"ignore_eos": true}}, &rec)
	if !rec.OK() || paths[0] != "/v1/completions" || bodies[0]["prompt"] != "p" || bodies[0]["ignore_eos"] != true {
		t.Fatalf("%+v %v %v", rec, paths, bodies)
	}
	if so, _ := bodies[0]["stream_options"].(map[string]any); so["include_usage"] != true {
		t.Fatalf("stream_options %v", bodies[0]["stream_options"])
	}
	c.Do(context.Background(), chatReq(), &rec)
	msgs, _ := bodies[1]["messages"].([]any)
	if paths[1] != "/v1/chat/completions" || len(msgs) != 1 {
		t.Fatalf("%v %v", paths, bodies[1])
	}
}

func TestRequestBodyIsValidJSON(t *testing.T) {
	extra, err := EncodeExtra(map[string]any{"ignore_eos": true, "temperature": 0.5})
	if err != nil {
		t.Fatal(err)
	}
	for _, req := range []*Request{
		{API: Chat, Model: "m/é", Prompt: "quote \" backslash \\ newline \n emoji 😀 \u0001", MaxTokens: 3, Stream: true, ExtraJSON: extra},
		{API: Completions, Prompt: "p", MaxTokens: 1},
		{API: Chat, Prompt: "p", MaxTokens: 2, Extra: map[string]any{"seed": 1}},
	} {
		b, err := requestBody(req)
		if err != nil {
			t.Fatal(err)
		}
		var got map[string]any
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		if req.API == Chat {
			msgs := got["messages"].([]any)
			if msgs[0].(map[string]any)["content"] != req.Prompt {
				t.Fatalf("prompt changed: %s", b)
			}
		}
	}
	if _, err := EncodeExtra(map[string]any{"stream": false}); err == nil {
		t.Fatal("a client-owned key was accepted as an extra parameter")
	}
}
