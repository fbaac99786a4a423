package openai

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
)

// parseChunk fills c from one chunk's JSON without reflection or
// allocation: at thousands of requests per second with a chunk per token,
// encoding/json was a third of the client's CPU and deepened every stream's
// goroutine stack. It reads only what measurement needs and skips the rest;
// a chunk that is not a JSON object is an error. A differential test checks
// it against encoding/json.
func parseChunk(b []byte, c *chunk) error {
	s := scanner{b: b}
	s.ws()
	if !s.eat('{') {
		return s.fail("expected an object")
	}
	err := s.members(func(key []byte) error {
		switch string(key) {
		case "object":
			v, ok, err := s.str()
			if err != nil {
				return err
			}
			if ok && string(v) == "error" {
				c.Object = "error" // only ever compared with "error": no copy
			}
			return nil
		case "error":
			present, err := s.presence(false)
			c.Error = rawValue(present)
			return err
		case "choices":
			return s.choices(c)
		case "usage":
			if s.null() {
				return nil
			}
			c.Usage = &c.usage
			return s.intFields("prompt_tokens", &c.usage.PromptTokens, "completion_tokens", &c.usage.CompletionTokens)
		case "x_sim":
			if s.null() {
				return nil
			}
			c.XSim = &c.xsim
			return s.intFields("received_ns", &c.xsim.ReceivedNS, "sent_ns", &c.xsim.SentNS)
		}
		return s.skip(0)
	})
	if err != nil {
		return err
	}
	s.ws()
	if s.i != len(s.b) {
		return s.fail("unexpected data after the object")
	}
	return nil
}

type scanner struct {
	b []byte
	i int
}

var errMalformed = errors.New("malformed JSON")

func (s *scanner) fail(why string) error {
	return fmt.Errorf("%w at byte %d: %s", errMalformed, s.i, why)
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) eat(c byte) bool {
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

func (s *scanner) null() bool {
	s.ws()
	if bytes.HasPrefix(s.b[s.i:], []byte("null")) {
		s.i += 4
		return true
	}
	return false
}

// members calls f for each member of the object whose '{' was read; f must
// consume the value.
func (s *scanner) members(f func(key []byte) error) error {
	if s.eat('}') {
		return nil
	}
	for {
		key, ok, err := s.str()
		if err != nil {
			return err
		}
		if !ok {
			return s.fail("expected a string key")
		}
		if !s.eat(':') {
			return s.fail("expected ':'")
		}
		if err := f(key); err != nil {
			return err
		}
		if s.eat(',') {
			continue
		}
		if s.eat('}') {
			return nil
		}
		return s.fail("expected ',' or '}'")
	}
}

// str reads a string and returns its raw contents (escapes not decoded;
// keys and values compared here never need them). ok is false if the next
// value is not a string, in which case it is skipped.
func (s *scanner) str() (raw []byte, ok bool, err error) {
	s.ws()
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return nil, false, s.skip(0)
	}
	start := s.i + 1
	for i := start; i < len(s.b); i++ {
		switch c := s.b[i]; {
		case c == '"':
			s.i = i + 1
			return s.b[start:i], true, nil
		case c < 0x20:
			s.i = i
			return nil, false, s.fail("control character in string")
		case c == '\\':
			if i+1 >= len(s.b) {
				break
			}
			switch s.b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i++
			case 'u':
				if i+5 >= len(s.b) || !isHex4(s.b[i+2:i+6]) {
					s.i = i
					return nil, false, s.fail("invalid \\u escape")
				}
				i += 5
			default:
				s.i = i
				return nil, false, s.fail("invalid escape")
			}
		}
	}
	return nil, false, s.fail("unterminated string")
}

// presence reads a value and reports whether it is there and not null (and,
// if nonEmpty, not "", [] or {}).
func (s *scanner) presence(nonEmpty bool) (bool, error) {
	s.ws()
	start := s.i
	if err := s.skip(0); err != nil {
		return false, err
	}
	v := s.b[start:s.i]
	switch string(v) {
	case "null":
		return false, nil
	case `""`, "[]", "{}":
		return !nonEmpty, nil
	}
	if nonEmpty && (v[0] == '[' || v[0] == '{') {
		inner := bytes.TrimSpace(v[1 : len(v)-1])
		return len(inner) > 0, nil
	}
	return true, nil
}

