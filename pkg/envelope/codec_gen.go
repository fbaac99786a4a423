// Code generated from the struct tags by TestGeneratedCodecIsCurrent; DO NOT EDIT.
// Regenerate with go generate in pkg/envelope. If this file no longer
// compiles after a change to the structs, delete it first: codec.go works
// without it (more slowly), so the generator can run.

package envelope

import (
	"reflect"
	"strconv"

	"github.com/inferencebench/bench/pkg/envelope/canonjson"
)

// Keep the imports used whatever the structs hold.
var (
	_ = strconv.AppendInt
	_ = canonjson.AppendString
)

func init() { checkGenerated("ef33a740c45a5f7a08984d57b1ae46c1beb79a8cd5661c4268e5fc19bff19b11") }

// fieldPtr returns a pointer to field i of x.
func (x *Envelope) fieldPtr(i int) any {
	switch i {
	case 0:
		return &x.EnvelopeVersion
	case 1:
		return &x.SuiteID
	case 2:
		return &x.SuiteVersion
	case 3:
		return &x.RunID
	case 4:
		return &x.Timestamp
	case 5:
		return &x.Model
	case 6:
		return &x.Engine
	case 7:
		return &x.Quantization
	case 8:
		return &x.HardwareFingerprint
	case 9:
		return &x.SoftwareProvenance
	case 10:
		return &x.Dataset
	case 11:
		return &x.Seed
	case 12:
		return &x.DriverOptions
	case 13:
		return &x.Metrics
	case 14:
		return &x.Distributions
	case 15:
		return &x.SLOTemplate
	case 16:
		return &x.Warnings
	case 17:
		return &x.Signature
	case 18:
		return &x.Extra
	}
	return nil
}

// decodeInOrder reads the members of x that come in declaration order (see inOrderDecoder).
func (x *Envelope) decodeInOrder(st *decodeState, p *structPlan) (int, error) {
	if !stringMember(st, p, 0, &x.EnvelopeVersion) {
		return 0, nil
	}
	if !stringMember(st, p, 1, &x.SuiteID) {
		return 1, nil
	}
	if !stringMember(st, p, 2, &x.SuiteVersion) {
		return 2, nil
	}
	if !stringMember(st, p, 3, &x.RunID) {
		return 3, nil
	}
	if !memberKey(st, p, 4) {
		return 4, nil
	}
	if err := decodeField(st, &x.Timestamp, &p.fields[4]); err != nil {
		return 0, err
	}
	st.pop()
	if !memberKey(st, p, 5) {
		return 5, nil
	}
	if err := decodeField(st, &x.Model, &p.fields[5]); err != nil {
		return 0, err
	}
	st.pop()
	if !memberKey(st, p, 6) {
		return 6, nil
	}
	if err := decodeField(st, &x.Engine, &p.fields[6]); err != nil {
		return 0, err
	}
	st.pop()
	if !memberKey(st, p, 7) {
		return 7, nil
	}
	if err := decodeOptStruct(st, &x.Quantization, &p.fields[7]); err != nil {
		return 0, err
	}
	st.pop()
	if !memberKey(st, p, 8) {
		return 8, nil
	}
	if err := decodeField(st, &x.HardwareFingerprint, &p.fields[8]); err != nil {
		return 0, err
	}
	st.pop()
	if !memberKey(st, p, 9) {
		return 9, nil
	}
	if err := decodeField(st, &x.SoftwareProvenance, &p.fields[9]); err != nil {
		return 0, err
	}
	st.pop()
	if !memberKey(st, p, 10) {
		return 10, nil
	}
	if err := decodeField(st, &x.Dataset, &p.fields[10]); err != nil {
		return 0, err
	}
	st.pop()
	if !memberKey(st, p, 11) {
		return 11, nil
	}
	if err := decodeField(st, &x.Seed, &p.fields[11]); err != nil {
		return 0, err
	}
	st.pop()
	if !memberKey(st, p, 12) {
		return 12, nil
	}
	if err := decodeField(st, &x.DriverOptions, &p.fields[12]); err != nil {
		return 0, err
	}
	st.pop()
	if !memberKey(st, p, 13) {
		return 13, nil
	}
	if err := decodeField(st, &x.Metrics, &p.fields[13]); err != nil {
		return 0, err
	}
	st.pop()
	if !memberKey(st, p, 14) {
		return 14, nil
	}
	if err := decodeField(st, &x.Distributions, &p.fields[14]); err != nil {
		return 0, err
	}
	st.pop()
	if !stringMember(st, p, 15, &x.SLOTemplate) {
		return 15, nil
	}
	if !memberKey(st, p, 16) {
		return 16, nil
	}
	if err := decodeField(st, &x.Warnings, &p.fields[16]); err != nil {
		return 0, err
	}
	st.pop()
	if !memberKey(st, p, 17) {
		return 17, nil
	}
	if err := decodeOptStruct(st, &x.Signature, &p.fields[17]); err != nil {
		return 0, err
	}
	st.pop()
	return 18, nil
}

