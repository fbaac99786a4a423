package hwinfo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"
)

func TestModuleListFormula(t *testing.T) {
	bi, _ := fakeBuildInfo()()
	want := strings.Join([]string{
		"github.com/NVIDIA/go-nvml v0.13.3-0 h1:nvmlsum=",
		"github.com/inferencebench/bench (devel) ",
		"github.com/inferencebench/bench/pkg/envelope v0.0.0  => ./pkg/envelope  ",
		"github.com/spf13/cobra v1.10.2 h1:cobrasum=",
	}, "\n")
	if got := ModuleList(bi); got != want {
		t.Errorf("ModuleList =\n%s\nwant\n%s", got, want)
	}
	sum := sha256.Sum256([]byte(want))
	if got := ModuleListHash(bi); got != hex.EncodeToString(sum[:]) {
		t.Errorf("ModuleListHash = %s", got)
	}
}

// TestModuleListOfARealBuild builds a small program (test binaries record no
// dependencies) and checks that its module list carries go-nvml with the
// checksum go.sum pins, and that the hash is the sha256 of the list.
func TestModuleListOfARealBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a program")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool")
	}
	bin := filepath.Join(t.TempDir(), "modlist")
	build := exec.Command(goTool, "build", "-o", bin, "./testdata/modlist")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin).Output()
	if err != nil {
		t.Fatal(err)
	}
	hash, list, _ := strings.Cut(strings.TrimSuffix(string(out), "\n"), "\n")
	if !strings.Contains("\n"+list+"\n", "\ngithub.com/NVIDIA/go-nvml v0.13.3-0 h1:oJZ4+VTtPI/XT7XCfo5NvE9XTNrH8I3/KHy89rHxDxY=\n") {
		t.Errorf("module list lacks go-nvml with its go.sum checksum:\n%s", list)
	}
	if !strings.Contains(list, "github.com/inferencebench/bench (devel) ") {
		t.Errorf("module list lacks the main module:\n%s", list)
	}
	if sum := sha256.Sum256([]byte(list)); hash != hex.EncodeToString(sum[:]) {
		t.Errorf("hash %s is not the sha256 of the list", hash)
	}
	t.Logf("pip_freeze_hash %s of\n%s", hash, list)
}

func TestGitCommitPrecedence(t *testing.T) {
	rev := debug.BuildSetting{Key: "vcs.revision", Value: "6ce5b08930b389e83932a56560eeb4f8e825ad6e"}
	dirty := debug.BuildSetting{Key: "vcs.modified", Value: "true"}
	cases := []struct {
		name     string
		settings []debug.BuildSetting
		opt      string
		linked   string
		want     string
		warning  string // "" means no warning
	}{
		{"vcs wins", []debug.BuildSetting{rev}, "abcdef0", "1234567", rev.Value, ""},
		{"vcs modified", []debug.BuildSetting{rev, dirty}, "", "", rev.Value, "modified working tree"},
		{"options", nil, "abcdef0", "1234567", "abcdef0", ""},
		{"linked", nil, "", "1234567", "1234567", ""},
		{"none", nil, "", "", "unknown", `git_commit is "unknown"`},
		{"too short", nil, "abc", "", "unknown", `"abc" from Options.GitCommit is not 7 to 40 characters`},
		{"sha256 repository", nil, strings.Repeat("ab", 32), "", strings.Repeat("ab", 20), "40-character abbreviation"},
		{"long non-hex", nil, strings.Repeat("x", 41), "", "unknown", "is not 7 to 40 characters"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			saved := LinkedGitCommit
			LinkedGitCommit = tc.linked
			defer func() { LinkedGitCommit = saved }()
			bi, _ := fakeBuildInfo(tc.settings...)()
			c := &collector{opts: Options{GitCommit: tc.opt}}
			if got := c.gitCommit(bi); got != tc.want {
				t.Errorf("git_commit = %q, want %q", got, tc.want)
			}
			switch {
			case tc.warning == "" && len(c.warnings) != 0:
				t.Errorf("unexpected warnings %q", c.warnings)
			case tc.warning != "":
				requireWarning(t, c.warnings, tc.warning)
			}
		})
	}
}

func TestProvenanceWithoutBuildInfo(t *testing.T) {
	run := &fakeRunner{}
	c := &collector{ctx: context.Background(), opts: Options{
		Run: run.run, CommandTimeout: time.Second, GitCommit: "abcdef0",
		ReadBuildInfo: func() (*debug.BuildInfo, bool) { return nil, false },
	}}
	p := c.provenance(false)
	if p.PipFreezeHash != sha256Hex(nil) {
		t.Errorf("pip_freeze_hash = %s", p.PipFreezeHash)
	}
	requireWarning(t, c.warnings, "build information unavailable", "sha256 of the empty string")
}

func TestExecRunner(t *testing.T) {
	ctx := context.Background()
	if _, err := ExecRunner(ctx, "hwinfo-no-such-program-xyz"); !errors.Is(err, exec.ErrNotFound) {
		t.Errorf("missing program: err = %v, want exec.ErrNotFound", err)
	}
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	out, err := ExecRunner(ctx, "sh", "-c", "printf 'hello'")
	if err != nil || string(out) != "hello" {
		t.Errorf("out %q err %v", out, err)
	}
	_, err = ExecRunner(ctx, "sh", "-c", "echo '/dev/mem: Permission denied' >&2; exit 1")
	if err == nil || !strings.Contains(err.Error(), "/dev/mem: Permission denied") {
		t.Errorf("failing program: err = %v", err)
	}
	tctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = ExecRunner(tctx, "sh", "-c", "sleep 10")
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
		t.Errorf("hung program: err = %v after %v", err, time.Since(start))
	}
	if got := commandReason(err); got != "timed out" {
		t.Errorf("commandReason = %q", got)
	}
}
