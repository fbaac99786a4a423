package canonjson_test

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/inferencebench/bench/pkg/envelope/canonjson"
	"github.com/inferencebench/bench/pkg/envelope/envelopetest"
)

func corpus(b *testing.B) ([][]byte, int64) {
	var docs [][]byte
	var size int64
	for _, fx := range envelopetest.All(b) {
		data, err := os.ReadFile(fx.Path)
		if err != nil {
			b.Fatal(err)
		}
		docs = append(docs, data)
		size += int64(len(data))
	}
	return docs, size
}

// BenchmarkParse reads the 63 reference envelopes; encoding/json's generic
// decode of the same bytes runs beside it for scale.
func BenchmarkParse(b *testing.B) {
	docs, size := corpus(b)
	b.Run("canonjson", func(b *testing.B) {
		b.SetBytes(size)
		b.ReportAllocs()
		for b.Loop() {
			for _, d := range docs {
				if _, err := canonjson.Parse(d); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.SetBytes(size)
		b.ReportAllocs()
		for b.Loop() {
			for _, d := range docs {
				var v any
				if err := json.Unmarshal(d, &v); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}

func BenchmarkCanonical(b *testing.B) {
	docs, _ := corpus(b)
	values := make([]canonjson.Value, len(docs))
	var out int64
	for i, d := range docs {
		values[i], _ = canonjson.Parse(d)
		out += int64(len(canonjson.Canonical(values[i])))
	}
	b.SetBytes(out)
	b.ReportAllocs()
	buf := make([]byte, 0, 1<<16)
	for b.Loop() {
		for _, v := range values {
			buf = canonjson.AppendCanonical(buf[:0], v)
		}
	}
}

// BenchmarkReadCanonical streams each document straight to canonical form,
// with no tree: the path free-form envelope fields take.
func BenchmarkReadCanonical(b *testing.B) {
	docs, size := corpus(b)
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		for _, doc := range docs {
			d, err := canonjson.NewDecoder(doc)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := d.ReadCanonical(); err != nil {
				b.Fatal(err)
			}
			d.Release()
		}
	}
}
