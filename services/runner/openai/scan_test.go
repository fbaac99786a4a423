package openai

import (
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
)

// reference decodes a chunk with encoding/json, the oracle for parseChunk.
func reference(b []byte) (chunk, error) {
	var c chunk
	err := json.Unmarshal(b, &c)
	return c, err
}

func sameChunk(a, b *chunk) bool {
	if a.isError() != b.isError() || a.hasContent() != b.hasContent() || len(a.Choices) != len(b.Choices) {
		return false
	}
	if (a.Usage == nil) != (b.Usage == nil) || (a.Usage != nil && *a.Usage != *b.Usage) {
		return false
	}
	if (a.XSim == nil) != (b.XSim == nil) || (a.XSim != nil && *a.XSim != *b.XSim) {
		return false
	}
	for i := range a.Choices {
		if a.Choices[i].FinishReason != b.Choices[i].FinishReason {
			return false
		}
	}
	return true
}

func TestParseChunkMatchesEncodingJSON(t *testing.T) {
	var corpus []string
	for _, c := range engineStreams {
		for _, line := range strings.Split(c.stream, "\n") {
			if d, ok := strings.CutPrefix(line, "data:"); ok && !strings.Contains(d, "[DONE]") {
				corpus = append(corpus, strings.TrimSpace(d))
			}
		}
	}
	corpus = append(corpus,
		`{"choices":[{"index":0,"text":" x","finish_reason":null}]}`,
		`{"choices":[{"message":{"role":"assistant","content":"hi"},"finish_reason":"length"}],"usage":{"prompt_tokens":2,"completion_tokens":5}}`,
		`{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"name":"f"}}]}}]}`,
		`{"choices":[{"delta":{"tool_calls":[]}}]}`,
		`{"choices":[{"delta":{"reasoning_content":"think"}}]}`,
		`{"error":{"message":"boom","code":500}}`, `{"error":null,"choices":[]}`, `{"object":"error","message":"x"}`,
		`{"x_sim":{"received_ns":1700000000000000001,"sent_ns":1700000000000000099},"choices":[{"delta":{"content":"a\"b\\c\u00e9"}}]}`,
		`{"usage":null,"choices":null}`, ` { "choices" : [ { "delta" : { "content" : "" } } ] } `,
		`{"nested":{"a":[1,2,{"b":[true,false,null,-1.5e3]}]},"choices":[]}`,
	)
	for _, text := range corpus {
		var got chunk
		err := parseChunk([]byte(text), &got)
		want, werr := reference([]byte(text))
		if err != nil || werr != nil {
			t.Fatalf("%s: parse %v, encoding/json %v", text, err, werr)
		}
		if !sameChunk(&got, &want) {
			t.Fatalf("%s:\n parseChunk %+v\n json       %+v", text, got, want)
		}
	}
	// Mutations: whatever both accept must decode alike; garbage must not
	// be accepted as a chunk with content.
	r := rand.New(rand.NewPCG(1, 1))
	agree, rejected := 0, 0
	for range 20000 {
		b := []byte(corpus[r.IntN(len(corpus))])
		for range 1 + r.IntN(3) {
			b[r.IntN(len(b))] = "{}[]\":,0a \\nulltrue"[r.IntN(19)]
		}
		var got chunk
		err := parseChunk(b, &got)
		want, werr := reference(b)
		switch {
		case err == nil && werr == nil:
			if !sameChunk(&got, &want) {
				t.Fatalf("%q:\n parseChunk %+v\n json       %+v", b, got, want)
			}
			agree++
		case err == nil && werr != nil && got.hasContent():
			t.Fatalf("%q: accepted as content although not JSON (%v)", b, werr)
		default:
			rejected++
		}
	}
	t.Logf("%d chunks, %d mutations decoded alike, %d rejected", len(corpus), agree, rejected)
}

func BenchmarkParseChunk(b *testing.B) {
	data := []byte(`{"id":"chatcmpl-9f","object":"chat.completion.chunk","created":1760000000,"model":"Qwen/Qwen2.5-7B-Instruct","choices":[{"index":0,"delta":{"content":" world"},"logprobs":null,"finish_reason":null}]}`)
	var c chunk
	b.Run("parseChunk", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			c.reset()
			if err := parseChunk(data, &c); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			c.reset()
			if err := json.Unmarshal(data, &c); err != nil {
				b.Fatal(err)
			}
		}
	})
}
