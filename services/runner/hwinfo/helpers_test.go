package hwinfo

import (
	"context"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock"
	"github.com/inferencebench/bench/pkg/envelope"
)

// writeTree creates files (path relative to root → content) under a new
// temporary root.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for rel, content := range files {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

const fakeCPUInfo = `processor	: 0
vendor_id	: GenuineIntel
model name	: Intel(R) Xeon(R) Platinum 8480+
microcode	: 0x2b000643
flags		: fpu vme de pse

processor	: 1
vendor_id	: GenuineIntel
model name	: Intel(R) Xeon(R) Platinum 8480+
microcode	: 0x2b000643
flags		: fpu vme de pse
`

// fakeMachine is a two-socket host with two GPUs: the /sys and /proc files
// Collect reads.
func fakeMachine(t *testing.T) string {
	return writeTree(t, map[string]string{
		"sys/class/dmi/id/product_uuid":             "4c4c4544-0031-3510-8052-b3c04f4e4b32\n",
		"sys/class/dmi/id/bios_version":             "2.19.1 \n",
		"proc/cpuinfo":                              fakeCPUInfo,
		"sys/devices/system/node/node0/cpulist":     "0-1,4\n",
		"sys/devices/system/node/node0/meminfo":     "Node 0 MemTotal:       65536000 kB\nNode 0 MemFree:        1000 kB\n",
		"sys/devices/system/node/node1/cpulist":     "2-3,5\n",
		"sys/devices/system/node/node1/meminfo":     "Node 1 MemTotal:       65537023 kB\n",
		"sys/devices/system/node/possible":          "0-1\n",
		"sys/bus/pci/devices/0000:41:00.0/resource": "0x00000000a0000000 0x00000000a0ffffff 0x0000000000040200\n0x0000222000000000 0x0000223fffffffff 0x000000000014220c\n",
		"sys/bus/pci/devices/0000:c1:00.0/resource": "0x00000000b0000000 0x00000000b0ffffff 0x0000000000040200\n",
	})
}

const fakeDmidecode = `# dmidecode 3.5
Getting SMBIOS data from sysfs.
SMBIOS 3.3.0 present.

Handle 0x1000, DMI type 16, 23 bytes
Physical Memory Array
	Location: System Board Or Motherboard
	Use: System Memory
	Error Correction Type: Multi-bit ECC
	Maximum Capacity: 4 TB

Handle 0x1100, DMI type 17, 92 bytes
Memory Device
	Array Handle: 0x1000
	Total Width: 80 bits
	Data Width: 64 bits
	Size: 64 GB
	Form Factor: DIMM
	Locator: A1
	Type: DDR5
	Speed: 4800 MT/s
	Configured Memory Speed: 4400 MT/s

Handle 0x1101, DMI type 17, 92 bytes
Memory Device
	Array Handle: 0x1000
	Total Width: Unknown
	Data Width: Unknown
	Size: No Module Installed
	Locator: A2
	Speed: Unknown

Handle 0x1102, DMI type 17, 92 bytes
Memory Device
	Array Handle: 0x1000
	Total Width: 80 bits
	Data Width: 64 bits
	Size: 64 GB
	Locator: B1
	Type: DDR5
	Speed: 4800 MT/s
	Configured Memory Speed: 4400 MT/s
`

const fakeSMIOutput = "\n==============NVSMI LOG==============\n\nDriver Version                            : 550.54.15\n"

// fakeRunner answers the programs named in outputs and reports every other
// one as not installed, like ExecRunner. It records what it ran.
type fakeRunner struct {
	mu      sync.Mutex
	outputs map[string]string // "name args..." → stdout
	errs    map[string]error
	ran     []string
}

