package openai

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Models lists the model ids the server serves (GET /v1/models).
func (c *Client) Models(ctx context.Context) ([]string, error) {
	var list struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err := c.getJSON(ctx, "/v1/models", &list); err != nil {
		return nil, fmt.Errorf("listing models: %w", err)
	}
	ids := make([]string, 0, len(list.Data))
	for _, m := range list.Data {
		if m.ID != "" {
			ids = append(ids, m.ID)
		}
	}
	return ids, nil
}

// EngineInfo is what the server says about itself.
type EngineInfo struct {
	Name    string // simulated, vllm, sglang, tgi, llama.cpp, ollama; "" if unknown
	Version string
	// Raw is the body of the endpoint that answered, for the engine's
	// config hash and for people.
	Raw json.RawMessage
}

// Identify asks the engine-specific endpoints who the server is. Each
// engine answers a different one; the first that answers in its engine's
// shape wins. An unknown server gives a zero EngineInfo.
func (c *Client) Identify(ctx context.Context) EngineInfo {
	probes := []struct {
		path  string
		match func(map[string]json.RawMessage) (name, version string, ok bool)
	}{
		{"/version", func(m map[string]json.RawMessage) (string, string, bool) {
			if eng := str(m["engine"]); eng != "" { // the simulated engine
				return eng, str(m["version"]), true
			}
			v := str(m["version"])
			return "vllm", v, v != "" && len(m) <= 2
		}},
		{"/info", func(m map[string]json.RawMessage) (string, string, bool) { // TGI
			return "tgi", str(m["version"]), m["model_id"] != nil && m["version"] != nil
		}},
		{"/props", func(m map[string]json.RawMessage) (string, string, bool) { // llama.cpp
			return "llama.cpp", str(m["build_info"]), m["default_generation_settings"] != nil
		}},
		{"/api/version", func(m map[string]json.RawMessage) (string, string, bool) { // ollama
			return "ollama", str(m["version"]), m["version"] != nil && len(m) == 1
		}},
		{"/get_server_info", func(m map[string]json.RawMessage) (string, string, bool) { // SGLang
			return "sglang", str(m["version"]), m["version"] != nil
		}},
	}
	for _, p := range probes {
		var raw json.RawMessage
		if err := c.getJSON(ctx, p.path, &raw); err != nil {
			continue
		}
		var m map[string]json.RawMessage
		if json.Unmarshal(raw, &m) != nil {
			continue
		}
		if name, version, ok := p.match(m); ok {
			return EngineInfo{Name: name, Version: version, Raw: raw}
		}
	}
	return EngineInfo{}
}

func str(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

func (c *Client) getJSON(ctx context.Context, path string, out any) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return err
	}
	if c.opts.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+c.opts.APIKey)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: HTTP %d: %s", path, resp.StatusCode, errorMessage(body))
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	return nil
}
