package openai

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/inferencebench/bench/services/runner/trace"
)

// Streams as the five target engines write them (shapes taken from their
// OpenAI-compatible servers: field order, extra fields, where usage goes,
// how the stream starts and ends). The client must measure each the same way
// without knowing which engine it talks to.
var engineStreams = map[string]struct {
	stream        string
	usageSource   trace.UsageSource
	prompt, comp  int64
	contentChunks int64
}{
	// vLLM: a role chunk with empty content first, a finish chunk, then a
	// usage chunk with empty choices.
	"vllm": {
		stream: `data: {"id":"chatcmpl-9f","object":"chat.completion.chunk","created":1760000000,"model":"Qwen/Qwen2.5-7B-Instruct","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}

data: {"id":"chatcmpl-9f","object":"chat.completion.chunk","created":1760000000,"model":"Qwen/Qwen2.5-7B-Instruct","choices":[{"index":0,"delta":{"content":"Hello"},"logprobs":null,"finish_reason":null}]}

data: {"id":"chatcmpl-9f","object":"chat.completion.chunk","created":1760000000,"model":"Qwen/Qwen2.5-7B-Instruct","choices":[{"index":0,"delta":{"content":" world"},"logprobs":null,"finish_reason":"length","stop_reason":null}]}

data: {"id":"chatcmpl-9f","object":"chat.completion.chunk","created":1760000000,"model":"Qwen/Qwen2.5-7B-Instruct","choices":[],"usage":{"prompt_tokens":12,"total_tokens":14,"completion_tokens":2}}

data: [DONE]

`,
		usageSource: trace.UsageChunk, prompt: 12, comp: 2, contentChunks: 2,
	},
	// SGLang: like OpenAI, with "usage": null on content chunks.
	"sglang": {
		stream: `data: {"id":"4b2","object":"chat.completion.chunk","created":1760000000,"model":"meta-llama/Llama-3.1-8B-Instruct","choices":[{"index":0,"delta":{"role":"assistant","content":"Hi","reasoning_content":null,"tool_calls":null},"logprobs":null,"finish_reason":null,"matched_stop":null}],"usage":null}

data: {"id":"4b2","object":"chat.completion.chunk","created":1760000000,"model":"meta-llama/Llama-3.1-8B-Instruct","choices":[{"index":0,"delta":{"role":null,"content":"!","reasoning_content":null,"tool_calls":null},"logprobs":null,"finish_reason":"length","matched_stop":null}],"usage":null}

data: {"id":"4b2","object":"chat.completion.chunk","created":1760000000,"model":"meta-llama/Llama-3.1-8B-Instruct","choices":[],"usage":{"prompt_tokens":9,"total_tokens":11,"completion_tokens":2,"prompt_tokens_details":null}}

data: [DONE]

`,
		usageSource: trace.UsageChunk, prompt: 9, comp: 2, contentChunks: 2,
	},
	// TGI (Messages API): no space after "data:", usage on the last chunk
	// together with its choice.
	"tgi": {
		stream: `data:{"object":"chat.completion.chunk","id":"","created":1760000000,"model":"tgi","system_fingerprint":"3.3.4-native","choices":[{"index":0,"delta":{"role":"assistant","content":"The"},"logprobs":null,"finish_reason":null}],"usage":null}

data:{"object":"chat.completion.chunk","id":"","created":1760000000,"model":"tgi","system_fingerprint":"3.3.4-native","choices":[{"index":0,"delta":{"role":"assistant","content":" end"},"logprobs":null,"finish_reason":null}],"usage":null}

data:{"object":"chat.completion.chunk","id":"","created":1760000000,"model":"tgi","system_fingerprint":"3.3.4-native","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":"length"}],"usage":{"prompt_tokens":7,"completion_tokens":2,"total_tokens":9}}

data:[DONE]

`,
		usageSource: trace.UsageFinalChunk, prompt: 7, comp: 2, contentChunks: 2,
	},
	// llama.cpp server: usage and timings on the finish chunk, whose delta
	// is empty.
	"llama.cpp": {
		stream: `data: {"choices":[{"finish_reason":null,"index":0,"delta":{"role":"assistant","content":null}}],"created":1760000000,"id":"chatcmpl-x1","model":"gpt-3.5-turbo","system_fingerprint":"b6100-1a2b3c","object":"chat.completion.chunk"}

data: {"choices":[{"finish_reason":null,"index":0,"delta":{"content":"One"}}],"created":1760000000,"id":"chatcmpl-x1","model":"gpt-3.5-turbo","system_fingerprint":"b6100-1a2b3c","object":"chat.completion.chunk"}

data: {"choices":[{"finish_reason":null,"index":0,"delta":{"content":" two"}}],"created":1760000000,"id":"chatcmpl-x1","model":"gpt-3.5-turbo","system_fingerprint":"b6100-1a2b3c","object":"chat.completion.chunk"}

data: {"choices":[{"finish_reason":"length","index":0,"delta":{}}],"created":1760000000,"id":"chatcmpl-x1","model":"gpt-3.5-turbo","system_fingerprint":"b6100-1a2b3c","object":"chat.completion.chunk","usage":{"completion_tokens":2,"prompt_tokens":5,"total_tokens":7},"timings":{"prompt_n":5,"prompt_ms":10.2,"predicted_n":2,"predicted_ms":30.1}}

data: [DONE]

`,
		usageSource: trace.UsageFinalChunk, prompt: 5, comp: 2, contentChunks: 2,
	},
	// ollama: a finish chunk with empty content, then (with include_usage) a
	// usage chunk.
	"ollama": {
		stream: `data: {"id":"chatcmpl-542","object":"chat.completion.chunk","created":1760000000,"model":"llama3.2","system_fingerprint":"fp_ollama","choices":[{"index":0,"delta":{"role":"assistant","content":"Sure"},"finish_reason":null}]}

data: {"id":"chatcmpl-542","object":"chat.completion.chunk","created":1760000000,"model":"llama3.2","system_fingerprint":"fp_ollama","choices":[{"index":0,"delta":{"role":"assistant","content":"."},"finish_reason":null}]}

data: {"id":"chatcmpl-542","object":"chat.completion.chunk","created":1760000000,"model":"llama3.2","system_fingerprint":"fp_ollama","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":"length"}]}

data: {"id":"chatcmpl-542","object":"chat.completion.chunk","created":1760000000,"model":"llama3.2","system_fingerprint":"fp_ollama","choices":[],"usage":{"prompt_tokens":26,"completion_tokens":2,"total_tokens":28}}

data: [DONE]

`,
		usageSource: trace.UsageChunk, prompt: 26, comp: 2, contentChunks: 2,
	},
}