func (f *fakeRunner) run(ctx context.Context, name string, args ...string) ([]byte, error) {
	cmd := strings.Join(append([]string{name}, args...), " ")
	f.mu.Lock()
	f.ran = append(f.ran, cmd)
	f.mu.Unlock()
	if _, ok := ctx.Deadline(); !ok {
		return nil, fmt.Errorf("%s run without a deadline", cmd)
	}
	if err, ok := f.errs[cmd]; ok {
		return nil, err
	}
	if out, ok := f.outputs[cmd]; ok {
		return []byte(out), nil
	}
	return nil, fmt.Errorf("run %s: %w", name, exec.ErrNotFound)
}

// fakeGPU describes one mock GPU.
type fakeGPU struct {
	name, busID, serial, vbios string
	serialRet                  nvml.Return
	energyMJ                   func(call int) (uint64, nvml.Return)
	powerMW                    func(call int) (uint32, nvml.Return)
}

// newMockNVML returns an NVML mock with the given GPUs, driver 550.54.15 and
// CUDA 12.4. Device methods are safe for the sampling goroutine: the mock
// locks, and the call counters below are guarded.
func newMockNVML(gpus []fakeGPU) *mock.Interface {
	devs := make([]nvml.Device, len(gpus))
	for i, g := range gpus {
		var mu sync.Mutex
		energyCalls, powerCalls := 0, 0
		devs[i] = &mock.Device{
			GetNameFunc: func() (string, nvml.Return) { return g.name, nvml.SUCCESS },
			GetPciInfoFunc: func() (nvml.PciInfo, nvml.Return) {
				var p nvml.PciInfo
				for j := range len(g.busID) {
					p.BusId[j] = int8(g.busID[j])
				}
				return p, nvml.SUCCESS
			},
			GetSerialFunc: func() (string, nvml.Return) {
				if g.serialRet != nvml.SUCCESS {
					return "", g.serialRet
				}
				return g.serial, nvml.SUCCESS
			},
			GetVbiosVersionFunc: func() (string, nvml.Return) { return g.vbios, nvml.SUCCESS },
			GetTotalEnergyConsumptionFunc: func() (uint64, nvml.Return) {
				mu.Lock()
				defer mu.Unlock()
				energyCalls++
				if g.energyMJ == nil {
					return 0, nvml.ERROR_NOT_SUPPORTED
				}
				return g.energyMJ(energyCalls)
			},
			GetPowerUsageFunc: func() (uint32, nvml.Return) {
				mu.Lock()
				defer mu.Unlock()
				powerCalls++
				if g.powerMW == nil {
					return 0, nvml.ERROR_NOT_SUPPORTED
				}
				return g.powerMW(powerCalls)
			},
		}
	}
	return &mock.Interface{
		InitFunc:           func() nvml.Return { return nvml.SUCCESS },
		ShutdownFunc:       func() nvml.Return { return nvml.SUCCESS },
		DeviceGetCountFunc: func() (int, nvml.Return) { return len(devs), nvml.SUCCESS },
		DeviceGetHandleByIndexFunc: func(i int) (nvml.Device, nvml.Return) {
			if i < 0 || i >= len(devs) {
				return nil, nvml.ERROR_INVALID_ARGUMENT
			}
			return devs[i], nvml.SUCCESS
		},
		SystemGetDriverVersionFunc:     func() (string, nvml.Return) { return "550.54.15", nvml.SUCCESS },
		SystemGetCudaDriverVersionFunc: func() (int, nvml.Return) { return 12040, nvml.SUCCESS },
	}
}

