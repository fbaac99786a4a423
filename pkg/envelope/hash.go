package envelope

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/inferencebench/bench/pkg/envelope/canonjson"
)

// hashBufs holds the scratch buffers ContentHash and FingerprintHash write
// canonical JSON into. The bytes are only hashed, never returned, so a
// buffer can serve the next call: verifying an envelope then allocates
// nothing for its two canonical forms.
var hashBufs = sync.Pool{New: func() any { b := make([]byte, 0, 8192); return &b }}

// maxPooledHashBuf keeps one enormous envelope from pinning its buffer.
const maxPooledHashBuf = 1 << 16

// sumHex returns the lowercase hex sha256 of what fill appends to a pooled
// buffer.
func sumHex(fill func(dst []byte) []byte) string {
	bp := hashBufs.Get().(*[]byte)
	b := fill((*bp)[:0])
	sum := sha256.Sum256(b)
	if cap(b) <= maxPooledHashBuf {
		*bp = b[:0]
		hashBufs.Put(bp)
	}
	var hexSum [2 * sha256.Size]byte
	hex.Encode(hexSum[:], sum[:])
	return string(hexSum[:])
}

// CanonicalBody returns the bytes the content hash is computed over: the
// canonical JSON of Body.
func (e *Envelope) CanonicalBody() []byte {
	return e.appendJSON(make([]byte, 0, 4096), true, "signature")
}

// ContentHash returns the lowercase hex sha256 of CanonicalBody. Signatures
// sign these 64 ASCII characters, not the raw digest.
func (e *Envelope) ContentHash() string {
	return sumHex(func(dst []byte) []byte { return e.appendJSON(dst, true, "signature") })
}

// FingerprintHash computes the fingerprint_sha256 of a hardware fingerprint:
// the sha256 of the canonical JSON of its named fields, with the four named
// fields of each GPU sorted by pci_id. Unknown fields are not part of it.
func FingerprintHash(hw *HardwareFingerprint) string {
	// Python's sorted() is stable and compares str by code point, which is
	// Go's byte order for valid UTF-8.
	var stack [8]int
	order := stack[:0]
	if len(hw.GPUs) > len(stack) {
		order = make([]int, 0, len(hw.GPUs))
	}
	order = order[:len(hw.GPUs)]
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return strings.Compare(hw.GPUs[a].PCIID, hw.GPUs[b].PCIID) })

	return sumHex(func(b []byte) []byte { return appendFingerprintBody(b, hw, order) })
}

// appendFingerprintBody appends the canonical JSON that fingerprint_sha256
// is the hash of, GPUs in the given order.
func appendFingerprintBody(b []byte, hw *HardwareFingerprint, order []int) []byte {
	// Members in key order: this is the canonical form, written directly.
	str := canonjson.AppendString
	b = append(b, `{"bios":{"above_4g":`...)
	b = strconv.AppendBool(b, hw.BIOS.Above4G)
	b = append(b, `,"resizable_bar":`...)
	b = strconv.AppendBool(b, hw.BIOS.ResizableBAR)
	b = append(b, `,"version":`...)
	b = str(b, hw.BIOS.Version)
	b = append(b, `},"cpu":{"microcode":`...)
	b = str(b, hw.CPU.Microcode)
	b = append(b, `,"model":`...)
	b = str(b, hw.CPU.Model)
	b = append(b, `},"cuda":`...)
	b = str(b, hw.CUDA)
	b = append(b, `,"dmi_uuid":`...)
	b = str(b, hw.DMIUUID)
	b = append(b, `,"driver":`...)
	b = str(b, hw.Driver)
	b = append(b, `,"gpus":[`...)
	for i, idx := range order {
		g := &hw.GPUs[idx]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"model":`...)
		b = str(b, g.Model)
		b = append(b, `,"pci_id":`...)
		b = str(b, g.PCIID)
		b = append(b, `,"serial":`...)
		b = str(b, g.Serial)
		b = append(b, `,"vbios":`...)
		b = str(b, g.VBIOS)
		b = append(b, '}')
	}
	b = append(b, `],"memory":{"channels":`...)
	b = strconv.AppendInt(b, hw.Memory.Channels, 10)
	b = append(b, `,"ecc":`...)
	b = strconv.AppendBool(b, hw.Memory.ECC)
	b = append(b, `,"speed_mts":`...)
	b = strconv.AppendInt(b, hw.Memory.SpeedMTS, 10)
	b = append(b, `},"nccl":`...)
	b = str(b, hw.NCCL)
	b = append(b, `,"numa":`...)
	if hw.NUMA.IsNull() {
		b = append(b, "{}"...)
	} else {
		b = canonjson.AppendCanonical(b, hw.NUMA)
	}
	return append(b, '}')
}
