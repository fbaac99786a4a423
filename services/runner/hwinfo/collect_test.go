package hwinfo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"reflect"
	"runtime/debug"
	"slices"
	"strings"
	"testing"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/inferencebench/bench/pkg/envelope"
	"github.com/inferencebench/bench/pkg/envelope/canonjson"
)

// twoGPUs are given out of PCI order (index 0 sits at bus c1, index 1 at bus
// 41): the fingerprint hash must sort them, the gpus list must not.
var twoGPUs = []fakeGPU{
	{name: "NVIDIA H100 80GB HBM3", busID: "00000000:C1:00.0", serial: "1654922012345", vbios: "96.00.74.00.0D"},
	{name: "NVIDIA H100 80GB HBM3", busID: "00000000:41:00.0", serialRet: nvml.ERROR_NOT_SUPPORTED, vbios: "96.00.74.00.0E"},
}

func fullOptions(t *testing.T) (Options, *fakeRunner) {
	run := &fakeRunner{outputs: map[string]string{
		"dmidecode -t memory": fakeDmidecode,
		"nvidia-smi -q":       fakeSMIOutput,
	}}
	return Options{
		Root:          fakeMachine(t),
		NVML:          newMockNVML(twoGPUs),
		Run:           run.run,
		ImageDigest:   "sha256:" + strings.Repeat("ab", 32),
		NCCL:          "2.21.5",
		ReadBuildInfo: fakeBuildInfo(debug.BuildSetting{Key: "vcs.revision", Value: "6ce5b08930b389e83932a56560eeb4f8e825ad6e"}),
	}, run
}

