package hwinfo

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/inferencebench/bench/pkg/envelope"
	"github.com/inferencebench/bench/pkg/envelope/canonjson"
)

// Paths read by the host collectors, relative to Options.Root.
const (
	dmiDir      = "/sys/class/dmi/id"
	cpuinfoPath = "/proc/cpuinfo"
	nodeDir     = "/sys/devices/system/node"
	pciDir      = "/sys/bus/pci/devices"
)

// readLine returns the first line of a small file, stripped, as the
// reference's _read_first_line does.
func (c *collector) readLine(p string) (string, error) {
	b, err := c.readFile(c.path(p))
	if err != nil {
		return "", err
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	return clean(string(line)), nil
}

// why turns a read error into the reason a warning gives.
func why(err error) string {
	switch {
	case errors.Is(err, fs.ErrPermission):
		if os.Geteuid() != 0 {
			return "unreadable (needs root)"
		}
		return "unreadable (permission denied)"
	case errors.Is(err, fs.ErrNotExist):
		return "absent (no such file: a VM or container may hide it)"
	default:
		return fmt.Sprintf("unreadable (%v)", err)
	}
}

// firmwarePlaceholderUUIDs are product UUIDs that vendors leave in unset DMI
// tables: they are shared by many machines, so the fingerprint cannot tell
// those machines apart.
var firmwarePlaceholderUUIDs = []string{
	"00000000-0000-0000-0000-000000000000",
	"FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF",
	"03000200-0400-0500-0006-000700080009",
	"NOT SETTABLE", "NOT SPECIFIED", "NOT PRESENT", "DEFAULT STRING", "NONE",
}

// dmiUUID reads the SMBIOS system UUID. The kernel makes product_uuid
// readable by root only, so unprivileged runners get "unknown", as in the
// reference.
func (c *collector) dmiUUID() string {
	p := dmiDir + "/product_uuid"
	v, err := c.readLine(p)
	switch {
	case err != nil:
		c.warn("DMI product UUID (%s) %s: dmi_uuid is %q", p, why(err), Unknown)
		return Unknown
	case v == "":
		c.warn("DMI product UUID (%s) is empty: dmi_uuid is %q", p, Unknown)
		return Unknown
	case slices.Contains(firmwarePlaceholderUUIDs, strings.ToUpper(v)):
		c.warn("DMI product UUID %q is a firmware placeholder shared by many machines: kept as dmi_uuid, as the reference does, but it does not identify this machine", v)
	}
	return v
}

// cpu reads the model name and microcode revision of the first processor in
// /proc/cpuinfo. Both are identical across the cores of one machine.
func (c *collector) cpu() envelope.CPU {
	out := envelope.CPU{Model: Unknown, Microcode: Unknown}
	b, err := c.readFile(c.path(cpuinfoPath))
	if err != nil {
		c.warn("%s %s: cpu.model and cpu.microcode are %q", cpuinfoPath, why(err), Unknown)
		return out
	}
	var model, microcode string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20) // the flags line is long
	for sc.Scan() && (model == "" || microcode == "") {
		key, value, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		switch strings.ToLower(strings.TrimSpace(key)) {
		case "model name":
			if model == "" {
				model = clean(value)
			}
		case "microcode":
			if microcode == "" {
				microcode = clean(value)
			}
		}
	}
	if model != "" {
		out.Model = model
	} else {
		c.warn("no \"model name\" in %s (as on ARM): cpu.model is %q", cpuinfoPath, Unknown)
	}
	if microcode != "" {
		out.Microcode = microcode
	} else {
		c.warn("no \"microcode\" in %s (usual in VMs and on ARM): cpu.microcode is %q", cpuinfoPath, Unknown)
	}
	return out
}

// bios reads the firmware version and what can be proven about the two PCI
// settings. Neither setting is exposed by Linux directly; both stay false,
// with a warning, unless there is evidence (see above4G).
func (c *collector) bios(gpus []envelope.GPU) envelope.BIOS {
	out := envelope.BIOS{Version: Unknown}
	p := dmiDir + "/bios_version"
	switch v, err := c.readLine(p); {
	case err != nil:
		c.warn("BIOS version (%s) %s: bios.version is %q", p, why(err), Unknown)
	case v == "":
		c.warn("BIOS version (%s) is empty: bios.version is %q", p, Unknown)
	default:
		out.Version = v
	}
	c.warn("resizable BAR state unknown (Linux and NVML do not expose the firmware setting): bios.resizable_bar is false")
	if c.above4G(gpus) {
		out.Above4G = true
	} else {
		c.warn("above-4G decoding unknown (no GPU BAR mapped above 4 GiB in %s): bios.above_4g is false", pciDir)
	}
	return out
}

