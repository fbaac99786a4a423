package schemas_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/inferencebench/bench/pkg/envelope"
	"github.com/inferencebench/bench/pkg/envelope/devkey"
	"github.com/inferencebench/bench/pkg/envelope/envelopetest"
	"github.com/inferencebench/bench/schemas"
)

func TestSchemaFilesAreCurrent(t *testing.T) {
	for name, want := range schemas.Generated() {
		got, err := schemas.Files.ReadFile(name)
		if err != nil {
			t.Fatalf("%s: %v (run 'make schemas')", name, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("schemas/%s is stale: the Go types changed; run 'make schemas' and commit the result", name)
		}
	}
}

// validateWithPython checks documents against a schema with python3's
// jsonschema package, an implementation independent of ours.
func validateWithPython(t *testing.T, schema []byte, docs map[string][]byte) {
	t.Helper()
	dir := t.TempDir()
	schemaPath := filepath.Join(dir, "schema.json")
	if err := os.WriteFile(schemaPath, schema, 0o644); err != nil {
		t.Fatal(err)
	}
	var paths []string
	for name, doc := range docs {
		p := filepath.Join(dir, strings.ReplaceAll(name, "/", "_"))
		if err := os.WriteFile(p, doc, 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	const script = `
import json, sys
from jsonschema import Draft202012Validator
schema = json.load(open(sys.argv[1]))
Draft202012Validator.check_schema(schema)
v = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
bad = 0
for p in sys.argv[2:]:
    errs = list(v.iter_errors(json.load(open(p))))
    for e in errs[:3]:
        print(p, "/".join(map(str, e.absolute_path)), e.message)
    bad += bool(errs)
print("checked", len(sys.argv) - 2, "failed", bad)
sys.exit(1 if bad else 0)
`
	out, err := exec.Command(envelopetest.Python(t), append([]string{"-c", script, schemaPath}, paths...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("python3 jsonschema rejected documents (python3 with the jsonschema package is required):\n%s", out)
	}
	t.Logf("python3 jsonschema: %s", bytes.TrimSpace(out))
}

func TestSchemaAcceptsFixturesAndSignedOutput(t *testing.T) {
	docs := map[string][]byte{}
	for _, fx := range envelopetest.All(t) {
		data, err := os.ReadFile(fx.Path)
		if err != nil {
			t.Fatal(err)
		}
		docs[fx.Rel] = data
	}
	if len(docs) != 63 {
		t.Fatalf("%d fixtures", len(docs))
	}
	// What bench sign writes: an envelope normalised, signed and laid out
	// by the same calls the command makes.
	env, err := envelope.Parse(docs["dot-bench/baseline.json"])
	if err != nil {
		t.Fatal(err)
	}
	env.Signature = nil
	key, _ := devkey.Generate()
	if _, err := devkey.Sign(env, key); err != nil {
		t.Fatal(err)
	}
	docs["signed-by-bench.json"] = env.MarshalIndent()
	validateWithPython(t, envelope.JSONSchema(), docs)

	// And the schema does reject what it should.
	var doc map[string]any
	_ = json.Unmarshal(docs["dot-bench/baseline.json"], &doc)
	doc["seed"] = "forty-two"
	delete(doc, "dataset")
	bad, _ := json.Marshal(doc)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "s.json"), envelope.JSONSchema(), 0o644)
	os.WriteFile(filepath.Join(dir, "bad.json"), bad, 0o644)
	out, err := exec.Command(envelopetest.Python(t), "-c", `
import json, sys
from jsonschema import Draft202012Validator
v = Draft202012Validator(json.load(open(sys.argv[1])))
print(sorted(e.message for e in v.iter_errors(json.load(open(sys.argv[2])))))
`, filepath.Join(dir, "s.json"), filepath.Join(dir, "bad.json")).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "'dataset' is a required property") || !strings.Contains(string(out), "is not of type 'integer'") {
		t.Fatalf("schema did not reject a bad envelope as expected: %v\n%s", err, out)
	}
}
