package hwinfo

import (
	"crypto/sha256"
	"encoding/hex"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/inferencebench/bench/pkg/envelope"
)

// Bounds of software_provenance.git_commit in the envelope schema.
const (
	minCommitLen = 7
	maxCommitLen = 40
)

// provenance fills software_provenance. gpuPresent decides whether a missing
// nvidia-smi deserves a warning (on a CPU-only host it is expected).
func (c *collector) provenance(gpuPresent bool) envelope.SoftwareProvenance {
	p := envelope.SoftwareProvenance{ImageDigest: clean(c.opts.ImageDigest)}

	bi, ok := c.opts.ReadBuildInfo()
	if !ok || bi == nil {
		bi = nil
		p.PipFreezeHash = sha256Hex(nil)
		c.warn("Go build information unavailable (binary built without module support): pip_freeze_hash is the sha256 of the empty string")
	} else {
		p.PipFreezeHash = ModuleListHash(bi)
	}

	p.GitCommit = c.gitCommit(bi)
	p.NvidiaSMIQHash = c.nvidiaSMIHash(gpuPresent)
	return p
}

// ModuleList returns the Go counterpart of the reference's `pip freeze`: one
// line per module of the build (the main module and every dependency), each
// "path version sum", with " => path version sum" of the replacement appended
// when the module is replaced (the replacement is what was compiled). Lines
// are sorted by byte order and joined with "\n", without a final newline.
// Modules with an empty path (a test binary's main module) are left out.
//
// The main module's version is "(devel)" unless it was built with
// `go install module@version`, and its sum is "": the source of the main
// module is identified by git_commit, not here.
func ModuleList(bi *debug.BuildInfo) string {
	line := func(m *debug.Module) string {
		s := m.Path + " " + m.Version + " " + m.Sum
		if r := m.Replace; r != nil {
			s += " => " + r.Path + " " + r.Version + " " + r.Sum
		}
		return s
	}
	var lines []string
	if bi.Main.Path != "" {
		lines = append(lines, line(&bi.Main))
	}
	for _, d := range bi.Deps {
		if d != nil && d.Path != "" {
			lines = append(lines, line(d))
		}
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

// ModuleListHash is pip_freeze_hash: the lowercase hex sha256 of the UTF-8
// bytes of ModuleList(bi).
func ModuleListHash(bi *debug.BuildInfo) string {
	return sha256Hex([]byte(ModuleList(bi)))
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// gitCommit picks git_commit: the vcs.revision the Go toolchain stamped into
// the binary (the most trustworthy: it is the tree that was compiled), else
// Options.GitCommit, else LinkedGitCommit, else "unknown" with a warning.
// A value outside the schema's 7..40 characters is not used as is: a longer
// hex name (a SHA-256 repository's commit) is abbreviated to 40 characters,
// which git still resolves; anything else becomes "unknown". Either way a
// warning says so.
func (c *collector) gitCommit(bi *debug.BuildInfo) string {
	var rev, source string
	var modified bool
	if bi != nil {
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = clean(s.Value)
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	switch {
	case rev != "":
		source = "vcs.revision build setting"
		if modified {
			c.warn("the binary was built from a modified working tree (vcs.modified=true): git_commit %s does not fully describe its source", rev)
		}
	case clean(c.opts.GitCommit) != "":
		rev, source = clean(c.opts.GitCommit), "Options.GitCommit"
	case clean(LinkedGitCommit) != "":
		rev, source = clean(LinkedGitCommit), "hwinfo.LinkedGitCommit"
	default:
		c.warn("git commit unknown (no vcs.revision in the build, no Options.GitCommit, no -ldflags hwinfo.LinkedGitCommit): git_commit is %q", Unknown)
		return Unknown
	}
	switch n := len(rev); {
	case n >= minCommitLen && n <= maxCommitLen:
		return rev
	case n > maxCommitLen && isHex(rev):
		c.warn("git commit %s from %s is longer than the schema's %d characters: git_commit is its %d-character abbreviation", rev, source, maxCommitLen, maxCommitLen)
		return rev[:maxCommitLen]
	default:
		c.warn("git commit %q from %s is not %d to %d characters long: git_commit is %q", rev, source, minCommitLen, maxCommitLen, Unknown)
		return Unknown
	}
}

func isHex(s string) bool {
	for i := range len(s) {
		if !strings.ContainsRune("0123456789abcdefABCDEF", rune(s[i])) {
			return false
		}
	}
	return s != ""
}

// nvidiaSMIHash is nvidia_smi_q_hash: the lowercase hex sha256 of the
// standard output of `nvidia-smi -q`, as the reference computes it, or ""
// when nvidia-smi is absent or fails. The output includes a timestamp and live
// readings (temperatures, clocks, power), so the hash differs between runs;
// it identifies a report, not a configuration.
func (c *collector) nvidiaSMIHash(gpuPresent bool) string {
	out, err := c.run("nvidia-smi", "-q")
	if err != nil {
		if gpuPresent {
			c.warn("nvidia-smi -q unavailable (%s) although NVML sees a GPU: nvidia_smi_q_hash is \"\"", commandReason(err))
		}
		return ""
	}
	return sha256Hex(out)
}