// above4G reports whether a GPU has a BAR mapped above the 4 GiB boundary,
// which firmware does only with above-4G decoding enabled. A BAR below 4 GiB
// proves nothing (the firmware may have had room), so false means unknown.
func (c *collector) above4G(gpus []envelope.GPU) bool {
	for _, g := range gpus {
		bdf, ok := sysfsPCIName(g.PCIID)
		if !ok {
			continue
		}
		b, err := c.readFile(c.path(pciDir + "/" + bdf + "/resource"))
		if err != nil {
			continue
		}
		for line := range strings.Lines(string(b)) {
			fields := strings.Fields(line)
			if len(fields) < 2 {
				continue
			}
			start, err := strconv.ParseUint(fields[0], 0, 64)
			if err == nil && start > 0xFFFF_FFFF {
				return true
			}
		}
	}
	return false
}

// sysfsPCIName turns NVML's bus id ("00000000:41:00.0", 8-digit domain,
// upper case) into the kernel's device name ("0000:41:00.0").
func sysfsPCIName(busID string) (string, bool) {
	domain, rest, ok := strings.Cut(busID, ":")
	if !ok || len(domain) < 4 || strings.Count(rest, ":") != 1 {
		return "", false
	}
	d, err := strconv.ParseUint(domain, 16, 32)
	if err != nil {
		return "", false
	}
	return fmt.Sprintf("%04x:%s", d, strings.ToLower(rest)), true
}

// numa reads the NUMA topology in the reference's shape:
// {"nodes":[{"id":0,"cpus":[0,1,...],"memory_mb":N},...]}, nodes in the
// order of their directory names compared as strings (the reference sorts
// Path names, so node10 comes before node2: kept so that both
// implementations hash the same topology identically), cpus ascending and
// unique, memory_mb = MemTotal kB / 1024 rounded down.
func (c *collector) numa() canonjson.Value {
	empty := canonjson.ObjectValue([]canonjson.Member{})
	entries, err := os.ReadDir(c.path(nodeDir))
	if err != nil {
		c.warn("NUMA topology (%s) %s: numa is {}", nodeDir, why(err))
		return empty
	}
	var nodes []canonjson.Value
	for _, e := range entries { // os.ReadDir sorts by name
		idText, ok := strings.CutPrefix(e.Name(), "node")
		if !ok || !e.IsDir() && e.Type()&fs.ModeSymlink == 0 {
			continue
		}
		id, err := strconv.Atoi(idText)
		if err != nil {
			continue
		}
		dir := nodeDir + "/" + e.Name()
		cpuElems := []canonjson.Value{}
		if b, err := c.readFile(c.path(dir + "/cpulist")); err != nil {
			c.warn("NUMA node %d CPU list (%s/cpulist) %s: its cpus are []", id, dir, why(err))
		} else {
			for _, cpu := range parseCPUList(string(b)) {
				cpuElems = append(cpuElems, canonjson.IntValue(int64(cpu)))
			}
		}
		var memMB int64
		if b, err := c.readFile(c.path(dir + "/meminfo")); err != nil {
			c.warn("NUMA node %d memory (%s/meminfo) %s: its memory_mb is 0", id, dir, why(err))
		} else if kb, ok := memTotalKB(string(b)); ok {
			memMB = kb / 1024
		} else {
			c.warn("NUMA node %d memory: no MemTotal in %s/meminfo: its memory_mb is 0", id, dir)
		}
		nodes = append(nodes, canonjson.ObjectValue([]canonjson.Member{
			{Key: "id", Value: canonjson.IntValue(int64(id))},
			{Key: "cpus", Value: canonjson.ArrayValue(cpuElems)},
			{Key: "memory_mb", Value: canonjson.IntValue(memMB)},
		}))
	}
	if len(nodes) == 0 {
		c.warn("NUMA topology: no node directories in %s: numa is {}", nodeDir)
		return empty
	}
	return canonjson.ObjectValue([]canonjson.Member{{Key: "nodes", Value: canonjson.ArrayValue(nodes)}})
}

// parseCPUList parses a kernel cpulist ("0-3,8-11") into sorted, unique CPU
// numbers. Malformed chunks are skipped, as in the reference.
func parseCPUList(s string) []int {
	var out []int
	for chunk := range strings.SplitSeq(strings.TrimSpace(s), ",") {
		if chunk == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(chunk, "-")
		a, errA := strconv.Atoi(strings.TrimSpace(lo))
		b, errB := a, error(nil)
		if isRange {
			b, errB = strconv.Atoi(strings.TrimSpace(hi))
		}
		if errA != nil || errB != nil || a < 0 || b < a || b-a > 1<<16 {
			continue
		}
		for cpu := a; cpu <= b; cpu++ {
			out = append(out, cpu)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// memTotalKB finds "Node N MemTotal:  65536000 kB" in a node's meminfo.
func memTotalKB(s string) (int64, bool) {
	for line := range strings.Lines(s) {
		fields := strings.Fields(line)
		for i, f := range fields {
			if f == "MemTotal:" && i+1 < len(fields) {
				if kb, err := strconv.ParseInt(fields[i+1], 10, 64); err == nil && kb >= 0 {
					return kb, true
				}
			}
		}
	}
	return 0, false
}