func TestCollectFakeMachine(t *testing.T) {
	opts, run := fullOptions(t)
	lib := opts.NVML.(interface{ ShutdownCalls() []struct{} })
	res, err := Collect(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	fp := res.Fingerprint

	wantGPUs := []envelope.GPU{
		{Model: "NVIDIA H100 80GB HBM3", PCIID: "00000000:C1:00.0", Serial: "1654922012345", VBIOS: "96.00.74.00.0D"},
		{Model: "NVIDIA H100 80GB HBM3", PCIID: "00000000:41:00.0", Serial: "unknown", VBIOS: "96.00.74.00.0E"},
	}
	if !slices.EqualFunc(fp.GPUs, wantGPUs, func(a, b envelope.GPU) bool {
		return a.Model == b.Model && a.PCIID == b.PCIID && a.Serial == b.Serial && a.VBIOS == b.VBIOS
	}) {
		t.Errorf("gpus = %+v, want %+v (NVML index order)", fp.GPUs, wantGPUs)
	}
	checks := []struct{ name, got, want string }{
		{"dmi_uuid", fp.DMIUUID, "4c4c4544-0031-3510-8052-b3c04f4e4b32"},
		{"cpu.model", fp.CPU.Model, "Intel(R) Xeon(R) Platinum 8480+"},
		{"cpu.microcode", fp.CPU.Microcode, "0x2b000643"},
		{"bios.version", fp.BIOS.Version, "2.19.1"},
		{"driver", fp.Driver, "550.54.15"},
		{"cuda", fp.CUDA, "12.4"},
		{"nccl", fp.NCCL, "2.21.5"},
		{"numa", string(canonjson.Canonical(fp.NUMA)),
			`{"nodes":[{"cpus":[0,1,4],"id":0,"memory_mb":64000},{"cpus":[2,3,5],"id":1,"memory_mb":64000}]}`},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if !reflect.DeepEqual(fp.Memory, envelope.Memory{Channels: 2, SpeedMTS: 4400, ECC: true}) {
		t.Errorf("memory = %+v, want 2 channels at 4400 MT/s with ECC", fp.Memory)
	}
	if !fp.BIOS.Above4G || fp.BIOS.ResizableBAR {
		t.Errorf("bios = %+v, want above_4g true (GPU 41:00.0 has a BAR at 0x222000000000), resizable_bar false", fp.BIOS)
	}
	if got := envelope.FingerprintHash(&fp); fp.FingerprintSHA256 != got {
		t.Errorf("fingerprint_sha256 = %s, FingerprintHash = %s", fp.FingerprintSHA256, got)
	}

	prov := res.Provenance
	if prov.GitCommit != "6ce5b08930b389e83932a56560eeb4f8e825ad6e" {
		t.Errorf("git_commit = %q", prov.GitCommit)
	}
	if want := sha256Hex([]byte(fakeSMIOutput)); prov.NvidiaSMIQHash != want {
		t.Errorf("nvidia_smi_q_hash = %q, want %q", prov.NvidiaSMIQHash, want)
	}
	if prov.ImageDigest != opts.ImageDigest {
		t.Errorf("image_digest = %q", prov.ImageDigest)
	}
	bi, _ := opts.ReadBuildInfo()
	if prov.PipFreezeHash != ModuleListHash(bi) {
		t.Errorf("pip_freeze_hash = %q, want ModuleListHash", prov.PipFreezeHash)
	}

	// The only unmeasured values: GPU 1's serial and the resizable BAR flag.
	requireWarning(t, res.Warnings, "GPU 1 (00000000:41:00.0)", "serial", `serial is "unknown"`)
	requireWarning(t, res.Warnings, "resizable BAR", "bios.resizable_bar is false")
	if len(res.Warnings) != 2 {
		t.Errorf("want exactly 2 warnings, got %d:\n  %s", len(res.Warnings), strings.Join(res.Warnings, "\n  "))
	}

	if n := len(lib.ShutdownCalls()); n != 1 {
		t.Errorf("NVML Shutdown called %d times, want 1 (one session)", n)
	}
	if !slices.Contains(run.ran, "dmidecode -t memory") || !slices.Contains(run.ran, "nvidia-smi -q") {
		t.Errorf("commands run: %q", run.ran)
	}

	env := envelopeAround(fp, prov, res.Warnings)
	if err := env.Validate(); err != nil {
		t.Fatalf("envelope around the fingerprint does not validate: %v", err)
	}
	checkFingerprintWithPython(t, env)
}

// checkFingerprintWithPython recomputes fingerprint_sha256 from the encoded
// envelope with Python's json and hashlib, as the reference does: an
// implementation that shares no code with envelope.FingerprintHash.
func checkFingerprintWithPython(t *testing.T, env *envelope.Envelope) {
	t.Helper()
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 not installed: independent hash check skipped")
	}
	const script = `
import hashlib, json, sys
hw = json.load(sys.stdin)["hardware_fingerprint"]
body = {
    "dmi_uuid": hw["dmi_uuid"],
    "gpus": sorted(({k: g[k] for k in ("model", "pci_id", "serial", "vbios")} for g in hw["gpus"]),
                   key=lambda g: g["pci_id"]),
    "cpu": {k: hw["cpu"][k] for k in ("model", "microcode")},
    "memory": {k: hw["memory"][k] for k in ("channels", "speed_mts", "ecc")},
    "bios": {k: hw["bios"][k] for k in ("version", "resizable_bar", "above_4g")},
    "numa": hw["numa"],
    "driver": hw["driver"], "cuda": hw["cuda"], "nccl": hw["nccl"],
}
print(hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest())
print(hw["fingerprint_sha256"])
`
	data, err := env.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("python3", "-c", script)
	cmd.Stdin = bytes.NewReader(data)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python3: %v", err)
	}
	lines := strings.Fields(string(out))
	if len(lines) != 2 {
		t.Fatalf("python3 printed %q", out)
	}
	if lines[0] != env.HardwareFingerprint.FingerprintSHA256 || lines[1] != lines[0] {
		t.Errorf("python computes %s, envelope carries %s, Go computed %s", lines[0], lines[1], env.HardwareFingerprint.FingerprintSHA256)
	}
}

