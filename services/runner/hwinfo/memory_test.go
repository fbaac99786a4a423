package hwinfo

import (
	"context"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/inferencebench/bench/pkg/envelope"
)

func memoryOf(t *testing.T, root string, dmidecode string, dmiErr error) (envelope.Memory, []string) {
	t.Helper()
	run := &fakeRunner{outputs: map[string]string{}, errs: map[string]error{}}
	if dmiErr != nil {
		run.errs["dmidecode -t memory"] = dmiErr
	} else if dmidecode != "" {
		run.outputs["dmidecode -t memory"] = dmidecode
	}
	if root == "" {
		root = t.TempDir()
	}
	c := &collector{ctx: context.Background(), opts: Options{Root: root, Run: run.run, CommandTimeout: time.Second}, readFile: os.ReadFile}
	return c.memory(), c.warnings
}

func TestMemoryFromDmidecode(t *testing.T) {
	mem, ws := memoryOf(t, "", fakeDmidecode, nil)
	if !reflect.DeepEqual(mem, envelope.Memory{Channels: 2, SpeedMTS: 4400, ECC: true}) || len(ws) != 0 {
		t.Errorf("memory = %+v, warnings %q", mem, ws)
	}
}

// Old dmidecode: "Configured Clock Speed" in MHz, no ECC (widths equal).
func TestMemoryOldDmidecodeNoECC(t *testing.T) {
	old := "Handle 0x0011, DMI type 17, 40 bytes\nMemory Device\n\tTotal Width: 64 bits\n\tData Width: 64 bits\n\tSize: 16384 MB\n\tSpeed: 2666 MHz\n\tConfigured Clock Speed: 2400 MHz\n"
	mem, ws := memoryOf(t, "", old, nil)
	if !reflect.DeepEqual(mem, envelope.Memory{Channels: 1, SpeedMTS: 2400, ECC: false}) || len(ws) != 0 {
		t.Errorf("memory = %+v, warnings %q", mem, ws)
	}
}

// A VM: modules listed without speed or widths; ECC from the array record.
func TestMemoryVMWithoutSpeed(t *testing.T) {
	vm := "Handle 0x1000, DMI type 16, 23 bytes\nPhysical Memory Array\n\tError Correction Type: None\n\nHandle 0x1100, DMI type 17, 40 bytes\nMemory Device\n\tTotal Width: Unknown\n\tData Width: Unknown\n\tSize: 8 GB\n\tSpeed: Unknown\n"
	mem, ws := memoryOf(t, "", vm, nil)
	if !reflect.DeepEqual(mem, envelope.Memory{Channels: 1, SpeedMTS: 1, ECC: false}) {
		t.Errorf("memory = %+v", mem)
	}
	requireWarning(t, ws, "memory speed unknown", "speed_mts is 1 as in the reference")
	if len(ws) != 1 {
		t.Errorf("warnings %q", ws)
	}
}

func TestMemoryChannelsClamped(t *testing.T) {
	var b strings.Builder
	for i := range 24 {
		fmt.Fprintf(&b, "Handle 0x%04x, DMI type 17, 92 bytes\nMemory Device\n\tTotal Width: 72 bits\n\tData Width: 64 bits\n\tSize: 32 GB\n\tSpeed: 3200 MT/s\n\n", i)
	}
	mem, ws := memoryOf(t, "", b.String(), nil)
	if !reflect.DeepEqual(mem, envelope.Memory{Channels: 16, SpeedMTS: 3200, ECC: true}) {
		t.Errorf("memory = %+v", mem)
	}
	requireWarning(t, ws, "24 populated memory modules", "memory.channels is 16")
}

// Unprivileged: dmidecode fails; ECC still known from EDAC.
func TestMemoryDmidecodeDeniedEDAC(t *testing.T) {
	root := writeTree(t, map[string]string{"sys/devices/system/edac/mc/mc0/mc_name": "Skylake Socket#0 IMC#0\n"})
	mem, ws := memoryOf(t, root, "", fmt.Errorf("run dmidecode: exit status 1: /dev/mem: Permission denied"))
	if !reflect.DeepEqual(mem, envelope.Memory{Channels: 1, SpeedMTS: 1, ECC: true}) {
		t.Errorf("memory = %+v", mem)
	}
	requireWarning(t, ws, "memory channels and speed unknown", "Permission denied", "placeholders 1 and 1 as in the reference")
	if len(ws) != 1 {
		t.Errorf("warnings %q", ws)
	}
}
