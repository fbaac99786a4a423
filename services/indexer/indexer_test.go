package indexer

import (
	"math/big"
	"path/filepath"
	"strings"
	"testing"

	"github.com/inferencebench/bench/pkg/envelope"
	"github.com/inferencebench/bench/pkg/envelope/canonjson"
	"github.com/inferencebench/bench/pkg/envelope/envelopetest"
)

// A metric too large for a float64 is valid in an envelope (integers of any
// size) but would make the catalog refuse the entry as infinite: Entry
// leaves it out and keeps the others.
func TestEntryLeavesOutMetricsBeyondFloat64(t *testing.T) {
	env, err := envelope.ReadFile(filepath.Join(envelopetest.Dir(t), "dot-bench/baseline.json"))
	if err != nil {
		t.Fatal(err)
	}
	huge, _ := new(big.Int).SetString("1"+strings.Repeat("0", 400), 10)
	env.Metrics.Set("requests_total_huge", canonjson.BigIntValue(huge))
	e := Entry(env, env.ContentHash(), []byte("{}"))
	if _, ok := e.Metrics["requests_total_huge"]; ok {
		t.Fatalf("the 401-digit metric is in the catalog entry as %v", e.Metrics["requests_total_huge"])
	}
	numeric := 0
	for _, m := range env.Metrics {
		if k := m.Value.Kind(); (k == canonjson.Int || k == canonjson.Float) && m.Name != "requests_total_huge" {
			numeric++
		}
	}
	if numeric == 0 || len(e.Metrics) != numeric {
		t.Fatalf("entry holds %d metrics, want the envelope's %d other numeric ones", len(e.Metrics), numeric)
	}
}
