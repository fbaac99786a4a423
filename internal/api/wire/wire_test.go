package wire

import (
	"os/exec"
	"strings"
	"testing"
)

// TestAPIWireLinksNoServerDependencies pins the reason this package exists:
// a client that imports it must not link the catalog or its SQLite driver.
func TestAPIWireLinksNoServerDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.Contains(dep, "/internal/catalog") || strings.Contains(dep, "sqlite") || strings.Contains(dep, "nats") {
			t.Errorf("package wire depends on %s", dep)
		}
	}
}
