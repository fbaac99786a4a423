// Package envelope defines the v1 result envelope of InferenceBench: one
// benchmark run's metrics bound to the model, engine, hardware, software,
// dataset and seed that produced them.
//
// The format is fixed by the published Python reference implementation
// (pydantic v2 models). This package reads and writes it byte-compatibly:
// Decode applies the same defaults, whitespace stripping and lax coercions as
// the reference, and ContentHash hashes the same canonical JSON, so every
// envelope the reference signs verifies here and every dev-key envelope signed
// here verifies there.
//
// The struct tags below are the single definition of the format: the decoder,
// the validator and the JSON Schema (JSONSchema) are all driven by them.
//
//	env:"optional"       may be absent; absent means the Go zero value (or default=)
//	env:"default=X"      value used when absent
//	env:"minlen=N"       at least N characters after stripping
//	env:"maxlen=N"       at most N characters after stripping
//	env:"pattern=NAME"   must match a named pattern (hex64, semver)
//	env:"min=N,max=N"    integer bounds
//	env:"enum=a|b"       one of the listed strings
//	env:"nonempty"       a map that must hold at least one entry
//	env:"object"         a free-form JSON object (values kept verbatim)
package envelope

import (
	"math/big"
	"time"

	"github.com/inferencebench/bench/pkg/envelope/canonjson"
)

// Version is the envelope_version this package reads and writes.
const Version = "v1"

// Signature methods.
const (
	MethodDevKey   = "dev-key"         // Ed25519, the reference's development signing mode
	MethodKeyless  = "sigstore-cosign" // Sigstore keyless: Fulcio certificate + transparency log
	NoRekorIndex   = -1                // rekor_log_index of signatures with no log entry
	hashHexLength  = 64
	maxRunIDLength = 256
)

// Envelope is one signed (or not yet signed) benchmark result.
type Envelope struct {
	EnvelopeVersion     string              `json:"envelope_version" env:"default=v1,enum=v1"`
	SuiteID             string              `json:"suite_id" env:"minlen=1"`
	SuiteVersion        string              `json:"suite_version" env:"pattern=semver"`
	RunID               string              `json:"run_id"`
	Timestamp           time.Time           `json:"timestamp"`
	Model               Model               `json:"model"`
	Engine              Engine              `json:"engine"`
	Quantization        *Quantization       `json:"quantization" env:"optional"`
	HardwareFingerprint HardwareFingerprint `json:"hardware_fingerprint"`
	SoftwareProvenance  SoftwareProvenance  `json:"software_provenance"`
	Dataset             Dataset             `json:"dataset"`
	Seed                *big.Int            `json:"seed"`
	DriverOptions       canonjson.Value     `json:"driver_options" env:"optional,object"`
	Metrics             Metrics             `json:"metrics" env:"optional,nonempty"`
	Distributions       StringMap           `json:"distributions" env:"optional"`
	SLOTemplate         string              `json:"slo_template" env:"optional"`
	Warnings            []string            `json:"warnings" env:"optional"`
	Signature           *Signature          `json:"signature" env:"optional"`
	Extra               Extra               `json:"-"`
}

// Model identifies the model under test.
type Model struct {
	ID           string `json:"id" env:"minlen=1"`
	Revision     string `json:"revision" env:"minlen=7,maxlen=40"`
	Provider     string `json:"provider" env:"minlen=1"`
	EndpointHash string `json:"endpoint_hash" env:"pattern=hex64"`
	Extra        Extra  `json:"-"`
}

// Engine identifies the inference engine and its configuration.
type Engine struct {
	Name        string `json:"name" env:"minlen=1"`
	Version     string `json:"version" env:"minlen=1"`
	ConfigHash  string `json:"config_hash" env:"pattern=hex64"`
	ImageDigest string `json:"image_digest" env:"optional"`
	Extra       Extra  `json:"-"`
}

// Quantization describes the precision the model ran at.
type Quantization struct {
	Format string `json:"format"`
	Method string `json:"method" env:"optional"`
	Extra  Extra  `json:"-"`
}

// HardwareFingerprint describes the machine. FingerprintSHA256 must equal
// FingerprintHash of the other named fields.
type HardwareFingerprint struct {
	FingerprintSHA256 string          `json:"fingerprint_sha256" env:"pattern=hex64"`
	DMIUUID           string          `json:"dmi_uuid" env:"minlen=1"`
	GPUs              []GPU           `json:"gpus" env:"optional"`
	CPU               CPU             `json:"cpu"`
	Memory            Memory          `json:"memory"`
	BIOS              BIOS            `json:"bios"`
	NUMA              canonjson.Value `json:"numa" env:"optional,object"`
	Driver            string          `json:"driver" env:"optional"`
	CUDA              string          `json:"cuda" env:"optional"`
	NCCL              string          `json:"nccl" env:"optional"`
	Extra             Extra           `json:"-"`
}

// GPU is one accelerator of the machine.
type GPU struct {
	Model  string `json:"model" env:"minlen=1"`
	PCIID  string `json:"pci_id" env:"minlen=1"`
	Serial string `json:"serial" env:"minlen=1"`
	VBIOS  string `json:"vbios" env:"minlen=1"`
	Extra  Extra  `json:"-"`
}

// CPU identifies the host processor.
type CPU struct {
	Model     string `json:"model"`
	Microcode string `json:"microcode"`
	Extra     Extra  `json:"-"`
}

// Memory describes the host memory configuration.
type Memory struct {
	Channels int64 `json:"channels" env:"min=1,max=16"`
	SpeedMTS int64 `json:"speed_mts" env:"min=1"`
	ECC      bool  `json:"ecc" env:"optional"`
	Extra    Extra `json:"-"`
}

// BIOS holds the firmware settings that affect inference performance.
type BIOS struct {
	Version      string `json:"version"`
	ResizableBAR bool   `json:"resizable_bar"`
	Above4G      bool   `json:"above_4g"`
	Extra        Extra  `json:"-"`
}

// SoftwareProvenance identifies the software stack that produced the result.
type SoftwareProvenance struct {
	ImageDigest    string `json:"image_digest" env:"optional"`
	PipFreezeHash  string `json:"pip_freeze_hash" env:"pattern=hex64"`
	GitCommit      string `json:"git_commit" env:"minlen=7,maxlen=40"`
	NvidiaSMIQHash string `json:"nvidia_smi_q_hash" env:"optional"`
	Extra          Extra  `json:"-"`
}

// Dataset identifies the prompts that were sent.
type Dataset struct {
	ID    string `json:"id" env:"minlen=1"`
	Hash  string `json:"hash" env:"pattern=hex64"`
	Extra Extra  `json:"-"`
}

// Signature is the signature block. It is not part of the content hash.
type Signature struct {
	Method        string `json:"method" env:"enum=sigstore-cosign|dev-key"`
	Certificate   string `json:"certificate" env:"minlen=1"`
	RekorLogIndex int64  `json:"rekor_log_index" env:"default=-1"`
	Bundle        string `json:"bundle" env:"optional"`
	Extra         Extra  `json:"-"`
}

// Extra holds the members of an object that the v1 model does not name, in
// document order. The reference keeps them ("extra allow") and hashes them,
// so they are carried through unchanged.
type Extra []canonjson.Member
