package envelope

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"

	"github.com/inferencebench/bench/pkg/envelope/canonjson"
)

// CanonicalBody returns the bytes the content hash is computed over: the
// canonical JSON of Body.
func (e *Envelope) CanonicalBody() []byte {
	return canonjson.Canonical(e.Body())
}

// ContentHash returns the lowercase hex sha256 of CanonicalBody. Signatures
// sign these 64 ASCII characters, not the raw digest.
func (e *Envelope) ContentHash() string {
	sum := sha256.Sum256(e.CanonicalBody())
	return hex.EncodeToString(sum[:])
}

// FingerprintHash computes the fingerprint_sha256 of a hardware fingerprint:
// the sha256 of the canonical JSON of its named fields, with the four named
// fields of each GPU sorted by pci_id. Unknown fields are not part of it.
func FingerprintHash(hw *HardwareFingerprint) string {
	gpus := make([]canonjson.Value, len(hw.GPUs))
	order := make([]int, len(hw.GPUs))
	for i := range order {
		order[i] = i
	}
	// Python's sorted() is stable and compares str by code point, which is
	// Go's byte order for valid UTF-8.
	slices.SortStableFunc(order, func(a, b int) int {
		switch pa, pb := hw.GPUs[a].PCIID, hw.GPUs[b].PCIID; {
		case pa < pb:
			return -1
		case pa > pb:
			return 1
		}
		return 0
	})
	for i, idx := range order {
		g := &hw.GPUs[idx]
		gpus[i] = obj("model", str(g.Model), "pci_id", str(g.PCIID), "serial", str(g.Serial), "vbios", str(g.VBIOS))
	}
	numa := hw.NUMA
	if numa.IsNull() {
		numa = emptyObject
	}
	body := obj(
		"dmi_uuid", str(hw.DMIUUID),
		"gpus", canonjson.ArrayValue(gpus),
		"cpu", obj("model", str(hw.CPU.Model), "microcode", str(hw.CPU.Microcode)),
		"memory", obj("channels", canonjson.IntValue(hw.Memory.Channels), "speed_mts", canonjson.IntValue(hw.Memory.SpeedMTS), "ecc", canonjson.BoolValue(hw.Memory.ECC)),
		"bios", obj("version", str(hw.BIOS.Version), "resizable_bar", canonjson.BoolValue(hw.BIOS.ResizableBAR), "above_4g", canonjson.BoolValue(hw.BIOS.Above4G)),
		"numa", numa,
		"driver", str(hw.Driver),
		"cuda", str(hw.CUDA),
		"nccl", str(hw.NCCL),
	)
	sum := sha256.Sum256(canonjson.Canonical(body))
	return hex.EncodeToString(sum[:])
}

func str(s string) canonjson.Value { return canonjson.StringValue(s) }

// obj builds an object from alternating keys and values.
func obj(kv ...any) canonjson.Value {
	members := make([]canonjson.Member, 0, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		members = append(members, canonjson.Member{Key: kv[i].(string), Value: kv[i+1].(canonjson.Value)})
	}
	return canonjson.ObjectValue(members)
}
