package logging

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestJSONLinesAtLevel(t *testing.T) {
	var buf bytes.Buffer
	log, err := New(Options{Format: "auto", Level: "warn", Out: &buf})
	if err != nil {
		t.Fatal(err)
	}
	log.Info().Msg("hidden")
	log.Warn().Str("run_id", "r1").Msg("shown")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("%d lines, want only the warning: %q", len(lines), buf.String())
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil {
		t.Fatalf("not a JSON line (a buffer is not a terminal): %v", err)
	}
	if rec["message"] != "shown" || rec["run_id"] != "r1" || rec["level"] != "warn" || rec["time"] == nil {
		t.Fatalf("record %v", rec)
	}
}

func TestBadOptions(t *testing.T) {
	if _, err := New(Options{Level: "loud"}); err == nil || !strings.Contains(err.Error(), "loud") {
		t.Fatalf("level loud: %v", err)
	}
	if _, err := New(Options{Format: "xml"}); err == nil || !strings.Contains(err.Error(), "xml") {
		t.Fatalf("format xml: %v", err)
	}
}