// TestCollectPlaceholdersAllWarned runs Collect on a machine where nothing
// can be read: every field takes the reference's placeholder, every
// placeholder has a warning, and the envelope still validates.
func TestCollectPlaceholdersAllWarned(t *testing.T) {
	run := &fakeRunner{}
	res, err := Collect(context.Background(), Options{
		Root:          t.TempDir(),
		NVML:          failingInitNVML(t, nvml.ERROR_LIBRARY_NOT_FOUND),
		Run:           run.run,
		ReadBuildInfo: fakeBuildInfo(),
	})
	if err != nil {
		t.Fatal(err)
	}
	fp, prov, ws := res.Fingerprint, res.Provenance, res.Warnings
	want := envelope.HardwareFingerprint{
		DMIUUID: "unknown",
		CPU:     envelope.CPU{Model: "unknown", Microcode: "unknown"},
		Memory:  envelope.Memory{Channels: 1, SpeedMTS: 1},
		BIOS:    envelope.BIOS{Version: "unknown"},
	}
	if fp.DMIUUID != want.DMIUUID || !reflect.DeepEqual(fp.CPU, want.CPU) || !reflect.DeepEqual(fp.Memory, want.Memory) || !reflect.DeepEqual(fp.BIOS, want.BIOS) ||
		fp.Driver != "" || fp.CUDA != "" || fp.NCCL != "" || fp.GPUs == nil || len(fp.GPUs) != 0 ||
		string(canonjson.Canonical(fp.NUMA)) != "{}" {
		t.Errorf("placeholders: got %+v", fp)
	}
	if prov.GitCommit != "unknown" || prov.NvidiaSMIQHash != "" || prov.ImageDigest != "" {
		t.Errorf("provenance placeholders: got %+v", prov)
	}

	for _, w := range [][]string{
		{"no NVIDIA GPU visible", "library not found", "gpus is empty", "driver, cuda and nccl"},
		{"DMI product UUID", `dmi_uuid is "unknown"`},
		{"/proc/cpuinfo", "cpu.model and cpu.microcode", `"unknown"`},
		{"memory channels and speed unknown", "dmidecode -t memory: not installed", "placeholders 1 and 1 as in the reference"},
		{"memory ECC unknown", "memory.ecc is false"},
		{"BIOS version", `bios.version is "unknown"`},
		{"resizable BAR", "bios.resizable_bar is false"},
		{"above-4G decoding unknown", "bios.above_4g is false"},
		{"NUMA topology", "numa is {}"},
		{"git commit unknown", `git_commit is "unknown"`},
	} {
		requireWarning(t, ws, w...)
	}
	if len(ws) != 10 {
		t.Errorf("want 10 warnings, got %d:\n  %s", len(ws), strings.Join(ws, "\n  "))
	}
	// No GPU: a missing nvidia-smi is expected and not warned about.
	if got := warningsWith(ws, "nvidia-smi"); len(got) != 0 {
		t.Errorf("nvidia-smi warned about without a GPU: %q", got)
	}
	if err := envelopeAround(fp, prov, ws).Validate(); err != nil {
		t.Fatalf("placeholder envelope does not validate: %v", err)
	}
}

// TestCollectThisMachine runs Collect with default options on the machine
// running the tests. Without a GPU (the development machines) gpus must be
// empty, encode as [], come with a warning, and nothing may crash: the real
// go-nvml must not be called after its Init failed.
func TestCollectThisMachine(t *testing.T) {
	res, err := Collect(context.Background(), Options{GitCommit: "0123456789abcdef0123456789abcdef01234567"})
	if err != nil {
		t.Fatal(err)
	}
	fp := res.Fingerprint
	t.Logf("fingerprint %s: %d GPUs, cpu %q, memory %+v, dmi_uuid %q", fp.FingerprintSHA256, len(fp.GPUs), fp.CPU.Model, fp.Memory, fp.DMIUUID)
	for _, w := range res.Warnings {
		t.Logf("warning: %s", w)
	}
	if len(fp.GPUs) == 0 {
		requireWarning(t, res.Warnings, "gpus is empty")
		if fp.GPUs == nil {
			t.Error("gpus is nil, want an empty slice")
		}
		if b, err := json.Marshal(fp.GPUs); err != nil || string(b) != "[]" {
			t.Errorf("gpus encodes as %s (%v), want []", b, err)
		}
	}
	env := envelopeAround(fp, res.Provenance, res.Warnings)
	if err := env.Validate(); err != nil {
		t.Fatalf("this machine's envelope does not validate: %v", err)
	}
	data, _ := env.MarshalJSON()
	if len(fp.GPUs) == 0 && !bytes.Contains(data, []byte(`"gpus":[]`)) {
		t.Errorf("envelope JSON lacks \"gpus\":[]: %s", data)
	}
	checkFingerprintWithPython(t, env)
}