// appendCanonicalBody appends x as canonical JSON without its signature.
func (x *Envelope) appendCanonicalBody(dst []byte) []byte {
	if len(x.Extra) > 0 {
		return appendStruct(dst, x, planFor(reflect.TypeFor[Envelope]()), true, "signature")
	}
	dst = append(dst, `{"dataset":`...)
	dst = x.Dataset.appendCanonical(dst)
	dst = append(dst, `,"distributions":`...)
	dst = x.Distributions.appendJSON(dst, true)
	dst = append(dst, `,"driver_options":`...)
	dst = appendFreeForm(dst, x.DriverOptions, true, true)
	dst = append(dst, `,"engine":`...)
	dst = x.Engine.appendCanonical(dst)
	dst = append(dst, `,"envelope_version":`...)
	dst = appendDefaulted(dst, x.EnvelopeVersion, "v1")
	dst = append(dst, `,"hardware_fingerprint":`...)
	dst = x.HardwareFingerprint.appendCanonical(dst)
	dst = append(dst, `,"metrics":`...)
	dst = x.Metrics.appendJSON(dst, true)
	dst = append(dst, `,"model":`...)
	dst = x.Model.appendCanonical(dst)
	dst = append(dst, `,"quantization":`...)
	if x.Quantization == nil {
		dst = append(dst, "null"...)
	} else {
		dst = x.Quantization.appendCanonical(dst)
	}
	dst = append(dst, `,"run_id":`...)
	dst = canonjson.AppendString(dst, x.RunID)
	dst = append(dst, `,"seed":`...)
	dst = appendBigInt(dst, x.Seed)
	dst = append(dst, `,"slo_template":`...)
	dst = canonjson.AppendString(dst, x.SLOTemplate)
	dst = append(dst, `,"software_provenance":`...)
	dst = x.SoftwareProvenance.appendCanonical(dst)
	dst = append(dst, `,"suite_id":`...)
	dst = canonjson.AppendString(dst, x.SuiteID)
	dst = append(dst, `,"suite_version":`...)
	dst = canonjson.AppendString(dst, x.SuiteVersion)
	dst = append(dst, `,"timestamp":`...)
	dst = appendTimestamp(dst, x.Timestamp)
	dst = append(dst, `,"warnings":`...)
	dst = appendStrings(dst, x.Warnings)
	return append(dst, '}')
}

// fieldPtr returns a pointer to field i of x.
func (x *Model) fieldPtr(i int) any {
	switch i {
	case 0:
		return &x.ID
	case 1:
		return &x.Revision
	case 2:
		return &x.Provider
	case 3:
		return &x.EndpointHash
	case 4:
		return &x.Extra
	}
	return nil
}

// decodeInOrder reads the members of x that come in declaration order (see inOrderDecoder).
func (x *Model) decodeInOrder(st *decodeState, p *structPlan) (int, error) {
	if !stringMember(st, p, 0, &x.ID) {
		return 0, nil
	}
	if !stringMember(st, p, 1, &x.Revision) {
		return 1, nil
	}
	if !stringMember(st, p, 2, &x.Provider) {
		return 2, nil
	}
	if !stringMember(st, p, 3, &x.EndpointHash) {
		return 3, nil
	}
	return 4, nil
}

// appendCanonical appends x as canonical JSON.
func (x *Model) appendCanonical(dst []byte) []byte {
	if len(x.Extra) > 0 {
		return appendStruct(dst, x, planFor(reflect.TypeFor[Model]()), true, "")
	}
	dst = append(dst, `{"endpoint_hash":`...)
	dst = canonjson.AppendString(dst, x.EndpointHash)
	dst = append(dst, `,"id":`...)
	dst = canonjson.AppendString(dst, x.ID)
	dst = append(dst, `,"provider":`...)
	dst = canonjson.AppendString(dst, x.Provider)
	dst = append(dst, `,"revision":`...)
	dst = canonjson.AppendString(dst, x.Revision)
	return append(dst, '}')
}

