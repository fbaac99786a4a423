package openai

import "bytes"

// chunk is the part of a streamed chunk (or of a non-streaming body) that
// measurement needs. Generated text is only tested for presence, never
// copied.
type chunk struct {
	Object  string   `json:"object"`
	Error   rawValue `json:"error"`
	Choices []choice `json:"choices"`
	Usage   *usage   `json:"usage"`
	XSim    *xsim    `json:"x_sim"`
	// Storage that Usage and XSim point into, so that parsing a chunk does
	// not allocate.
	usage usage
	xsim  xsim
}

type choice struct {
	Delta        message  `json:"delta"`   // streaming chat
	Message      message  `json:"message"` // non-streaming chat
	Text         nonEmpty `json:"text"`    // completions
	FinishReason rawValue `json:"finish_reason"`
}

// message holds the fields that carry generated output. Reasoning models
// stream their thinking as reasoning_content (vLLM, SGLang) or reasoning
// (newer vLLM, ollama); those are generated tokens too.
type message struct {
	Content          nonEmpty `json:"content"`
	ReasoningContent nonEmpty `json:"reasoning_content"`
	Reasoning        nonEmpty `json:"reasoning"`
	ToolCalls        nonEmpty `json:"tool_calls"`
}

type usage struct {
	PromptTokens     int64 `json:"prompt_tokens"`
	CompletionTokens int64 `json:"completion_tokens"`
}

// xsim carries the simulated engine's ground-truth timestamps.
type xsim struct {
	ReceivedNS int64 `json:"received_ns"`
	SentNS     int64 `json:"sent_ns"`
}

func (c *chunk) reset() {
	c.Object, c.Error, c.Usage, c.XSim, c.usage, c.xsim = "", false, nil, nil, usage{}, xsim{}
	clear(c.Choices)
	c.Choices = c.Choices[:0]
}

// isError reports an error payload: an "error" member that is not null, or
// vLLM's older {"object": "error", ...}.
func (c *chunk) isError() bool { return bool(c.Error) || c.Object == "error" }

func (c *chunk) hasContent() bool {
	for i := range c.Choices {
		ch := &c.Choices[i]
		if bool(ch.Text) || ch.Delta.any() || ch.Message.any() {
			return true
		}
	}
	return false
}

func (m *message) any() bool {
	return bool(m.Content || m.ReasoningContent || m.Reasoning || m.ToolCalls)
}

// nonEmpty records whether a JSON value is present and not empty: not
// null, "", [] or {}. It decodes without allocating.
type nonEmpty bool

func (n *nonEmpty) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch string(b) {
	case "null", `""`, "[]", "{}":
		*n = false
	default:
		*n = len(b) > 0
	}
	return nil
}

// rawValue records whether a JSON value is present and not null.
type rawValue bool

func (v *rawValue) UnmarshalJSON(b []byte) error {
	*v = rawValue(string(bytes.TrimSpace(b)) != "null")
	return nil
}