// TestNoNVMLCallAfterFailedInit: whatever Init returns, a failed Init is the
// last NVML call of Collect and of the energy meter (every other method of
// the mock fails the test).
func TestNoNVMLCallAfterFailedInit(t *testing.T) {
	for _, ret := range []nvml.Return{nvml.ERROR_LIBRARY_NOT_FOUND, nvml.ERROR_DRIVER_NOT_LOADED, nvml.ERROR_NO_PERMISSION} {
		t.Run(returnText(ret), func(t *testing.T) {
			lib := failingInitNVML(t, ret)
			opts, _ := fullOptions(t)
			opts.NVML = lib
			res, err := Collect(context.Background(), opts)
			if err != nil {
				t.Fatal(err)
			}
			requireWarning(t, res.Warnings, "no NVIDIA GPU visible", returnText(ret))
			if len(res.Fingerprint.GPUs) != 0 || res.Fingerprint.Driver != "" {
				t.Errorf("fingerprint from a failed NVML: %+v", res.Fingerprint)
			}

			m := NewEnergyMeter(MeterOptions{NVML: lib})
			if err := m.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			e, err := m.Stop()
			if err != nil {
				t.Fatal(err)
			}
			if e.Measured || len(e.Metrics()) != 0 {
				t.Errorf("energy measured without NVML: %+v", e)
			}
			requireWarning(t, e.Warnings, "not measured", returnText(ret))
			if n := len(lib.InitCalls()); n != 2 {
				t.Errorf("Init called %d times, want 2", n)
			}
		})
	}
}

func TestDMIUUIDNeedsRoot(t *testing.T) {
	opts, _ := fullOptions(t)
	denied := func(p string) ([]byte, error) {
		if strings.HasSuffix(p, "/product_uuid") {
			return nil, &fs.PathError{Op: "open", Path: p, Err: fs.ErrPermission}
		}
		return os.ReadFile(p)
	}
	res, err := collect(context.Background(), opts, denied)
	if err != nil {
		t.Fatal(err)
	}
	if res.Fingerprint.DMIUUID != "unknown" {
		t.Errorf("dmi_uuid = %q", res.Fingerprint.DMIUUID)
	}
	reason := "needs root"
	if os.Geteuid() == 0 {
		reason = "permission denied"
	}
	requireWarning(t, res.Warnings, "DMI product UUID", "unreadable ("+reason+")", `dmi_uuid is "unknown"`)
}