// fieldPtr returns a pointer to field i of x.
func (x *Engine) fieldPtr(i int) any {
	switch i {
	case 0:
		return &x.Name
	case 1:
		return &x.Version
	case 2:
		return &x.ConfigHash
	case 3:
		return &x.ImageDigest
	case 4:
		return &x.Extra
	}
	return nil
}

// decodeInOrder reads the members of x that come in declaration order (see inOrderDecoder).
func (x *Engine) decodeInOrder(st *decodeState, p *structPlan) (int, error) {
	if !stringMember(st, p, 0, &x.Name) {
		return 0, nil
	}
	if !stringMember(st, p, 1, &x.Version) {
		return 1, nil
	}
	if !stringMember(st, p, 2, &x.ConfigHash) {
		return 2, nil
	}
	if !stringMember(st, p, 3, &x.ImageDigest) {
		return 3, nil
	}
	return 4, nil
}

// appendCanonical appends x as canonical JSON.
func (x *Engine) appendCanonical(dst []byte) []byte {
	if len(x.Extra) > 0 {
		return appendStruct(dst, x, planFor(reflect.TypeFor[Engine]()), true, "")
	}
	dst = append(dst, `{"config_hash":`...)
	dst = canonjson.AppendString(dst, x.ConfigHash)
	dst = append(dst, `,"image_digest":`...)
	dst = canonjson.AppendString(dst, x.ImageDigest)
	dst = append(dst, `,"name":`...)
	dst = canonjson.AppendString(dst, x.Name)
	dst = append(dst, `,"version":`...)
	dst = canonjson.AppendString(dst, x.Version)
	return append(dst, '}')
}

// fieldPtr returns a pointer to field i of x.
func (x *Quantization) fieldPtr(i int) any {
	switch i {
	case 0:
		return &x.Format
	case 1:
		return &x.Method
	case 2:
		return &x.Extra
	}
	return nil
}

// decodeInOrder reads the members of x that come in declaration order (see inOrderDecoder).
func (x *Quantization) decodeInOrder(st *decodeState, p *structPlan) (int, error) {
	if !stringMember(st, p, 0, &x.Format) {
		return 0, nil
	}
	if !stringMember(st, p, 1, &x.Method) {
		return 1, nil
	}
	return 2, nil
}

// appendCanonical appends x as canonical JSON.
func (x *Quantization) appendCanonical(dst []byte) []byte {
	if len(x.Extra) > 0 {
		return appendStruct(dst, x, planFor(reflect.TypeFor[Quantization]()), true, "")
	}
	dst = append(dst, `{"format":`...)
	dst = canonjson.AppendString(dst, x.Format)
	dst = append(dst, `,"method":`...)
	dst = canonjson.AppendString(dst, x.Method)
	return append(dst, '}')
}

// fieldPtr returns a pointer to field i of x.
func (x *HardwareFingerprint) fieldPtr(i int) any {
	switch i {
	case 0:
		return &x.FingerprintSHA256
	case 1:
		return &x.DMIUUID
	case 2:
		return &x.GPUs
	case 3:
		return &x.CPU
	case 4:
		return &x.Memory
	case 5:
		return &x.BIOS
	case 6:
		return &x.NUMA
	case 7:
		return &x.Driver
	case 8:
		return &x.CUDA
	case 9:
		return &x.NCCL
	case 10:
		return &x.Extra
	}
	return nil
}

// decodeInOrder reads the members of x that come in declaration order (see inOrderDecoder).
func (x *HardwareFingerprint) decodeInOrder(st *decodeState, p *structPlan) (int, error) {
	if !stringMember(st, p, 0, &x.FingerprintSHA256) {
		return 0, nil
	}
	if !stringMember(st, p, 1, &x.DMIUUID) {
		return 1, nil
	}
	if !memberKey(st, p, 2) {
		return 2, nil
	}
	if err := decodeStructs(st, &x.GPUs, &p.fields[2]); err != nil {
		return 0, err
	}
	st.pop()
	if !memberKey(st, p, 3) {
		return 3, nil
	}
	if err := decodeField(st, &x.CPU, &p.fields[3]); err != nil {
		return 0, err
	}
	st.pop()
	if !memberKey(st, p, 4) {
		return 4, nil
	}
	if err := decodeField(st, &x.Memory, &p.fields[4]); err != nil {
		return 0, err
	}
	st.pop()
	if !memberKey(st, p, 5) {
		return 5, nil
	}
	if err := decodeField(st, &x.BIOS, &p.fields[5]); err != nil {
		return 0, err
	}
	st.pop()
	if !memberKey(st, p, 6) {
		return 6, nil
	}
	if err := decodeField(st, &x.NUMA, &p.fields[6]); err != nil {
		return 0, err
	}
	st.pop()
	if !stringMember(st, p, 7, &x.Driver) {
		return 7, nil
	}
	if !stringMember(st, p, 8, &x.CUDA) {
		return 8, nil
	}
	if !stringMember(st, p, 9, &x.NCCL) {
		return 9, nil
	}
	return 10, nil
}

