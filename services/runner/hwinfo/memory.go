package hwinfo

import (
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/inferencebench/bench/pkg/envelope"
)

// maxChannels is the schema's upper bound on memory.channels.
const maxChannels = 16

const edacDir = "/sys/devices/system/edac/mc"

// memory reads the memory configuration from `dmidecode -t memory` (SMBIOS
// type 16 and 17 records; dmidecode needs root), as the reference does:
// channels is the number of populated memory modules (the reference's
// definition: on boards with two modules per channel it counts modules), and
// speed_mts the highest configured speed among them. Without dmidecode both
// take the reference's placeholder 1 (the schema's minimum) with a warning.
//
// ECC is true when a module's total width exceeds its data width (the
// reference's test), else read from the memory array's "Error Correction
// Type", else true when the kernel registered an EDAC memory controller
// (EDAC drivers refuse to load when ECC is off); with no evidence either way
// it is false with a warning.
func (c *collector) memory() envelope.Memory {
	out := envelope.Memory{Channels: 1, SpeedMTS: 1}
	var info dimmInfo
	text, err := c.run("dmidecode", "-t", "memory")
	if err != nil {
		c.warn("memory channels and speed unknown (dmidecode -t memory: %s): placeholders 1 and 1 as in the reference", commandReason(err))
	} else {
		info = parseDmidecodeMemory(string(text))
		switch {
		case info.populated == 0:
			c.warn("memory channels and speed unknown (dmidecode -t memory lists no populated module): placeholders 1 and 1 as in the reference")
		default:
			out.Channels = int64(info.populated)
			if out.Channels > maxChannels {
				c.warn("%d populated memory modules is more than the schema's %d channels: memory.channels is %d", info.populated, maxChannels, maxChannels)
				out.Channels = maxChannels
			}
			if info.speedMTS > 0 {
				out.SpeedMTS = info.speedMTS
			} else {
				c.warn("memory speed unknown (dmidecode -t memory gives no speed for the populated modules): speed_mts is 1 as in the reference")
			}
		}
	}

	switch {
	case info.widthsKnown:
		out.ECC = info.widthECC
	case info.arrayECCKnown:
		out.ECC = info.arrayECC
	case c.edacPresent():
		out.ECC = true
	default:
		c.warn("memory ECC unknown (no module widths or error correction type from dmidecode, no EDAC memory controller in %s): memory.ecc is false", edacDir)
	}
	return out
}

// edacPresent reports whether the kernel registered an EDAC memory controller.
func (c *collector) edacPresent() bool {
	entries, err := os.ReadDir(c.path(edacDir))
	if err != nil {
		return false
	}
	for _, e := range entries {
		if rest, ok := strings.CutPrefix(e.Name(), "mc"); ok {
			if _, err := strconv.Atoi(rest); err == nil {
				return true
			}
		}
	}
	return false
}

// dimmInfo is what parseDmidecodeMemory found.
type dimmInfo struct {
	populated     int   // memory devices with a size
	speedMTS      int64 // highest speed among them, 0 if none given
	widthsKnown   bool  // some populated module gave total and data width
	widthECC      bool  // some populated module has total width > data width
	arrayECCKnown bool  // a memory array gave a definite error correction type
	arrayECC      bool  // that type is an ECC
}

var (
	sizeRE  = regexp.MustCompile(`^(\d+)\s*(?i:kB|MB|GB|TB)$`)
	speedRE = regexp.MustCompile(`^(\d+)\s*(?:MT/s|MHz)$`)
	widthRE = regexp.MustCompile(`^(\d+)\s*bits$`)
	blankRE = regexp.MustCompile(`\n[ \t]*\n`)
)

// parseDmidecodeMemory reads `dmidecode -t memory` output: records separated
// by blank lines, each a title line followed by "\tKey: Value" lines.
//
// Speeds: "Configured Memory Speed" (or "Configured Clock Speed", its name
// before dmidecode 3.2) is preferred over the rated "Speed". Old dmidecode
// prints these data rates in "MHz"; the number is the same MT/s value, so both
// units are read (the reference reads only "MT/s").
func parseDmidecodeMemory(text string) dimmInfo {
	var info dimmInfo
	text = strings.ReplaceAll(text, "\r\n", "\n")
	for _, record := range blankRE.Split(text, -1) {
		fields := map[string]string{}
		var title string
		for line := range strings.Lines(record) {
			line = strings.TrimRight(line, "\n")
			if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "Handle ") || strings.HasPrefix(line, "#") {
				continue
			}
			if !strings.HasPrefix(line, "\t") && !strings.HasPrefix(line, " ") {
				title = strings.TrimSpace(line)
				continue
			}
			if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok {
				if _, dup := fields[k]; !dup {
					fields[k] = strings.TrimSpace(v)
				}
			}
		}
		switch title {
		case "Physical Memory Array":
			switch ect := fields["Error Correction Type"]; {
			case strings.Contains(ect, "ECC"):
				info.arrayECCKnown, info.arrayECC = true, true
			case ect == "None":
				info.arrayECCKnown = true
			}
		case "Memory Device":
			if !sizeRE.MatchString(fields["Size"]) {
				continue // "No Module Installed", "Not Installed", "Unknown"
			}
			info.populated++
			for _, key := range []string{"Configured Memory Speed", "Configured Clock Speed", "Speed"} {
				if m := speedRE.FindStringSubmatch(fields[key]); m != nil {
					if s, err := strconv.ParseInt(m[1], 10, 64); err == nil && s > 0 {
						info.speedMTS = max(info.speedMTS, s)
						break
					}
				}
			}
			tw := widthRE.FindStringSubmatch(fields["Total Width"])
			dw := widthRE.FindStringSubmatch(fields["Data Width"])
			if tw != nil && dw != nil {
				t, _ := strconv.Atoi(tw[1])
				d, _ := strconv.Atoi(dw[1])
				info.widthsKnown = true
				if t > d {
					info.widthECC = true
				}
			}
		}
	}
	return info
}