func TestDMIUUIDFirmwarePlaceholderIsKeptAndWarned(t *testing.T) {
	opts, _ := fullOptions(t)
	if err := os.WriteFile(opts.Root+"/sys/class/dmi/id/product_uuid", []byte("03000200-0400-0500-0006-000700080009\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := Collect(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Fingerprint.DMIUUID != "03000200-0400-0500-0006-000700080009" {
		t.Errorf("dmi_uuid = %q", res.Fingerprint.DMIUUID)
	}
	requireWarning(t, res.Warnings, "firmware placeholder")
}

func TestCPUWithoutMicrocode(t *testing.T) {
	opts, _ := fullOptions(t)
	arm := "processor\t: 0\nBogoMIPS\t: 50.00\nCPU implementer\t: 0x41\nCPU part\t: 0xd4f\n"
	if err := os.WriteFile(opts.Root+"/proc/cpuinfo", []byte(arm), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := Collect(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(res.Fingerprint.CPU, envelope.CPU{Model: "unknown", Microcode: "unknown"}) {
		t.Errorf("cpu = %+v", res.Fingerprint.CPU)
	}
	requireWarning(t, res.Warnings, `no "microcode"`, `cpu.microcode is "unknown"`)
	requireWarning(t, res.Warnings, `no "model name"`, `cpu.model is "unknown"`)
}

func TestGPUWithoutPCIIdIsLeftOut(t *testing.T) {
	opts, _ := fullOptions(t)
	gpus := slices.Clone(twoGPUs)
	gpus[0].busID = ""
	opts.NVML = newMockNVML(gpus)
	res, err := Collect(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Fingerprint.GPUs) != 1 || res.Fingerprint.GPUs[0].PCIID != "00000000:41:00.0" {
		t.Errorf("gpus = %+v", res.Fingerprint.GPUs)
	}
	requireWarning(t, res.Warnings, "GPU 0 left out", "PCI bus id")
}

func TestNvidiaSMIMissingWithGPU(t *testing.T) {
	opts, run := fullOptions(t)
	delete(run.outputs, "nvidia-smi -q")
	res, err := Collect(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Provenance.NvidiaSMIQHash != "" {
		t.Errorf("nvidia_smi_q_hash = %q", res.Provenance.NvidiaSMIQHash)
	}
	requireWarning(t, res.Warnings, "nvidia-smi -q unavailable (not installed)", "NVML sees a GPU", `nvidia_smi_q_hash is ""`)
}

func TestNCCLNotGivenWithGPU(t *testing.T) {
	opts, _ := fullOptions(t)
	opts.NCCL = ""
	res, err := Collect(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	requireWarning(t, res.Warnings, "NCCL version not given", `nccl is ""`)
}

func TestCollectCancelled(t *testing.T) {
	opts, _ := fullOptions(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Collect(ctx, opts); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestNUMANodeOrderAndParsing(t *testing.T) {
	root := writeTree(t, map[string]string{
		"sys/devices/system/node/node2/cpulist":  "4-5\n",
		"sys/devices/system/node/node2/meminfo":  "Node 2 MemTotal: 2048 kB\n",
		"sys/devices/system/node/node10/cpulist": "20,21-22,bad,7-3\n",
		"sys/devices/system/node/node10/meminfo": "Node 10 MemTotal: 1023 kB\n",
		"sys/devices/system/node/nodeX/cpulist":  "9\n",
		"sys/devices/system/node/node3/meminfo":  "no total here\n",
	})
	c := &collector{opts: Options{Root: root}, readFile: os.ReadFile}
	got := string(canonjson.Canonical(c.numa()))
	// String order of directory names, as the reference: node10 < node2 < node3.
	want := `{"nodes":[{"cpus":[20,21,22],"id":10,"memory_mb":0},{"cpus":[4,5],"id":2,"memory_mb":2},{"cpus":[],"id":3,"memory_mb":0}]}`
	if got != want {
		t.Errorf("numa = %s\nwant   %s", got, want)
	}
	requireWarning(t, c.warnings, "NUMA node 3 CPU list", "its cpus are []")
	requireWarning(t, c.warnings, "NUMA node 3 memory", "its memory_mb is 0")
}

func TestParseCPUList(t *testing.T) {
	for in, want := range map[string][]int{
		"0-3,8-11\n": {0, 1, 2, 3, 8, 9, 10, 11},
		"5,1,1-2":    {1, 2, 5},
		"":           nil,
		"x,3":        {3},
	} {
		if got := parseCPUList(in); !slices.Equal(got, want) {
			t.Errorf("parseCPUList(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestSysfsPCIName(t *testing.T) {
	for in, want := range map[string]string{
		"00000000:41:00.0": "0000:41:00.0",
		"00000001:C1:00.0": "0001:c1:00.0",
		"0000:3b:00.0":     "0000:3b:00.0",
		"garbage":          "",
	} {
		got, ok := sysfsPCIName(in)
		if got != want || ok != (want != "") {
			t.Errorf("sysfsPCIName(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}

func TestFormatCUDAVersion(t *testing.T) {
	for in, want := range map[int]string{12040: "12.4", 12060: "12.6", 13020: "13.2", 11080: "11.8"} {
		if got := formatCUDAVersion(in); got != want {
			t.Errorf("formatCUDAVersion(%d) = %q, want %q", in, got, want)
		}
	}
}

func TestCleanStripsAndRepairsUTF8(t *testing.T) {
	if got := clean(" \tNVIDIA\xffA100\x00\x00"); got != "NVIDIA\uFFFDA100" {
		t.Errorf("clean = %q", got)
	}
}