// failingInitNVML returns an NVML mock whose Init fails with ret and whose
// every other method (all of nvml.Interface, set by reflection) fails the
// test if called: the no-call-after-failed-Init property.
func failingInitNVML(t *testing.T, ret nvml.Return) *mock.Interface {
	t.Helper()
	m := &mock.Interface{}
	v := reflect.ValueOf(m).Elem()
	returnType := reflect.TypeFor[nvml.Return]()
	set := 0
	for i := range v.NumField() {
		f := v.Type().Field(i)
		name, ok := strings.CutSuffix(f.Name, "Func")
		if !ok || f.Type.Kind() != reflect.Func || !f.IsExported() {
			continue
		}
		if name == "Init" {
			v.Field(i).Set(reflect.ValueOf(func() nvml.Return { return ret }))
			continue
		}
		ft := f.Type
		v.Field(i).Set(reflect.MakeFunc(ft, func([]reflect.Value) []reflect.Value {
			// Errorf, not Fatalf: a call could come from a goroutine.
			t.Errorf("NVML %s called after Init failed with %s", name, returnText(ret))
			out := make([]reflect.Value, ft.NumOut())
			for j := range out {
				out[j] = reflect.Zero(ft.Out(j))
				if ft.Out(j) == returnType {
					out[j] = reflect.ValueOf(nvml.ERROR_UNINITIALIZED)
				}
			}
			return out
		}))
		set++
	}
	t.Logf("%d mock methods guarded", set)
	if set < 300 {
		t.Fatalf("only %d mock methods guarded: the mock's layout changed", set)
	}
	return m
}

// fakeBuildInfo is a build with VCS stamping, a replaced module and a dependency.
func fakeBuildInfo(settings ...debug.BuildSetting) func() (*debug.BuildInfo, bool) {
	return func() (*debug.BuildInfo, bool) {
		return &debug.BuildInfo{
			GoVersion: "go1.26.8",
			Path:      "github.com/inferencebench/bench/cmd/bench",
			Main:      debug.Module{Path: "github.com/inferencebench/bench", Version: "(devel)"},
			Deps: []*debug.Module{
				{Path: "github.com/spf13/cobra", Version: "v1.10.2", Sum: "h1:cobrasum="},
				{Path: "github.com/inferencebench/bench/pkg/envelope", Version: "v0.0.0",
					Replace: &debug.Module{Path: "./pkg/envelope"}},
				{Path: "github.com/NVIDIA/go-nvml", Version: "v0.13.3-0", Sum: "h1:nvmlsum="},
			},
			Settings: settings,
		}, true
	}
}

// envelopeAround builds the smallest valid envelope holding fp and prov, with
// the other fields taken from the reference fixture dot-bench/baseline.json.
func envelopeAround(fp envelope.HardwareFingerprint, prov envelope.SoftwareProvenance, warnings []string) *envelope.Envelope {
	zeros := strings.Repeat("0", 64)
	e := &envelope.Envelope{
		EnvelopeVersion:     envelope.Version,
		SuiteID:             "llm.inference.sharegpt-v3",
		SuiteVersion:        "0.0.1",
		RunID:               "019e3aa5-94f0-7381-bb64-6818a4b48644",
		Timestamp:           time.Date(2026, 5, 18, 10, 33, 10, 641017000, time.UTC),
		Model:               envelope.Model{ID: "stub/tinyllama-cpu", Revision: "abc1234", Provider: "vllm", EndpointHash: zeros},
		Engine:              envelope.Engine{Name: "vllm", Version: "vllm-mock-1.0", ConfigHash: zeros},
		HardwareFingerprint: fp,
		SoftwareProvenance:  prov,
		Dataset:             envelope.Dataset{ID: "self-regression-synthetic", Hash: zeros},
		Seed:                big.NewInt(42),
		Warnings:            warnings,
	}
	e.Metrics.SetFloat("ttft_p50_ms", 20.0)
	return e
}

// warningWith returns the warnings containing every one of parts.
func warningsWith(ws []string, parts ...string) []string {
	var out []string
	for _, w := range ws {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(w, p)
		}
		if all {
			out = append(out, w)
		}
	}
	return out
}

func requireWarning(t *testing.T, ws []string, parts ...string) {
	t.Helper()
	if len(warningsWith(ws, parts...)) == 0 {
		t.Errorf("no warning contains all of %q; warnings:\n  %s", parts, strings.Join(ws, "\n  "))
	}
}
