package bus

import (
	"flag"
	"os"
	"strings"
	"testing"
)

var updateDocs = flag.Bool("update-docs", false, "rewrite the bus contract table in docs/architecture.md")

const (
	docsPath   = "../../docs/architecture.md"
	tableBegin = "<!-- bus contract: generated from internal/bus.Streams; go test ./internal/bus -update-docs -->\n"
	tableEnd   = "<!-- end of bus contract -->\n"
)

// TestDocsShowTheContract pins docs/architecture.md's bus contract table to
// Streams: the documentation cannot drift from the code.
func TestDocsShowTheContract(t *testing.T) {
	b, err := os.ReadFile(docsPath)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	i, j := strings.Index(doc, tableBegin), strings.Index(doc, tableEnd)
	if i < 0 || j < i {
		t.Fatalf("%s has no bus contract table between %q and %q", docsPath, tableBegin, tableEnd)
	}
	got, want := doc[i+len(tableBegin):j], ContractTable()
	if got == want {
		return
	}
	if *updateDocs {
		if err := os.WriteFile(docsPath, []byte(doc[:i+len(tableBegin)]+want+doc[j:]), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Fatalf("the bus contract table in %s is stale; run: go test ./internal/bus -run TestDocsShowTheContract -update-docs\nwant:\n%s", docsPath, want)
}
