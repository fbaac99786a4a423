// Package hwinfo measures the machine a benchmark runs on: the envelope's
// hardware_fingerprint and software_provenance, and the GPU energy and power
// drawn during a run.
//
// Every value comes from a named source (NVML, /sys, /proc, dmidecode, the Go
// build information). When a source cannot be read, the field gets the
// placeholder the Python reference uses (so the envelope still validates and
// fingerprints stay comparable with the reference's), and Collect adds a
// human-readable warning naming the field, the placeholder and the reason.
// No placeholder is ever set without a warning: a fingerprint that silently
// says "1 channel at 1 MT/s" would be indistinguishable from a measurement.
//
// NVML is reached only through openNVML (nvml.go): after a failed Init no
// NVML function is called, because go-nvml kills the process when one is
// called without the library loaded.
//
// README.md beside this file lists every field, its source, its placeholder
// and warning, and the formulas.
package hwinfo

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/inferencebench/bench/pkg/envelope"
)

// DefaultCommandTimeout bounds each external command (nvidia-smi -q takes a
// second or two on an 8-GPU host; a hung driver must not hang the runner).
const DefaultCommandTimeout = 10 * time.Second

// Unknown is the reference's placeholder for strings that could not be read
// (dmi_uuid, GPU serial and VBIOS, CPU model and microcode, BIOS version,
// git_commit). It has 7 characters, so it also satisfies git_commit's
// 7..40 length rule.
const Unknown = "unknown"

// LinkedGitCommit is the git commit set at link time, for builds made without
// VCS stamping (-buildvcs=false, or outside a checkout):
//
//	go build -ldflags "-X github.com/inferencebench/bench/services/runner/hwinfo.LinkedGitCommit=$(git rev-parse HEAD)"
//
// Options.GitCommit takes precedence over it.
var LinkedGitCommit string

// Options says where Collect reads from. The zero value measures the running
// machine.
type Options struct {
	// Root is prepended to every /sys and /proc path ("" means "/"), so tests
	// can point Collect at a fake tree.
	Root string
	// NVML is the NVML library; nil means the system's libnvidia-ml.so.1
	// (nvml.New). Tests pass a github.com/NVIDIA/go-nvml/pkg/nvml/mock.
	NVML nvml.Interface
	// Run runs external programs (nvidia-smi, dmidecode); nil means ExecRunner.
	Run Runner
	// CommandTimeout bounds each external program; 0 means
	// DefaultCommandTimeout. The context passed to Collect bounds them too.
	CommandTimeout time.Duration
	// GitCommit is used when the binary carries no vcs.revision build
	// setting (the Makefile passes one); "" falls back to LinkedGitCommit.
	GitCommit string
	// ImageDigest is the digest of the container image the runner executes
	// in, "" when it does not run in one.
	ImageDigest string
	// NCCL is the NCCL version of the engine under test, "" when unknown.
	// The runner does not load NCCL itself, so it cannot measure it.
	NCCL string
	// ReadBuildInfo replaces runtime/debug.ReadBuildInfo (tests).
	ReadBuildInfo func() (*debug.BuildInfo, bool)
}

// Result is what Collect measured.
type Result struct {
	// Fingerprint has FingerprintSHA256 set (envelope.FingerprintHash) and
	// GPUs non-nil, so it encodes as "gpus":[] when there is none.
	Fingerprint envelope.HardwareFingerprint
	Provenance  envelope.SoftwareProvenance
	// Warnings has one entry for every value that could not be measured and
	// was given a placeholder. Callers copy them into the envelope's warnings.
	Warnings []string
}

// Collect measures the hardware fingerprint and the software provenance of
// the machine described by opts. Values that cannot be read get a placeholder
// and a warning; they are not errors, because a benchmark on a machine without
// DMI access is still a benchmark. The error is non-nil only when ctx ends
// before Collect is done, since a cancelled command would otherwise be
// reported as a property of the machine.
func Collect(ctx context.Context, opts Options) (Result, error) {
	return collect(ctx, opts, os.ReadFile)
}

// collect is Collect with the file reader injected, so tests can simulate
// permission errors (the test process runs as root, which chmod cannot stop).
func collect(ctx context.Context, opts Options, readFile func(string) ([]byte, error)) (Result, error) {
	if err := ctx.Err(); err != nil {
		return Result{}, fmt.Errorf("hwinfo: collect: %w", err)
	}
	if opts.Run == nil {
		opts.Run = ExecRunner
	}
	if opts.CommandTimeout <= 0 {
		opts.CommandTimeout = DefaultCommandTimeout
	}
	if opts.ReadBuildInfo == nil {
		opts.ReadBuildInfo = debug.ReadBuildInfo
	}
	c := &collector{ctx: ctx, opts: opts, readFile: readFile}

	hw := envelope.HardwareFingerprint{GPUs: []envelope.GPU{}}
	c.nvidia(&hw)
	hw.DMIUUID = c.dmiUUID()
	hw.CPU = c.cpu()
	hw.Memory = c.memory()
	hw.BIOS = c.bios(hw.GPUs)
	hw.NUMA = c.numa()
	hw.FingerprintSHA256 = envelope.FingerprintHash(&hw)

	prov := c.provenance(len(hw.GPUs) > 0)

	if err := ctx.Err(); err != nil {
		return Result{}, fmt.Errorf("hwinfo: collect: %w", err)
	}
	return Result{Fingerprint: hw, Provenance: prov, Warnings: c.warnings}, nil
}

// collector carries the options and the warnings of one Collect call.
type collector struct {
	ctx      context.Context
	opts     Options
	readFile func(string) ([]byte, error)
	warnings []string
}

func (c *collector) warn(format string, args ...any) {
	c.warnings = append(c.warnings, fmt.Sprintf(format, args...))
}

// path maps an absolute machine path such as /sys/class/dmi/id into Root.
func (c *collector) path(p string) string {
	if c.opts.Root == "" {
		return p
	}
	return filepath.Join(c.opts.Root, p)
}

// run runs an external program under the command timeout.
func (c *collector) run(name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(c.ctx, c.opts.CommandTimeout)
	defer cancel()
	return c.opts.Run(ctx, name, args...)
}

// clean makes a string measured from the machine safe for the envelope:
// invalid UTF-8 bytes become U+FFFD (as Python's errors="replace" does, and
// canonical JSON rejects invalid UTF-8), and surrounding white space is
// removed because the envelope's named string fields are stripped before
// hashing: an unstripped value would make fingerprint_sha256 disagree with the
// validated envelope.
func clean(s string) string {
	s = strings.TrimRight(s, "\x00")
	if !utf8.ValidString(s) {
		var b strings.Builder
		for i := 0; i < len(s); {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				b.WriteRune(utf8.RuneError)
			} else {
				b.WriteString(s[i : i+size])
			}
			i += size
		}
		s = b.String()
	}
	return strings.TrimSpace(s)
}