// appendCanonical appends x as canonical JSON.
func (x *HardwareFingerprint) appendCanonical(dst []byte) []byte {
	if len(x.Extra) > 0 {
		return appendStruct(dst, x, planFor(reflect.TypeFor[HardwareFingerprint]()), true, "")
	}
	dst = append(dst, `{"bios":`...)
	dst = x.BIOS.appendCanonical(dst)
	dst = append(dst, `,"cpu":`...)
	dst = x.CPU.appendCanonical(dst)
	dst = append(dst, `,"cuda":`...)
	dst = canonjson.AppendString(dst, x.CUDA)
	dst = append(dst, `,"dmi_uuid":`...)
	dst = canonjson.AppendString(dst, x.DMIUUID)
	dst = append(dst, `,"driver":`...)
	dst = canonjson.AppendString(dst, x.Driver)
	dst = append(dst, `,"fingerprint_sha256":`...)
	dst = canonjson.AppendString(dst, x.FingerprintSHA256)
	dst = append(dst, `,"gpus":`...)
	dst = append(dst, '[')
	for i := range x.GPUs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = x.GPUs[i].appendCanonical(dst)
	}
	dst = append(dst, ']')
	dst = append(dst, `,"memory":`...)
	dst = x.Memory.appendCanonical(dst)
	dst = append(dst, `,"nccl":`...)
	dst = canonjson.AppendString(dst, x.NCCL)
	dst = append(dst, `,"numa":`...)
	dst = appendFreeForm(dst, x.NUMA, true, true)
	return append(dst, '}')
}

// fieldPtr returns a pointer to field i of x.
func (x *GPU) fieldPtr(i int) any {
	switch i {
	case 0:
		return &x.Model
	case 1:
		return &x.PCIID
	case 2:
		return &x.Serial
	case 3:
		return &x.VBIOS
	case 4:
		return &x.Extra
	}
	return nil
}

// decodeInOrder reads the members of x that come in declaration order (see inOrderDecoder).
func (x *GPU) decodeInOrder(st *decodeState, p *structPlan) (int, error) {
	if !stringMember(st, p, 0, &x.Model) {
		return 0, nil
	}
	if !stringMember(st, p, 1, &x.PCIID) {
		return 1, nil
	}
	if !stringMember(st, p, 2, &x.Serial) {
		return 2, nil
	}
	if !stringMember(st, p, 3, &x.VBIOS) {
		return 3, nil
	}
	return 4, nil
}

// appendCanonical appends x as canonical JSON.
func (x *GPU) appendCanonical(dst []byte) []byte {
	if len(x.Extra) > 0 {
		return appendStruct(dst, x, planFor(reflect.TypeFor[GPU]()), true, "")
	}
	dst = append(dst, `{"model":`...)
	dst = canonjson.AppendString(dst, x.Model)
	dst = append(dst, `,"pci_id":`...)
	dst = canonjson.AppendString(dst, x.PCIID)
	dst = append(dst, `,"serial":`...)
	dst = canonjson.AppendString(dst, x.Serial)
	dst = append(dst, `,"vbios":`...)
	dst = canonjson.AppendString(dst, x.VBIOS)
	return append(dst, '}')
}

// fieldPtr returns a pointer to field i of x.
func (x *CPU) fieldPtr(i int) any {
	switch i {
	case 0:
		return &x.Model
	case 1:
		return &x.Microcode
	case 2:
		return &x.Extra
	}
	return nil
}

// decodeInOrder reads the members of x that come in declaration order (see inOrderDecoder).
func (x *CPU) decodeInOrder(st *decodeState, p *structPlan) (int, error) {
	if !stringMember(st, p, 0, &x.Model) {
		return 0, nil
	}
	if !stringMember(st, p, 1, &x.Microcode) {
		return 1, nil
	}
	return 2, nil
}