func TestEngineStreams(t *testing.T) {
	for engine, c := range engineStreams {
		t.Run(engine, func(t *testing.T) {
			for _, crlf := range []bool{false, true} {
				stream := c.stream
				if crlf {
					stream = strings.ReplaceAll(stream, "\n", "\r\n")
				}
				rec := do(t, streamServer(t, 0, stream).URL, chatReq(), Options{})
				if !rec.OK() {
					t.Fatalf("not ok: %+v", rec)
				}
				if rec.UsageSource != c.usageSource || rec.TokenSource != trace.TokensUsage ||
					rec.PromptTokens != c.prompt || rec.CompletionTokens != c.comp || rec.ContentChunks != c.contentChunks {
					t.Fatalf("got usage %q/%q %d/%d, %d content chunks; want %q %d/%d, %d",
						rec.UsageSource, rec.TokenSource, rec.PromptTokens, rec.CompletionTokens, rec.ContentChunks,
						c.usageSource, c.prompt, c.comp, c.contentChunks)
				}
			}
		})
	}
}

func TestIdentify(t *testing.T) {
	cases := map[string]struct {
		path, body, name, version string
	}{
		"simulated": {"/version", `{"engine":"simulated","version":"1.0.0"}`, "simulated", "1.0.0"},
		"vllm":      {"/version", `{"version":"0.11.0"}`, "vllm", "0.11.0"},
		"tgi":       {"/info", `{"model_id":"m","version":"3.3.4","sha":"abc"}`, "tgi", "3.3.4"},
		"llama.cpp": {"/props", `{"default_generation_settings":{},"build_info":"b6100-1a2b3c"}`, "llama.cpp", "b6100-1a2b3c"},
		"ollama":    {"/api/version", `{"version":"0.12.3"}`, "ollama", "0.12.3"},
		"sglang":    {"/get_server_info", `{"version":"0.5.2","model_path":"m"}`, "sglang", "0.5.2"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == c.path {
					io.WriteString(w, c.body)
					return
				}
				http.NotFound(w, r)
			}))
			defer srv.Close()
			cl, _ := New(srv.URL+"/v1", Options{})
			info := cl.Identify(context.Background())
			if info.Name != c.name || info.Version != c.version {
				t.Fatalf("got %+v", info)
			}
		})
	}
}