func (s *scanner) choices(c *chunk) error {
	if s.null() {
		return nil
	}
	if !s.eat('[') {
		return s.fail("choices: expected an array")
	}
	if s.eat(']') {
		c.Choices = c.Choices[:0]
		return nil
	}
	for {
		c.Choices = append(c.Choices, choice{})
		ch := &c.Choices[len(c.Choices)-1]
		if !s.eat('{') {
			return s.fail("choices: expected an object")
		}
		err := s.members(func(key []byte) error {
			switch string(key) {
			case "delta":
				return s.message(&ch.Delta)
			case "message":
				return s.message(&ch.Message)
			case "text":
				p, err := s.presence(true)
				ch.Text = nonEmpty(p)
				return err
			case "finish_reason":
				p, err := s.presence(false)
				ch.FinishReason = rawValue(p)
				return err
			}
			return s.skip(0)
		})
		if err != nil {
			return err
		}
		if s.eat(',') {
			continue
		}
		if s.eat(']') {
			return nil
		}
		return s.fail("choices: expected ',' or ']'")
	}
}

func (s *scanner) message(m *message) error {
	if s.null() {
		return nil
	}
	if !s.eat('{') {
		return s.skip(0)
	}
	return s.members(func(key []byte) error {
		var dst *nonEmpty
		switch string(key) {
		case "content":
			dst = &m.Content
		case "reasoning_content":
			dst = &m.ReasoningContent
		case "reasoning":
			dst = &m.Reasoning
		case "tool_calls":
			dst = &m.ToolCalls
		default:
			return s.skip(0)
		}
		p, err := s.presence(true)
		*dst = nonEmpty(p)
		return err
	})
}

// intFields reads an object, storing the two named integer members.
func (s *scanner) intFields(name1 string, dst1 *int64, name2 string, dst2 *int64) error {
	if !s.eat('{') {
		return s.skip(0)
	}
	return s.members(func(key []byte) error {
		var dst *int64
		switch string(key) {
		case name1:
			dst = dst1
		case name2:
			dst = dst2
		default:
			return s.skip(0)
		}
		s.ws()
		start := s.i
		if err := s.skip(0); err != nil {
			return err
		}
		n, err := strconv.ParseInt(string(s.b[start:s.i]), 10, 64)
		if err != nil {
			return s.fail(string(key) + ": not an integer")
		}
		*dst = n
		return nil
	})
}

// skip reads past one value, checking its structure (brackets, strings,
// literals) well enough to tell a chunk from garbage.
func (s *scanner) skip(depth int) error {
	if depth > 64 {
		return s.fail("nested too deeply")
	}
	s.ws()
	if s.i >= len(s.b) {
		return s.fail("unexpected end")
	}
	switch c := s.b[s.i]; {
	case c == '"':
		_, _, err := s.str()
		return err
	case c == '{':
		s.i++
		return s.members(func([]byte) error { return s.skip(depth + 1) })
	case c == '[':
		s.i++
		if s.eat(']') {
			return nil
		}
		for {
			if err := s.skip(depth + 1); err != nil {
				return err
			}
			if s.eat(',') {
				continue
			}
			if s.eat(']') {
				return nil
			}
			return s.fail("expected ',' or ']'")
		}
	case c == 't' || c == 'f' || c == 'n':
		for _, lit := range []string{"true", "false", "null"} {
			if bytes.HasPrefix(s.b[s.i:], []byte(lit)) {
				s.i += len(lit)
				return nil
			}
		}
		return s.fail("invalid literal")
	case c == '-' || (c >= '0' && c <= '9'):
		start := s.i
		for s.i < len(s.b) && isNumberByte(s.b[s.i]) {
			s.i++
		}
		if !validNumber(s.b[start:s.i]) {
			return s.fail("invalid number")
		}
		return nil
	}
	return s.fail(fmt.Sprintf("unexpected %q", s.b[s.i]))
}

func isNumberByte(c byte) bool {
	return c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E'
}

func isHex4(b []byte) bool {
	for _, c := range b {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// validNumber checks JSON's number grammar:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func validNumber(b []byte) bool {
	i := 0
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		return false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return false
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return false
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	}
	return i == len(b)
}