// appendCanonical appends x as canonical JSON.
func (x *CPU) appendCanonical(dst []byte) []byte {
	if len(x.Extra) > 0 {
		return appendStruct(dst, x, planFor(reflect.TypeFor[CPU]()), true, "")
	}
	dst = append(dst, `{"microcode":`...)
	dst = canonjson.AppendString(dst, x.Microcode)
	dst = append(dst, `,"model":`...)
	dst = canonjson.AppendString(dst, x.Model)
	return append(dst, '}')
}

// fieldPtr returns a pointer to field i of x.
func (x *Memory) fieldPtr(i int) any {
	switch i {
	case 0:
		return &x.Channels
	case 1:
		return &x.SpeedMTS
	case 2:
		return &x.ECC
	case 3:
		return &x.Extra
	}
	return nil
}

// decodeInOrder reads the members of x that come in declaration order (see inOrderDecoder).
func (x *Memory) decodeInOrder(st *decodeState, p *structPlan) (int, error) {
	if !memberKey(st, p, 0) {
		return 0, nil
	}
	if err := decodeField(st, &x.Channels, &p.fields[0]); err != nil {
		return 0, err
	}
	st.pop()
	if !memberKey(st, p, 1) {
		return 1, nil
	}
	if err := decodeField(st, &x.SpeedMTS, &p.fields[1]); err != nil {
		return 0, err
	}
	st.pop()
	if !memberKey(st, p, 2) {
		return 2, nil
	}
	if err := decodeField(st, &x.ECC, &p.fields[2]); err != nil {
		return 0, err
	}
	st.pop()
	return 3, nil
}

// appendCanonical appends x as canonical JSON.
func (x *Memory) appendCanonical(dst []byte) []byte {
	if len(x.Extra) > 0 {
		return appendStruct(dst, x, planFor(reflect.TypeFor[Memory]()), true, "")
	}
	dst = append(dst, `{"channels":`...)
	dst = strconv.AppendInt(dst, x.Channels, 10)
	dst = append(dst, `,"ecc":`...)
	dst = strconv.AppendBool(dst, x.ECC)
	dst = append(dst, `,"speed_mts":`...)
	dst = strconv.AppendInt(dst, x.SpeedMTS, 10)
	return append(dst, '}')
}

// fieldPtr returns a pointer to field i of x.
func (x *BIOS) fieldPtr(i int) any {
	switch i {
	case 0:
		return &x.Version
	case 1:
		return &x.ResizableBAR
	case 2:
		return &x.Above4G
	case 3:
		return &x.Extra
	}
	return nil
}

// decodeInOrder reads the members of x that come in declaration order (see inOrderDecoder).
func (x *BIOS) decodeInOrder(st *decodeState, p *structPlan) (int, error) {
	if !stringMember(st, p, 0, &x.Version) {
		return 0, nil
	}
	if !memberKey(st, p, 1) {
		return 1, nil
	}
	if err := decodeField(st, &x.ResizableBAR, &p.fields[1]); err != nil {
		return 0, err
	}
	st.pop()
	if !memberKey(st, p, 2) {
		return 2, nil
	}
	if err := decodeField(st, &x.Above4G, &p.fields[2]); err != nil {
		return 0, err
	}
	st.pop()
	return 3, nil
}

// appendCanonical appends x as canonical JSON.
func (x *BIOS) appendCanonical(dst []byte) []byte {
	if len(x.Extra) > 0 {
		return appendStruct(dst, x, planFor(reflect.TypeFor[BIOS]()), true, "")
	}
	dst = append(dst, `{"above_4g":`...)
	dst = strconv.AppendBool(dst, x.Above4G)
	dst = append(dst, `,"resizable_bar":`...)
	dst = strconv.AppendBool(dst, x.ResizableBAR)
	dst = append(dst, `,"version":`...)
	dst = canonjson.AppendString(dst, x.Version)
	return append(dst, '}')
}

// fieldPtr returns a pointer to field i of x.
func (x *SoftwareProvenance) fieldPtr(i int) any {
	switch i {
	case 0:
		return &x.ImageDigest
	case 1:
		return &x.PipFreezeHash
	case 2:
		return &x.GitCommit
	case 3:
		return &x.NvidiaSMIQHash
	case 4:
		return &x.Extra
	}
	return nil
}

// decodeInOrder reads the members of x that come in declaration order (see inOrderDecoder).
func (x *SoftwareProvenance) decodeInOrder(st *decodeState, p *structPlan) (int, error) {
	if !stringMember(st, p, 0, &x.ImageDigest) {
		return 0, nil
	}
	if !stringMember(st, p, 1, &x.PipFreezeHash) {
		return 1, nil
	}
	if !stringMember(st, p, 2, &x.GitCommit) {
		return 2, nil
	}
	if !stringMember(st, p, 3, &x.NvidiaSMIQHash) {
		return 3, nil
	}
	return 4, nil
}

// appendCanonical appends x as canonical JSON.
func (x *SoftwareProvenance) appendCanonical(dst []byte) []byte {
	if len(x.Extra) > 0 {
		return appendStruct(dst, x, planFor(reflect.TypeFor[SoftwareProvenance]()), true, "")
	}
	dst = append(dst, `{"git_commit":`...)
	dst = canonjson.AppendString(dst, x.GitCommit)
	dst = append(dst, `,"image_digest":`...)
	dst = canonjson.AppendString(dst, x.ImageDigest)
	dst = append(dst, `,"nvidia_smi_q_hash":`...)
	dst = canonjson.AppendString(dst, x.NvidiaSMIQHash)
	dst = append(dst, `,"pip_freeze_hash":`...)
	dst = canonjson.AppendString(dst, x.PipFreezeHash)
	return append(dst, '}')
}

// fieldPtr returns a pointer to field i of x.
func (x *Dataset) fieldPtr(i int) any {
	switch i {
	case 0:
		return &x.ID
	case 1:
		return &x.Hash
	case 2:
		return &x.Extra
	}
	return nil
}

// decodeInOrder reads the members of x that come in declaration order (see inOrderDecoder).
func (x *Dataset) decodeInOrder(st *decodeState, p *structPlan) (int, error) {
	if !stringMember(st, p, 0, &x.ID) {
		return 0, nil
	}
	if !stringMember(st, p, 1, &x.Hash) {
		return 1, nil
	}
	return 2, nil
}

// appendCanonical appends x as canonical JSON.
func (x *Dataset) appendCanonical(dst []byte) []byte {
	if len(x.Extra) > 0 {
		return appendStruct(dst, x, planFor(reflect.TypeFor[Dataset]()), true, "")
	}
	dst = append(dst, `{"hash":`...)
	dst = canonjson.AppendString(dst, x.Hash)
	dst = append(dst, `,"id":`...)
	dst = canonjson.AppendString(dst, x.ID)
	return append(dst, '}')
}

// fieldPtr returns a pointer to field i of x.
func (x *Signature) fieldPtr(i int) any {
	switch i {
	case 0:
		return &x.Method
	case 1:
		return &x.Certificate
	case 2:
		return &x.RekorLogIndex
	case 3:
		return &x.Bundle
	case 4:
		return &x.Extra
	}
	return nil
}

// decodeInOrder reads the members of x that come in declaration order (see inOrderDecoder).
func (x *Signature) decodeInOrder(st *decodeState, p *structPlan) (int, error) {
	if !stringMember(st, p, 0, &x.Method) {
		return 0, nil
	}
	if !stringMember(st, p, 1, &x.Certificate) {
		return 1, nil
	}
	if !memberKey(st, p, 2) {
		return 2, nil
	}
	if err := decodeField(st, &x.RekorLogIndex, &p.fields[2]); err != nil {
		return 0, err
	}
	st.pop()
	if !stringMember(st, p, 3, &x.Bundle) {
		return 3, nil
	}
	return 4, nil
}

// appendCanonical appends x as canonical JSON.
func (x *Signature) appendCanonical(dst []byte) []byte {
	if len(x.Extra) > 0 {
		return appendStruct(dst, x, planFor(reflect.TypeFor[Signature]()), true, "")
	}
	dst = append(dst, `{"bundle":`...)
	dst = canonjson.AppendString(dst, x.Bundle)
	dst = append(dst, `,"certificate":`...)
	dst = canonjson.AppendString(dst, x.Certificate)
	dst = append(dst, `,"method":`...)
	dst = canonjson.AppendString(dst, x.Method)
	dst = append(dst, `,"rekor_log_index":`...)
	dst = strconv.AppendInt(dst, x.RekorLogIndex, 10)
	return append(dst, '}')
}
