package envelope_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/inferencebench/bench/pkg/envelope"
	"github.com/inferencebench/bench/pkg/envelope/canonjson"
	"github.com/inferencebench/bench/pkg/envelope/envelopetest"
)

// pydanticOracle is an independent transcription of spec/envelope-v1.md into
// pydantic v2 models (written from the spec's field table and normalisation
// rules, not from the Go structs). It reads one request per line,
// {"id": N, "doc": "<hex of the JSON text>", "fix": bool}, and writes one
// result per line: {"id": N, "hash": ..., "body": ...} or {"id": N,
// "error": ...}. With "fix", the hardware fingerprint is validated without
// the fingerprint check, fingerprint_sha256 is recomputed as the spec says
// and written back into the document before validation; the recomputed value
// comes back as "fp" so that the Go side can hash the very same document.
const pydanticOracle = `
import hashlib, json, sys
from typing import Annotated, Any, Literal

import pydantic
from pydantic import (AwareDatetime, BaseModel, ConfigDict, Field,
                      ValidationError, ValidationInfo, model_validator)

if not pydantic.VERSION.startswith("2."):
    sys.exit("pydantic v2 is required, found " + pydantic.VERSION)

HEX64 = r"^[0-9a-f]{64}$"
SEMVER = r"^\d+\.\d+\.\d+(-[\w.]+)?$"

def canonical(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))

def sha256_hex(text):
    return hashlib.sha256(text.encode("utf-8")).hexdigest()

class Base(BaseModel):
    # "Every object, at every level, keeps unknown fields"; typed strings are
    # stripped; lax mode (the default).
    model_config = ConfigDict(extra="allow", str_strip_whitespace=True)

NonEmpty = Annotated[str, Field(min_length=1)]
Hex64 = Annotated[str, Field(pattern=HEX64)]
Rev = Annotated[str, Field(min_length=7, max_length=40)]

class ModelInfo(Base):
    id: NonEmpty
    revision: Rev
    provider: NonEmpty
    endpoint_hash: Hex64

class Engine(Base):
    name: NonEmpty
    version: NonEmpty
    config_hash: Hex64
    image_digest: str = ""

class Quantization(Base):
    format: str
    method: str = ""

class GPU(Base):
    model: NonEmpty
    pci_id: NonEmpty
    serial: NonEmpty
    vbios: NonEmpty

class CPU(Base):
    model: str
    microcode: str

class Memory(Base):
    channels: Annotated[int, Field(ge=1, le=16)]
    speed_mts: Annotated[int, Field(ge=1)]
    ecc: bool = False

class BIOS(Base):
    version: str
    resizable_bar: bool
    above_4g: bool

class HardwareFingerprint(Base):
    fingerprint_sha256: Hex64
    dmi_uuid: NonEmpty
    gpus: list[GPU] = Field(default_factory=list)
    cpu: CPU
    memory: Memory
    bios: BIOS
    numa: dict[str, Any] = Field(default_factory=dict)
    driver: str = ""
    cuda: str = ""
    nccl: str = ""

    def compute_fingerprint(self):
        body = {
            "dmi_uuid": self.dmi_uuid,
            "gpus": sorted(
                [{"model": g.model, "pci_id": g.pci_id, "serial": g.serial, "vbios": g.vbios}
                 for g in self.gpus],
                key=lambda g: g["pci_id"]),
            "cpu": {"model": self.cpu.model, "microcode": self.cpu.microcode},
            "memory": {"channels": self.memory.channels, "speed_mts": self.memory.speed_mts,
                       "ecc": self.memory.ecc},
            "bios": {"version": self.bios.version, "resizable_bar": self.bios.resizable_bar,
                     "above_4g": self.bios.above_4g},
            "numa": self.numa,
            "driver": self.driver,
            "cuda": self.cuda,
            "nccl": self.nccl,
        }
        return sha256_hex(canonical(body))

    @model_validator(mode="after")
    def _fingerprint_matches(self, info: ValidationInfo):
        if info.context and info.context.get("skip_fingerprint"):
            return self
        if self.fingerprint_sha256 != self.compute_fingerprint():
            raise ValueError("fingerprint_sha256 does not match the fingerprint fields")
        return self

class SoftwareProvenance(Base):
    image_digest: str = ""
    pip_freeze_hash: Hex64
    git_commit: Rev
    nvidia_smi_q_hash: str = ""

class Dataset(Base):
    id: NonEmpty
    hash: Hex64

class Signature(Base):
    method: Literal["sigstore-cosign", "dev-key"]
    certificate: str
    rekor_log_index: int = -1
    bundle: str = ""

class Envelope(Base):
    envelope_version: Literal["v1"] = "v1"
    suite_id: NonEmpty
    suite_version: Annotated[str, Field(pattern=SEMVER)]
    run_id: str
    timestamp: AwareDatetime
    model: ModelInfo
    engine: Engine
    quantization: Quantization | None = None
    hardware_fingerprint: HardwareFingerprint
    software_provenance: SoftwareProvenance
    dataset: Dataset
    seed: int
    driver_options: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, float | int | str | None] = Field(default_factory=dict)
    distributions: dict[str, str] = Field(default_factory=dict)
    slo_template: str = ""
    warnings: list[str] = Field(default_factory=list)
    signature: Signature | None = None

    @model_validator(mode="after")
    def _metrics_not_empty(self):
        if not self.metrics:
            raise ValueError("metrics must contain at least one entry")
        return self

def content_hash(env):
    body = canonical(env.model_dump(exclude={"signature"}, mode="json"))
    return sha256_hex(body), body

def short(exc):
    parts = []
    for e in exc.errors()[:3]:
        loc = ".".join(str(x) for x in e["loc"])
        parts.append((loc + ": " if loc else "") + e["msg"])
    return "; ".join(parts)

for line in sys.stdin:
    req = json.loads(line)
    res = {"id": req["id"]}
    try:
        doc = json.loads(bytes.fromhex(req["doc"]).decode("utf-8"))
        if req.get("fix") and isinstance(doc, dict) and isinstance(doc.get("hardware_fingerprint"), dict):
            try:
                hw = HardwareFingerprint.model_validate(
                    doc["hardware_fingerprint"], context={"skip_fingerprint": True})
                res["fp"] = hw.compute_fingerprint()
                doc["hardware_fingerprint"]["fingerprint_sha256"] = res["fp"]
            except ValidationError:
                pass  # the full validation below reports it
        env = Envelope.model_validate(doc)
        res["hash"], res["body"] = content_hash(env)
    except ValidationError as exc:
        res["error"] = short(exc)
    except Exception as exc:
        res["error"] = type(exc).__name__ + ": " + str(exc)[:300]
    sys.stdout.write(json.dumps(res) + "\n")
`

// deliberateStrictness lists the variants where Go rejects an envelope that
// pydantic accepts, on purpose. Every entry must be justified by the spec or
// by a known limitation of Go strings; an entry that is not (or no longer) a
// Go-rejects/pydantic-accepts disagreement fails the test, so the list stays
// exact. Do not add entries to make the test pass: a disagreement the spec
// does not justify is a finding.
var deliberateStrictness = map[string]string{
	// Duplicate object keys: Python's json module keeps the last one
	// silently, so two readers could see different envelopes.
	"doc/duplicate-top-level-key": "duplicate keys",
	"doc/duplicate-key-in-model":  "duplicate keys",
	"doc/duplicate-metric-key":    "duplicate keys",
	"doc/duplicate-key-in-numa":   "duplicate keys",
	"doc/duplicate-key-in-extra":  "duplicate keys",

	// Lone UTF-16 surrogates: Go strings cannot carry them. pydantic refuses
	// them in typed str fields but keeps them in free-form values.
	"doc/lone-high-surrogate-in-extra":      "lone UTF-16 surrogate",
	"doc/lone-low-surrogate-in-extra":       "lone UTF-16 surrogate",
	"doc/reversed-surrogate-pair-in-extra":  "lone UTF-16 surrogate",
	"doc/lone-surrogate-in-driver-options":  "lone UTF-16 surrogate",
	"doc/lone-surrogate-in-numa":            "lone UTF-16 surrogate",
	"doc/lone-surrogate-in-nested-model-ex": "lone UTF-16 surrogate",

	// NaN and Infinity: the spec says "NaN/Infinity cannot be represented:
	// reject them". 1e400 is Infinity to Python's float().
	"metrics/bl/ttft_p50_ms=NaN":         "NaN/Infinity (spec: reject them)",
	"metrics/bl/ttft_p50_ms=Infinity":    "NaN/Infinity (spec: reject them)",
	"metrics/bl/ttft_p50_ms=-Infinity":   "NaN/Infinity (spec: reject them)",
	"metrics/bl/ttft_p50_ms=1e400":       "NaN/Infinity (spec: reject them)",
	"metrics/h1/compliance_rate=NaN":     "NaN/Infinity (spec: reject them)",
	"metrics/h1/compliance_rate=1e400":   "NaN/Infinity (spec: reject them)",
	"doc/nan-in-extra":                   "NaN/Infinity (spec: reject them)",
	"doc/infinity-in-driver-options":     "NaN/Infinity (spec: reject them)",
	"doc/overflow-float-in-numa":         "NaN/Infinity (spec: reject them)",
	"doc/negative-overflow-float-in-ext": "NaN/Infinity (spec: reject them)",

	// Timestamps given as numbers (or as strings of digits, which pydantic
	// reads as Unix time): the spec's timestamp is "RFC 3339, must carry a
	// zone".
	"timestamp/bl/unix-int":        "timestamp given as a number (spec: RFC 3339)",
	"timestamp/bl/unix-float":      "timestamp given as a number (spec: RFC 3339)",
	"timestamp/bl/unix-negative":   "timestamp given as a number (spec: RFC 3339)",
	"timestamp/bl/unix-int-str":    "timestamp given as a number (spec: RFC 3339)",
	"timestamp/bl/unix-float-str":  "timestamp given as a number (spec: RFC 3339)",
	"timestamp/h1/unix-int":        "timestamp given as a number (spec: RFC 3339)",
	"timestamp/bl/unix-millis-str": "timestamp given as a number (spec: RFC 3339)",

	// Keys that become equal once stripped: pydantic keeps the last one
	// silently, which is a duplicate key by another route; refused for the
	// same reason.
	"metric-key/bl/collision-padded-first":   "keys equal after stripping",
	"metric-key/bl/collision-padded-last":    "keys equal after stripping",
	"metric-key/bl/collision-two-padded":     "keys equal after stripping",
	"driver_options/h1/padded-key-collision": "keys equal after stripping",
	"numa/bl/key-collision":                  "keys equal after stripping",
	"distributions/bl/collision":             "keys equal after stripping",

	// Integers beyond 64 bits in fields that hold a memory speed or a log
	// index: Go keeps these as int64; no real value comes near.
	"speed_mts/h1/int64-max-plus-1":     "int64 range for speed_mts",
	"speed_mts/h1/int64-max-plus-1-str": "int64 range for speed_mts",
	"speed_mts/h1/2p70":                 "int64 range for speed_mts",
	"signature/bl/rekor-2p63":           "int64 range for rekor_log_index",

	// Envelopes over 1 MiB: a denial-of-service guard (NATS refuses larger
	// messages by default); real envelopes are a few KiB.
	"doc/larger-than-1MiB": "1 MiB size limit",
}

// pyEdit changes one member or element of a fixture.
type pyEdit struct {
	path    []string // object keys, or decimal indexes into arrays
	val     canonjson.Value
	raw     string // when set: the new value as raw JSON text
	del     bool
	prepend bool // a new member goes first instead of last
}

type pyVariant struct {
	name  string
	base  string // "bl" (baseline) or "h1" (H100)
	edits []pyEdit
	text  func(string) string // optional rewrite of the final JSON text
	fixFP bool                // recompute fingerprint_sha256 (in Python, as the spec says)
	doc   []byte              // when set: the document as it is (base and edits unused)
	want  string              // when set: the content hash both sides must give
}

func pyPath(path string) []string { return strings.Split(path, ".") }

func pySet(path string, v canonjson.Value) pyEdit { return pyEdit{path: pyPath(path), val: v} }
func pySetRaw(path, raw string) pyEdit            { return pyEdit{path: pyPath(path), raw: raw} }
func pyDel(path string) pyEdit                    { return pyEdit{path: pyPath(path), del: true} }
func pyAddRaw(path []string, raw string) pyEdit   { return pyEdit{path: path, raw: raw} }
func pyPrependRaw(path []string, raw string) pyEdit {
	return pyEdit{path: path, raw: raw, prepend: true}
}

// pyJSONString is a JSON string literal of s, written with encoding/json (it
// leaves non-ASCII characters as they are and escapes <, >, &, U+2028, U+2029
// and control characters, all of which is valid JSON).
func pyJSONString(s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func applyPyEdit(v canonjson.Value, path []string, e *pyEdit, nv canonjson.Value) (canonjson.Value, error) {
	switch v.Kind() {
	case canonjson.Array:
		i, err := strconv.Atoi(path[0])
		elems := append([]canonjson.Value(nil), v.Elems()...)
		if err != nil || i < 0 || i >= len(elems) {
			return v, fmt.Errorf("no element %q", path[0])
		}
		if len(path) > 1 {
			sub, err := applyPyEdit(elems[i], path[1:], e, nv)
			if err != nil {
				return v, err
			}
			elems[i] = sub
		} else if e.del {
			elems = append(elems[:i], elems[i+1:]...)
		} else {
			elems[i] = nv
		}
		return canonjson.ArrayValue(elems), nil
	case canonjson.Object:
		members := append([]canonjson.Member(nil), v.Members()...)
		for i, m := range members {
			if m.Key != path[0] {
				continue
			}
			switch {
			case len(path) > 1:
				sub, err := applyPyEdit(m.Value, path[1:], e, nv)
				if err != nil {
					return v, err
				}
				members[i].Value = sub
			case e.del:
				members = append(members[:i], members[i+1:]...)
			default:
				members[i].Value = nv
			}
			return canonjson.ObjectValue(members), nil
		}
		if len(path) > 1 || e.del {
			return v, fmt.Errorf("no member %q", path[0])
		}
		m := canonjson.Member{Key: path[0], Value: nv}
		if e.prepend {
			members = append([]canonjson.Member{m}, members...)
		} else {
			members = append(members, m)
		}
		return canonjson.ObjectValue(members), nil
	}
	return v, fmt.Errorf("cannot descend into a %v at %q", v.Kind(), path[0])
}

// build writes the variant's JSON text.
func (pv *pyVariant) build(bases map[string]canonjson.Value) ([]byte, error) {
	if pv.doc != nil {
		return pv.doc, nil
	}
	v, ok := bases[pv.base]
	if !ok {
		return nil, fmt.Errorf("unknown base %q", pv.base)
	}
	raws := map[string]string{}
	for i := range pv.edits {
		e := &pv.edits[i]
		nv := e.val
		if e.raw != "" {
			ph := fmt.Sprintf("@@raw%d@@", i)
			raws[`"`+ph+`"`] = e.raw
			nv = canonjson.StringValue(ph)
		}
		var err error
		if v, err = applyPyEdit(v, e.path, e, nv); err != nil {
			return nil, fmt.Errorf("%s: %v", strings.Join(e.path, "."), err)
		}
	}
	text := string(canonjson.AppendCompact(nil, v))
	for ph, raw := range raws {
		if !strings.Contains(text, ph) {
			return nil, fmt.Errorf("placeholder %s lost", ph)
		}
		text = strings.Replace(text, ph, raw, 1)
	}
	if pv.text != nil {
		before := text
		if text = pv.text(text); text == before {
			return nil, errors.New("text rewrite changed nothing")
		}
	}
	return []byte(text), nil
}

type pyVariantSet struct {
	list  []pyVariant
	names map[string]bool
}

func (s *pyVariantSet) add(name, base string, fixFP bool, edits ...pyEdit) *pyVariant {
	if s.names == nil {
		s.names = map[string]bool{}
	}
	if s.names[name] {
		panic("duplicate variant name " + name)
	}
	s.names[name] = true
	s.list = append(s.list, pyVariant{name: name, base: base, edits: edits, fixFP: fixFP})
	return &s.list[len(s.list)-1]
}

func (s *pyVariantSet) addText(name, base string, f func(string) string) {
	s.add(name, base, false).text = f
}

// replaceOnce returns a rewrite that replaces the first old with new.
func pyReplaceOnce(old, new string) func(string) string {
	return func(s string) string { return strings.Replace(s, old, new, 1) }
}

func pyStrAt(t *testing.T, v canonjson.Value, path string) string {
	t.Helper()
	for _, seg := range pyPath(path) {
		if v.Kind() == canonjson.Array {
			i, _ := strconv.Atoi(seg)
			v = v.Elems()[i]
			continue
		}
		var ok bool
		if v, ok = v.Get(seg); !ok {
			t.Fatalf("fixture has no %s", path)
		}
	}
	if v.Kind() != canonjson.String {
		t.Fatalf("fixture %s is not a string", path)
	}
	return v.Str()
}

func pyNested(depth int) string { return strings.Repeat("[", depth) + strings.Repeat("]", depth) }

func pydanticVariants(t *testing.T, bases map[string]canonjson.Value) []pyVariant {
	s := &pyVariantSet{}
	S := canonjson.StringValue
	N := canonjson.NullValue()

	// Every reference fixture as it is, and the two bases re-serialised:
	// both sides must give the reference's hash (this also checks that the
	// oracle's transcription of the spec reproduces the reference).
	for _, fx := range envelopetest.All(t) {
		data, err := os.ReadFile(fx.Path)
		if err != nil {
			t.Fatal(err)
		}
		v := s.add("fixture/"+fx.Rel, "", false)
		v.doc, v.want = data, fx.ContentHash
	}
	s.add("identity/bl", "bl", false)
	s.add("identity/h1", "h1", false)

	// ---- integers: seed (big), memory.channels (1..16), speed_mts (>= 1) ----
	nines := strings.Repeat("9", 4300)
	intForms := []struct{ name, raw string }{
		{"str", `"42"`}, {"str-underscore-padded", `" 4_2 "`}, {"float", `42.0`}, {"str-float", `"42.0"`},
		{"true", `true`}, {"false", `false`}, {"fraction", `42.5`}, {"hex-str", `"0x2a"`}, {"1e20", `1e20`},
		{"plus-str", `"+42"`}, {"neg-zero-str", `"-0"`}, {"leading-zero-str", `"08"`}, {"double-underscore", `"4__2"`},
		{"leading-underscore", `"_42"`}, {"trailing-underscore", `"42_"`}, {"trailing-dot", `"42."`},
		{"zeros-fraction-str", `"42.00"`}, {"underscore-fraction-str", `"4_2.0"`}, {"underscore-in-fraction", `"4_2.0_0"`},
		{"arabic-indic-digits", `"\u0664\u0662"`}, {"fullwidth-digits", `"\uff14\uff12"`}, {"exponent-str", `"1e3"`},
		{"dot-exponent-str", `"1.e0"`}, {"dot-zero-str", `".0"`}, {"zero-fraction-str", `"0.000"`}, {"tab-newline", `"\t42\n"`},
		{"nbsp-padded", `"\u00a042\u00a0"`}, {"ideographic-space", `"\u300042"`}, {"inner-space", `"4 2"`},
		{"sign-space", `"- 42"`}, {"binary-str", `"0b101"`}, {"million-underscores", `"1_000_000"`},
		{"neg-zero-float", `-0.0`}, {"9.2e18", `9.2e18`}, {"9.3e18", `9.3e18`}, {"2p63-float", `9.223372036854775808e18`},
		{"minus-2p63-float", `-9.223372036854775808e18`}, {"u64-max", `18446744073709551615`},
		{"u64-max-str", `"18446744073709551615"`}, {"minus-2p70", `-1180591620717411303424`},
		{"4300-digits", nines}, {"4300-digits-str", `"` + nines + `"`}, {"4301-digits-str", `"9` + nines + `"`},
		{"4301-digits", "9" + nines}, {"1E2", `1E2`}, {"1e2", `1e2`}, {"null", `null`}, {"array", `[]`}, {"object", `{}`},
		{"empty-str", `""`}, {"blank-str", `"  "`}, {"suffix-str", `"42abc"`}, {"4.2e1", `4.2e1`},
		{"float-rounds-to-int", `42.000000000000001`}, {"negative", `-7`}, {"neg-float-str", `"-42.0"`},
		{"plus-underscore-str", `"+4_2"`}, {"padded-float-str", `" 42.0 "`}, {"float-str-tab", `"42.0\t"`},
		{"zwsp-str", `"42\u200b"`}, {"nel-str", `"\u008542"`}, {"fs-str", `"\u001c42"`},
	}
	for _, f := range intForms {
		s.add("seed/bl/"+f.name, "bl", false, pySetRaw("seed", f.raw))
	}
	for _, f := range intForms[:12] {
		s.add("seed/h1/"+f.name, "h1", false, pySetRaw("seed", f.raw))
	}
	channelForms := []struct{ name, raw string }{
		{"str", `"4"`}, {"str-underscore-padded", `" 1_6 "`}, {"float", `4.0`}, {"str-float", `"4.0"`},
		{"true", `true`}, {"false", `false`}, {"fraction", `4.5`}, {"hex-str", `"0x4"`}, {"1e20", `1e20`},
		{"zero", `0`}, {"sixteen", `16`}, {"seventeen", `17`}, {"negative", `-1`}, {"sixteen-str", `"16"`},
		{"null", `null`}, {"1E1", `1E1`}, {"16.0", `16.0`}, {"16.5", `16.5`}, {"2p64", `18446744073709551616`},
		{"leading-zero-str", `"04"`}, {"str-padded-nbsp", `"\u00a08"`},
	}
	for _, f := range channelForms {
		s.add("channels/bl/"+f.name, "bl", true, pySetRaw("hardware_fingerprint.memory.channels", f.raw))
	}
	speedForms := []struct{ name, raw string }{
		{"str", `"4800"`}, {"float", `4800.0`}, {"underscore-str", `"4_800"`}, {"zero", `0`},
		{"int64-max", `9223372036854775807`}, {"int64-max-plus-1", `9223372036854775808`},
		{"int64-max-plus-1-str", `"9223372036854775808"`}, {"1e20", `1e20`}, {"true", `true`}, {"fraction-str", `"4800.5"`},
		{"2p70", `1180591620717411303424`},
	}
	for _, f := range speedForms {
		s.add("speed_mts/h1/"+f.name, "h1", true, pySetRaw("hardware_fingerprint.memory.speed_mts", f.raw))
	}

	// ---- booleans ----
	boolForms := []struct{ name, raw string }{
		{"yes", `"yes"`}, {"off", `"off"`}, {"T", `"T"`}, {"int-1", `1`}, {"int-0", `0`}, {"int-2", `2`},
		{"maybe", `"maybe"`}, {"float-1", `1.0`}, {"float-0", `0.0`}, {"float-1.5", `1.5`}, {"padded-true", `" true "`},
		{"TRUE", `"TRUE"`}, {"On", `"On"`}, {"empty", `""`}, {"null", `null`}, {"str-1", `"1"`}, {"str-0", `"0"`},
		{"f", `"f"`}, {"n", `"n"`}, {"Y", `"Y"`}, {"no", `"no"`}, {"false-str", `"false"`}, {"tru", `"tru"`},
		{"neg-zero-float", `-0.0`}, {"int-minus-1", `-1`}, {"str-1.0", `"1.0"`}, {"array", `[]`},
	}
	for _, f := range boolForms {
		s.add("resizable_bar/bl/"+f.name, "bl", true, pySetRaw("hardware_fingerprint.bios.resizable_bar", f.raw))
	}
	for _, f := range boolForms[:10] {
		s.add("above_4g/h1/"+f.name, "h1", true, pySetRaw("hardware_fingerprint.bios.above_4g", f.raw))
		s.add("ecc/bl/"+f.name, "bl", true, pySetRaw("hardware_fingerprint.memory.ecc", f.raw))
	}

	// ---- typed strings, padded ----
	pads := []struct{ name, l, r string }{
		{"space", " ", " "}, {"tab-newline", "\t", "\n"}, {"nbsp", "\u00a0", "\u00a0"},
		{"ideographic-space", "\u3000", "\u3000"}, {"line-paragraph-sep", "\u2028", "\u2029"},
		{"zwsp-not-space", "\u200b", ""}, {"bom-not-space", "\ufeff", ""}, {"nel", "\u0085", "\u0085"},
		{"info-separators", "\x1c", "\x1f"}, {"vt-ff", "\v ", " \f"}, {"crlf", "\r\n", "\r\n"},
		{"mixed-unicode-space", " \t\u2003", "\u205f\u00a0 "}, {"mongolian-vowel-sep", "\u180e", ""},
	}
	type strField struct {
		base, path string
		fp         bool
	}
	strFields := []strField{
		{"bl", "suite_id", false}, {"h1", "suite_version", false}, {"bl", "run_id", false}, {"h1", "slo_template", false},
		{"bl", "model.id", false}, {"h1", "model.revision", false}, {"bl", "model.provider", false},
		{"h1", "model.endpoint_hash", false}, {"bl", "engine.name", false}, {"h1", "engine.version", false},
		{"bl", "engine.config_hash", false}, {"h1", "engine.image_digest", false},
		{"bl", "software_provenance.pip_freeze_hash", false}, {"h1", "software_provenance.git_commit", false},
		{"bl", "software_provenance.nvidia_smi_q_hash", false}, {"h1", "software_provenance.image_digest", false},
		{"bl", "dataset.id", false}, {"h1", "dataset.hash", false}, {"h1", "quantization.format", false},
		{"h1", "quantization.method", false}, {"bl", "envelope_version", false},
		{"bl", "hardware_fingerprint.fingerprint_sha256", false},
		{"bl", "hardware_fingerprint.dmi_uuid", true}, {"h1", "hardware_fingerprint.cpu.model", true},
		{"bl", "hardware_fingerprint.cpu.microcode", true}, {"h1", "hardware_fingerprint.bios.version", true},
		{"bl", "hardware_fingerprint.driver", true}, {"h1", "hardware_fingerprint.cuda", true},
		{"bl", "hardware_fingerprint.nccl", true}, {"h1", "hardware_fingerprint.gpus.0.serial", true},
		{"bl", "hardware_fingerprint.gpus.0.vbios", true}, {"h1", "hardware_fingerprint.gpus.3.model", true},
		{"h1", "hardware_fingerprint.gpus.5.pci_id", true},
	}
	for i, f := range strFields {
		orig := pyStrAt(t, bases[f.base], f.path)
		for k := range 3 {
			p := pads[(i*3+k)%len(pads)]
			s.add("pad/"+f.base+"/"+f.path+"/"+p.name, f.base, f.fp, pySet(f.path, S(p.l+orig+p.r)))
		}
	}
	for _, p := range pads { // every padding on one plain and one fingerprinted field
		s.add("pad-all/bl/model.id/"+p.name, "bl", false, pySet("model.id", S(p.l+"stub/tinyllama-cpu"+p.r)))
		s.add("pad-all/h1/cpu.model/"+p.name, "h1", true,
			pySet("hardware_fingerprint.cpu.model", S(p.l+pyStrAt(t, bases["h1"], "hardware_fingerprint.cpu.model")+p.r)))
	}
	// Padding that is stripped leaves the fingerprint valid: no recomputation.
	s.add("pad-unfixed/bl/cpu.model/space", "bl", false,
		pySet("hardware_fingerprint.cpu.model", S(" "+pyStrAt(t, bases["bl"], "hardware_fingerprint.cpu.model")+"\t")))
	s.add("pad-unfixed/h1/gpus.0.serial/nbsp", "h1", false,
		pySet("hardware_fingerprint.gpus.0.serial", S("\u00a0"+pyStrAt(t, bases["h1"], "hardware_fingerprint.gpus.0.serial"))))
	s.add("pad-unfixed/h1/gpus.2.pci_id/ideographic", "h1", false,
		pySet("hardware_fingerprint.gpus.2.pci_id", S("\u3000"+pyStrAt(t, bases["h1"], "hardware_fingerprint.gpus.2.pci_id")+"\u3000")))

	// ---- typed strings: wrong types, empty, lengths, patterns ----
	for _, c := range []struct{ name, path, raw string }{
		{"suite_id-int", "suite_id", `5`}, {"model.id-bool", "model.id", `true`}, {"engine.version-float", "engine.version", `1.0`},
		{"slo_template-int", "slo_template", `0`}, {"run_id-int", "run_id", `123`}, {"run_id-empty", "run_id", `""`},
		{"run_id-array", "run_id", `["x"]`}, {"suite_id-empty", "suite_id", `""`}, {"suite_id-blank", "suite_id", `"  \t "`},
		{"model.id-empty", "model.id", `""`}, {"model.id-ideographic-only", "model.id", `"\u3000"`},
		{"model.id-zwsp-only", "model.id", `"\u200b"`}, {"model.provider-empty", "model.provider", `""`},
		{"engine.name-empty", "engine.name", `""`}, {"engine.version-empty", "engine.version", `""`},
		{"dataset.id-empty", "dataset.id", `""`}, {"dataset.id-nbsp-only", "dataset.id", `"\u00a0"`},
		{"revision-6", "model.revision", `"abc123"`}, {"revision-7", "model.revision", `"abc1234"`},
		{"revision-40", "model.revision", pyJSONString(strings.Repeat("a", 40))},
		{"revision-41", "model.revision", pyJSONString(strings.Repeat("a", 41))},
		{"revision-40-plus-space", "model.revision", pyJSONString(strings.Repeat("a", 40) + " ")},
		{"revision-6-plus-spaces", "model.revision", `"  abc123  "`},
		{"revision-7-astral", "model.revision", `"\ud83d\ude00\ud83d\ude00\ud83d\ude00\ud83d\ude00\ud83d\ude00\ud83d\ude00\ud83d\ude00"`},
		{"revision-6-astral", "model.revision", `"\ud83d\ude00\ud83d\ude00\ud83d\ude00\ud83d\ude00\ud83d\ude00\ud83d\ude00"`},
		{"revision-6-plus-zwsp", "model.revision", `"abc123\u200b"`},
		{"revision-combining", "model.revision", `"abc\u0301de"`},
		{"revision-40-astral", "model.revision", pyJSONString(strings.Repeat("\U0001F600", 40))},
		{"revision-41-astral", "model.revision", pyJSONString(strings.Repeat("\U0001F600", 41))},
		{"git_commit-6", "software_provenance.git_commit", `"6ce5b0"`},
		{"git_commit-41", "software_provenance.git_commit", pyJSONString(strings.Repeat("b", 41))},
		{"git_commit-padded-to-6", "software_provenance.git_commit", `"  6ce5b0  "`},
		{"endpoint_hash-upper", "model.endpoint_hash", pyJSONString(strings.Repeat("A", 64))},
		{"endpoint_hash-mixed-case", "model.endpoint_hash", pyJSONString("aB" + strings.Repeat("0", 62))},
		{"endpoint_hash-63", "model.endpoint_hash", pyJSONString(strings.Repeat("a", 63))},
		{"endpoint_hash-65", "model.endpoint_hash", pyJSONString(strings.Repeat("a", 65))},
		{"endpoint_hash-padded", "model.endpoint_hash", pyJSONString(" " + strings.Repeat("a", 64) + "\n")},
		{"endpoint_hash-fullwidth-digit", "model.endpoint_hash", pyJSONString("\uff10" + strings.Repeat("a", 63))},
		{"endpoint_hash-trailing-newline-inside", "model.endpoint_hash", pyJSONString(strings.Repeat("a", 64) + "\nx")},
		{"config_hash-upper", "engine.config_hash", pyJSONString(strings.Repeat("F", 64))},
		{"pip_freeze_hash-upper", "software_provenance.pip_freeze_hash", pyJSONString(strings.ToUpper(pyStrAt(t, bases["bl"], "software_provenance.pip_freeze_hash")))},
		{"dataset.hash-upper", "dataset.hash", pyJSONString(strings.ToUpper(pyStrAt(t, bases["bl"], "dataset.hash")))},
		{"fingerprint-upper", "hardware_fingerprint.fingerprint_sha256", pyJSONString(strings.ToUpper(pyStrAt(t, bases["bl"], "hardware_fingerprint.fingerprint_sha256")))},
		{"fingerprint-zeros", "hardware_fingerprint.fingerprint_sha256", pyJSONString(strings.Repeat("0", 64))},
		{"fingerprint-int", "hardware_fingerprint.fingerprint_sha256", `0`},
		{"nvidia_smi_q_hash-anything", "software_provenance.nvidia_smi_q_hash", `"not a hash"`},
		{"image_digest-int", "engine.image_digest", `1`},
		{"slo_template-padded-unicode", "slo_template", `"\u2003llm.relaxed\u2003"`},
	} {
		s.add("string/bl/"+c.name, "bl", false, pySetRaw(c.path, c.raw))
	}
	// Empty or mistyped strings in the hardware fingerprint.
	for _, c := range []struct{ name, path, raw string }{
		{"dmi_uuid-empty", "hardware_fingerprint.dmi_uuid", `""`},
		{"dmi_uuid-blank", "hardware_fingerprint.dmi_uuid", `" \u2028 "`},
		{"cpu.model-empty", "hardware_fingerprint.cpu.model", `""`},
		{"cpu.microcode-blank", "hardware_fingerprint.cpu.microcode", `"   "`},
		{"bios.version-empty", "hardware_fingerprint.bios.version", `""`},
		{"driver-empty", "hardware_fingerprint.driver", `""`},
		{"cuda-int", "hardware_fingerprint.cuda", `13`},
		{"gpus.0.serial-empty", "hardware_fingerprint.gpus.0.serial", `""`},
		{"gpus.1.vbios-blank", "hardware_fingerprint.gpus.1.vbios", `"\t"`},
		{"gpus.0.serial-int", "hardware_fingerprint.gpus.0.serial", `1655223057573`},
		{"gpus.7.pci_id-lowercase", "hardware_fingerprint.gpus.7.pci_id", `"00000000:c7:00.0"`},
		{"gpus.0.pci_id-lowercase-reorders", "hardware_fingerprint.gpus.0.pci_id", `"00000000:0a:00.0"`},
		{"gpus.0.pci_id-astral", "hardware_fingerprint.gpus.0.pci_id", `"\ud83d\ude00"`},
		{"gpus.1.pci_id-bmp-high", "hardware_fingerprint.gpus.1.pci_id", `"\ufffd"`},
		{"gpus.0.pci_id-non-ascii", "hardware_fingerprint.gpus.0.pci_id", `"\u00e9"`},
	} {
		s.add("hwstring/h1/"+c.name, "h1", true, pySetRaw(c.path, c.raw))
	}
	// GPUs whose pci_id sorts by code point, not by UTF-16 unit.
	s.add("hwstring/h1/gpus-astral-vs-bmp", "h1", true,
		pySet("hardware_fingerprint.gpus.0.pci_id", S("\U0001F600")), pySet("hardware_fingerprint.gpus.1.pci_id", S("\uFFFD")))
	// Two GPUs with the same pci_id: the sort must be stable.
	s.add("hwstring/h1/gpus-duplicate-pci-id", "h1", true,
		pySet("hardware_fingerprint.gpus.1.pci_id", S(pyStrAt(t, bases["h1"], "hardware_fingerprint.gpus.0.pci_id"))))

	// ---- suite_version pattern ----
	for _, c := range []struct{ name, val string }{
		{"rc.1", "1.0.0-rc.1"}, {"two-parts", "1.0"}, {"arabic-indic", "١.٢.٣"}, {"dash-only", "1.0.0-"},
		{"underscore", "1.0.0-rc_1"}, {"leading-zero", "01.0.0"}, {"padded", " 1.0.0 "}, {"newline", "1.0.0\n"},
		{"zwj", "1.0.0-a\u200d"}, {"zwnj", "1.0.0-a\u200c"}, {"circled-A", "1.0.0-\u24b6"}, {"sharp-s", "1.0.0-ß"},
		{"fullwidth-digits", "１.２.３"}, {"space-inside", "1.0.0-a b"}, {"build-metadata", "1.0.0+build"},
		{"greek", "1.0.0-α"}, {"combining-only", "1.0.0-\u0301"}, {"roman-numeral", "1.0.0-\u216b"},
		{"superscript-two", "1.0.0-\u00b2"}, {"ordinal-a", "1.0.0-\u00aa"}, {"underscore-only", "1.0.0-_"},
		{"ypogegrammeni", "1.0.0-\u0345"}, {"emoji", "1.0.0-\U0001F600"}, {"ideographic-zero", "1.0.0-\u3007"},
		{"devanagari-digits", "\u0967.\u0968.\u0969"}, {"four-parts", "1.0.0.0"}, {"v-prefix", "v1.0.0"},
		{"dots", "1.0.0-.."}, {"nel-padded", "\u00851.0.0\u0085"}, {"thai-digits", "\u0e51.\u0e52.\u0e53"},
		{"mathematical-bold-digit", "\U0001D7CF.0.0"}, {"modifier-letter", "1.0.0-\u02b0"},
		{"enclosed-alnum-so", "1.0.0-\U0001F130"}, {"middle-dot", "1.0.0-a\u00b7b"}, {"connector-tie", "1.0.0-a\u2040b"},
	} {
		s.add("suite_version/bl/"+c.name, "bl", false, pySet("suite_version", S(c.val)))
	}

	// ---- envelope_version ----
	for _, c := range []struct{ name, raw string }{
		{"padded", `" v1 "`}, {"tab", `"v1\t"`}, {"upper", `"V1"`}, {"v2", `"v2"`}, {"zwsp", `"v1\u200b"`},
		{"null", `null`}, {"int", `1`}, {"empty", `""`},
	} {
		s.add("envelope_version/bl/"+c.name, "bl", false, pySetRaw("envelope_version", c.raw))
	}

	// ---- timestamps ----
	for _, c := range []struct{ name, raw string }{
		{"space-nanos-utc-offset", `"2026-05-18 10:33:10.641017999+00:00"`}, {"no-seconds-Z", `"2026-05-18T10:33Z"`},
		{"minus-zero-offset", `"2026-05-18T10:33:10-00:00"`}, {"no-zone", `"2026-05-18T10:33:10"`},
		{"half-second-plus-0530", `"2026-05-18T10:33:10.5+05:30"`}, {"lowercase-t-z", `"2026-05-18t10:33:10z"`},
		{"offset-no-colon", `"2026-05-18T10:33:10+0530"`}, {"comma-fraction", `"2026-05-18T10:33:10,5Z"`},
		{"seven-fraction-digits", `"2026-05-18T10:33:10.9999999Z"`}, {"leap-second", `"2026-05-18T23:59:60Z"`},
		{"hour-24", `"2026-05-18T24:00:00Z"`}, {"feb-29-2026", `"2026-02-29T00:00:00Z"`},
		{"feb-29-2024", `"2024-02-29T00:00:00Z"`}, {"offset-24h", `"2026-05-18T10:33:10+24:00"`},
		{"offset-plus-2359", `"2026-05-18T10:33:10+23:59"`}, {"offset-minus-2359", `"2026-05-18T10:33:10-23:59"`},
		{"unix-int", `1747564390`}, {"unix-float", `1747564390.5`}, {"unix-negative", `-1`},
		{"unix-int-str", `"1747564390"`}, {"unix-float-str", `"1747564390.5"`}, {"unix-millis-str", `"1747564390000"`},
		{"date-only", `"2026-05-18"`}, {"date-only-Z", `"2026-05-18Z"`}, {"dot-no-digits", `"2026-05-18T10:33:10.Z"`},
		{"offset-hours-only", `"2026-05-18T10:33:10+05"`}, {"hour-only", `"2026-05-18T10Z"`},
		{"twelve-fraction-digits", `"2026-05-18T10:33:10.123456789012Z"`}, {"padded", `" 2026-05-18T10:33:10Z "`},
		{"trailing-newline", `"2026-05-18T10:33:10Z\n"`}, {"space-before-zone", `"2026-05-18T10:33:10 Z"`},
		{"year-1", `"0001-01-01T00:00:00Z"`}, {"year-9999", `"9999-12-31T23:59:59Z"`}, {"year-0", `"0000-01-01T00:00:00Z"`},
		{"zero-fraction", `"2026-05-18T10:33:10.000000Z"`}, {"one-microsecond", `"2026-05-18T10:33:10.000001Z"`},
		{"sub-microsecond", `"2026-05-18T10:33:10.0000009Z"`}, {"tenth", `"2026-05-18T10:33:10.1Z"`},
		{"offset-plus-0030", `"2026-05-18T10:33:10+00:30"`}, {"offset-minus-0545", `"2026-05-18T10:33:10-05:45"`},
		{"month-13", `"2026-13-01T00:00:00Z"`}, {"minute-60", `"2026-05-18T10:60:00Z"`},
		{"one-digit-month", `"2026-5-18T10:33:10Z"`}, {"UTC-suffix", `"2026-05-18T10:33:10UTC"`}, {"empty", `""`},
		{"bool", `true`}, {"null", `null`}, {"same-instant-plus-0000", `"2026-05-18T10:33:10.641017+00:00"`},
		{"many-fraction-digits", `"2026-05-18T10:33:10.99999999999999999999Z"`}, {"double-zone", `"2026-05-18T10:33:10+00:00Z"`},
		{"half-second-minus-zero", `"2026-05-18T10:33:10.5-00:00"`}, {"offset-plus-0000-no-colon", `"2026-05-18T10:33:10+0000"`},
		{"offset-seconds", `"2026-05-18T10:33:10+05:30:15"`}, {"offset-minute-60", `"2026-05-18T10:33:10+05:60"`},
		{"nbsp-padded", `"\u00a02026-05-18T10:33:10Z"`}, {"slash-date", `"2026/05/18T10:33:10Z"`},
		{"arabic-indic-digits", `"\u0662\u0660\u0662\u0666-05-18T10:33:10Z"`}, {"day-00", `"2026-05-00T10:33:10Z"`},
	} {
		s.add("timestamp/bl/"+c.name, "bl", false, pySetRaw("timestamp", c.raw))
	}
	for _, c := range []struct{ name, raw string }{
		{"unix-int", `1781328551`}, {"no-zone", `"2026-06-13T05:29:11.0225"`}, {"plus-0200", `"2026-06-13T07:29:11.0225+02:00"`},
		{"nanos-Z", `"2026-06-13T05:29:11.022500999Z"`},
	} {
		s.add("timestamp/h1/"+c.name, "h1", false, pySetRaw("timestamp", c.raw))
	}

	// ---- metrics ----
	metricForms := []struct{ name, raw string }{
		{"612", `612`}, {"612.0", `612.0`}, {"true", `true`}, {"false", `false`}, {"padded-str", `" x "`},
		{"null", `null`}, {"numeric-str", `"1.5"`}, {"padded-numeric-str", `" 1.5 "`}, {"empty-str", `""`},
		{"unicode-padded-str", `"\u00a0x\u2028"`}, {"1e30-int", `1000000000000000000000000000000`},
		{"1e400", `1e400`}, {"NaN", `NaN`}, {"Infinity", `Infinity`}, {"-Infinity", `-Infinity`},
		{"neg-zero-int", `-0`}, {"neg-zero-float", `-0.0`}, {"1E2", `1E2`}, {"1e-400", `1e-400`},
		{"5e-324", `5e-324`}, {"max-float", `1.7976931348623157e308`}, {"array", `[]`}, {"object", `{}`},
		{"4300-digits", nines}, {"4301-digits", "9" + nines}, {"lone-surrogate-str", `"\ud800"`},
		{"1e16", `1e16`}, {"9999999999999998.0", `9999999999999998.0`}, {"int-18-digits", `123456789012345678`},
		{"1.2345678901234568e+17", `1.2345678901234568e+17`}, {"0.1+0.2", `0.30000000000000004`},
		{"1e-5", `0.00001`}, {"2.5e-324", `2.5e-324`}, {"int-str", `"612"`}, {"bool-str", `"true"`},
	}
	for _, f := range metricForms {
		s.add("metrics/bl/ttft_p50_ms="+f.name, "bl", false, pySetRaw("metrics.ttft_p50_ms", f.raw))
	}
	for _, f := range []string{"612", "612.0", "true", "padded-str", "null", "1e400", "NaN", "1e30-int", "neg-zero-int", "1E2"} {
		for _, mf := range metricForms {
			if mf.name == f {
				s.add("metrics/h1/compliance_rate="+f, "h1", false, pySetRaw("metrics.compliance_rate", mf.raw))
			}
		}
	}
	for _, c := range []struct{ name, key, raw string }{
		{"padded", " padded ", `1`}, {"tab-newline", "\tk\n", `1.0`}, {"nbsp-ideographic", "\u00a0k\u3000", `"v"`},
		{"empty", "", `1`}, {"blank", "  ", `2`}, {"cyrillic", "ключ", `2`}, {"astral", "\U0001F600", `3.5`},
		{"zwsp", "\u200bk", `1`}, {"nel", "\u0085k\u0085", `1`}, {"control", "k\u007f\u0001", `1`},
		{"info-separator", "\x1ck", `1`},
	} {
		s.add("metric-key/bl/"+c.name, "bl", false, pyAddRaw([]string{"metrics", c.key}, c.raw))
	}
	// Keys equal after stripping: pydantic's dict keeps the last value.
	s.add("metric-key/bl/collision-padded-first", "bl", false, pyPrependRaw([]string{"metrics", " ttft_p50_ms "}, `99`))
	s.add("metric-key/bl/collision-padded-last", "bl", false, pyAddRaw([]string{"metrics", " ttft_p50_ms "}, `99`))
	s.add("metric-key/bl/collision-two-padded", "bl", false,
		pyAddRaw([]string{"metrics", " k"}, `1`), pyAddRaw([]string{"metrics", "k "}, `2`))
	s.add("metric-key/h1/only-entry", "h1", false, pySetRaw("metrics", `{" only ":" one "}`))
	s.addText("metric-key/bl/lone-surrogate", "bl", pyReplaceOnce(`"ttft_p99_ms":`, `"\ud800":1,"ttft_p99_ms":`))
	s.add("metrics/bl/empty", "bl", false, pySetRaw("metrics", `{}`))
	s.add("metrics/bl/null", "bl", false, pySetRaw("metrics", `null`))
	s.add("metrics/bl/missing", "bl", false, pyDel("metrics"))
	s.add("metrics/bl/array", "bl", false, pySetRaw("metrics", `[1]`))
	s.add("metrics/bl/nested-object-value", "bl", false, pySetRaw("metrics", `{"a":{"b":1}}`))

	// ---- missing optional fields (defaults are hashed) and missing required ones ----
	for _, c := range []struct {
		base, path string
		fp         bool
	}{
		{"bl", "envelope_version", false}, {"bl", "engine.image_digest", false}, {"bl", "quantization", false},
		{"h1", "quantization", false}, {"bl", "warnings", false}, {"h1", "driver_options", false},
		{"bl", "distributions", false}, {"h1", "slo_template", false}, {"bl", "signature", false},
		{"h1", "software_provenance.image_digest", false}, {"bl", "software_provenance.nvidia_smi_q_hash", false},
		{"h1", "quantization.method", false}, {"bl", "hardware_fingerprint.nccl", false},
		{"h1", "hardware_fingerprint.memory.ecc", false}, {"bl", "hardware_fingerprint.gpus", true},
		{"h1", "hardware_fingerprint.numa", true}, {"bl", "hardware_fingerprint.driver", true},
		{"h1", "hardware_fingerprint.cuda", true}, {"bl", "signature.bundle", false},
		{"h1", "signature.rekor_log_index", false},
		// required
		{"bl", "suite_id", false}, {"h1", "suite_version", false}, {"bl", "run_id", false}, {"h1", "timestamp", false},
		{"bl", "model", false}, {"h1", "model.revision", false}, {"bl", "engine", false}, {"h1", "engine.config_hash", false},
		{"bl", "hardware_fingerprint", false}, {"h1", "hardware_fingerprint.fingerprint_sha256", false},
		{"bl", "hardware_fingerprint.cpu", false}, {"h1", "hardware_fingerprint.cpu.microcode", true},
		{"bl", "hardware_fingerprint.bios.version", true}, {"h1", "hardware_fingerprint.bios.above_4g", true},
		{"bl", "hardware_fingerprint.memory.channels", true}, {"h1", "hardware_fingerprint.dmi_uuid", true},
		{"bl", "software_provenance", false}, {"h1", "software_provenance.git_commit", false}, {"bl", "dataset", false},
		{"h1", "dataset.id", false}, {"bl", "seed", false}, {"h1", "quantization.format", false},
		{"bl", "signature.method", false}, {"h1", "hardware_fingerprint.gpus.0.vbios", true},
	} {
		s.add("missing/"+c.base+"/"+c.path, c.base, c.fp, pyDel(c.path))
	}

	// ---- explicit nulls ----
	for _, c := range []struct {
		base, path string
		fp         bool
	}{
		{"bl", "envelope_version", false}, {"h1", "quantization", false}, {"bl", "signature", false},
		{"h1", "driver_options", false}, {"bl", "distributions", false}, {"h1", "slo_template", false},
		{"bl", "warnings", false}, {"h1", "engine.image_digest", false}, {"bl", "hardware_fingerprint.nccl", true},
		{"h1", "hardware_fingerprint.numa", true}, {"bl", "hardware_fingerprint.gpus", true},
		{"h1", "hardware_fingerprint.memory.ecc", true}, {"h1", "quantization.method", false}, {"bl", "seed", false},
		{"h1", "model", false}, {"bl", "software_provenance.image_digest", false}, {"h1", "run_id", false},
		{"bl", "hardware_fingerprint.cpu", true}, {"h1", "hardware_fingerprint.gpus.0", true},
		{"bl", "signature.rekor_log_index", false}, {"h1", "dataset", false}, {"bl", "model.revision", false},
	} {
		s.add("null/"+c.base+"/"+c.path, c.base, c.fp, pySet(c.path, N))
	}

	// ---- unknown fields at every level (kept and hashed, never stripped) ----
	extraValues := []string{
		`{"b":[1,2.0,"  s  "],"a":null}`, `" padded "`, `1E2`, `-0`, `"\u2028\u007f</>&"`,
		`123456789012345678901234567890`, `[true,false,null]`, `{"\u00e9":"\ud83d\ude00"," k ":" v "}`,
		`1e-7`, `"\/\b\f\n\r\t\u0000"`, `-0.0`, `{}`,
	}
	extraKeys := []string{"x_extra", " spaced key ", "Seed", "\u00e9", "signature", "\U0001F600", "", "z\u007f"}
	extraLevels := []struct{ base, path string }{
		{"bl", ""}, {"h1", ""}, {"bl", "model"}, {"h1", "engine"}, {"h1", "quantization"},
		{"bl", "hardware_fingerprint"}, {"h1", "hardware_fingerprint.gpus.0"}, {"bl", "hardware_fingerprint.cpu"},
		{"h1", "hardware_fingerprint.memory"}, {"bl", "hardware_fingerprint.bios"}, {"h1", "software_provenance"},
		{"bl", "dataset"}, {"h1", "signature"},
	}
	for i, lvl := range extraLevels {
		for k := range 2 {
			key := extraKeys[(i+k*3)%len(extraKeys)]
			raw := extraValues[(i*2+k)%len(extraValues)]
			path := []string{key}
			if lvl.path != "" {
				path = append(pyPath(lvl.path), key)
			}
			s.add(fmt.Sprintf("extra/%s/%s/%d", lvl.base, lvl.path, k), lvl.base, false, pyAddRaw(path, raw))
		}
	}
	s.add("extra/bl/many-top-level", "bl", false,
		pyAddRaw([]string{"aaa"}, `1`), pyAddRaw([]string{"zzz"}, `2.5`), pyPrependRaw([]string{"mmm"}, `"m"`))
	s.add("extra/bl/model.signature-is-kept", "bl", false, pyAddRaw([]string{"model", "signature"}, `"keep me"`))

	// ---- free-form objects: driver_options and numa ----
	for _, c := range []struct{ name, raw string }{
		{"padded-key-and-value", `{" k ":" v "}`}, {"padded-value-only", `{"k":" v ","n":{" m ":" 1 "}}`},
		{"padded-key-collision", `{"k":1," k ":2}`}, {"neg-zero", `{"a":-0}`}, {"1E2", `{"a":1E2}`},
		{"1e16", `{"a":1e16}`}, {"big-int", `{"a":-123456789012345678901234567890}`},
		{"controls", `{"a":"\u007f\u0000\u001f"}`}, {"html", `{"a":"</script>&"}`}, {"astral", `{"\ud83d\ude00":"\ud83d\ude00"}`},
		{"escaped-slash", `{"a":"\/"}`}, {"underflow", `{"a":1e-400}`}, {"tiny", `{"a":2.5e-324}`},
		{"nested-key-padded", `{"a":{" b ":[{" c ":1}]}}`}, {"tab-key", `{"\tk":1}`}, {"nbsp-key", `{"\u00a0k":1}`},
		{"depth-200", `{"a":` + pyNested(200) + `}`}, {"depth-253", `{"a":` + pyNested(253) + `}`},
		{"depth-254", `{"a":` + pyNested(254) + `}`}, {"depth-255", `{"a":` + pyNested(255) + `}`},
		{"depth-256", `{"a":` + pyNested(256) + `}`}, {"depth-300", `{"a":` + pyNested(300) + `}`},
		{"depth-509", `{"a":` + pyNested(509) + `}`}, {"depth-600", `{"a":` + pyNested(600) + `}`},
		{"array", `[]`}, {"string", `"x"`}, {"sorted-keys-utf8", `{"\uffff":1,"\ud800\udc00":2,"a":3,"\u00e9":4}`},
	} {
		s.add("driver_options/h1/"+c.name, "h1", false, pySetRaw("driver_options", c.raw))
	}
	for _, c := range []struct{ name, raw string }{
		{"empty", `{}`}, {"padded-key", `{" nodes ":[]}`}, {"padded-value", `{"nodes":" v "}`},
		{"nested-key-padded", `{"nodes":[{" id ":0}]}`}, {"1E2", `{"n":1E2}`}, {"neg-zero", `{"n":-0}`},
		{"array", `[]`}, {"key-collision", `{"k":1," k":2}`},
	} {
		s.add("numa/bl/"+c.name, "bl", true, pySetRaw("hardware_fingerprint.numa", c.raw))
	}

	// ---- distributions and warnings ----
	for _, c := range []struct{ name, raw string }{
		{"padded-value", `{"a":" v "}`}, {"padded-key", `{" k ":"v"}`}, {"int-value", `{"k":1}`},
		{"null-value", `{"k":null}`}, {"collision", `{"k":"1"," k ":"2"}`}, {"unicode-padding", `{"\u00a0k\u00a0":"\u2028v"}`},
		{"bool-value", `{"k":true}`}, {"array", `["a"]`}, {"zwsp", `{"\u200bk":"v\u200b"}`},
	} {
		s.add("distributions/bl/"+c.name, "bl", false, pySetRaw("distributions", c.raw))
	}
	for _, c := range []struct{ name, raw string }{
		{"padded", `[" a ","\tb\n"]`}, {"int", `[1]`}, {"null-item", `[null]`}, {"zwsp", `["\u200bx"]`},
		{"string", `"abc"`}, {"nested", `[["a"]]`}, {"unicode-padding", `["\u3000x\u2029",""]`}, {"object", `{"a":"b"}`},
	} {
		s.add("warnings/h1/"+c.name, "h1", false, pySetRaw("warnings", c.raw))
	}

	// ---- quantization ----
	s.add("quantization/h1/format-padded", "h1", false, pySet("quantization.format", S(" bf16 ")))
	s.add("quantization/h1/format-empty", "h1", false, pySet("quantization.format", S("")))
	s.add("quantization/h1/empty-object", "h1", false, pySetRaw("quantization", `{}`))
	s.add("quantization/h1/string", "h1", false, pySetRaw("quantization", `"bf16"`))
	s.add("quantization/h1/format-int", "h1", false, pySetRaw("quantization.format", `16`))
	s.add("quantization/bl/object-without-method", "bl", false, pySetRaw("quantization", `{"format":"fp8"}`))
	s.add("quantization/bl/object-with-extra", "bl", false, pySetRaw("quantization", `{"format":"fp8","bits":8}`))

	// ---- signature (excluded from the hash, but validated) ----
	for _, c := range []struct{ name, raw string }{
		{"method-padded", `" dev-key "`}, {"method-upper", `"DEV-KEY"`}, {"method-keyless", `"sigstore-cosign"`},
		{"method-unknown", `"gpg"`}, {"method-null", `null`},
	} {
		s.add("signature/bl/"+c.name, "bl", false, pySetRaw("signature.method", c.raw))
	}
	s.add("signature/bl/array", "bl", false, pySetRaw("signature", `[]`))
	s.add("signature/bl/rekor-str", "bl", false, pySetRaw("signature.rekor_log_index", `"5"`))
	s.add("signature/bl/rekor-float", "bl", false, pySetRaw("signature.rekor_log_index", `5.0`))
	s.add("signature/bl/rekor-2p63", "bl", false, pySetRaw("signature.rekor_log_index", `9223372036854775808`))

	// ---- GPUs ----
	gpus, _ := bases["h1"].Get("hardware_fingerprint")
	gpus, _ = gpus.Get("gpus")
	reversed := append([]canonjson.Value(nil), gpus.Elems()...)
	for i, j := 0, len(reversed)-1; i < j; i, j = i+1, j-1 {
		reversed[i], reversed[j] = reversed[j], reversed[i]
	}
	// The fingerprint sorts GPUs by pci_id, so the order in the list does not
	// change it (no recomputation), but the content hash keeps the order.
	s.add("gpus/h1/reversed", "h1", false, pySet("hardware_fingerprint.gpus", canonjson.ArrayValue(reversed)))
	s.add("gpus/h1/empty", "h1", true, pySetRaw("hardware_fingerprint.gpus", `[]`))
	s.add("gpus/h1/object", "h1", true, pySetRaw("hardware_fingerprint.gpus", `{}`))
	s.add("gpus/h1/string-element", "h1", true, pySetRaw("hardware_fingerprint.gpus.0", `"gpu"`))
	s.add("gpus/h1/extra-in-gpu", "h1", false, pyAddRaw([]string{"hardware_fingerprint", "gpus", "0", "uuid"}, `" GPU-1 "`))

	// ---- hardware changes left unfixed: the stored fingerprint is stale ----
	for _, c := range []struct{ name, path, raw string }{
		{"channels", "hardware_fingerprint.memory.channels", `2`},
		{"speed_mts-str", "hardware_fingerprint.memory.speed_mts", `"4800"`},
		{"resizable_bar", "hardware_fingerprint.bios.resizable_bar", `true`},
		{"ecc-yes", "hardware_fingerprint.memory.ecc", `"yes"`},
		{"cpu.model", "hardware_fingerprint.cpu.model", `"X"`},
		{"driver", "hardware_fingerprint.driver", `"1.2.3"`},
		{"numa-empty", "hardware_fingerprint.numa", `{}`},
		{"nccl", "hardware_fingerprint.nccl", `"2.21.5"`},
		{"gpus.0.serial", "hardware_fingerprint.gpus.0.serial", `"123"`},
		{"dmi_uuid", "hardware_fingerprint.dmi_uuid", `"4c4c4544"`},
		{"zwsp-in-cuda", "hardware_fingerprint.cuda", `"13.0\u200b"`},
	} {
		s.add("stale-fingerprint/h1/"+c.name, "h1", false, pySetRaw(c.path, c.raw))
	}
	s.add("stale-fingerprint/bl/gpus-empty", "bl", false, pySetRaw("hardware_fingerprint.gpus", `[]`))
	s.add("stale-fingerprint/bl/numa-padded-value", "bl", false, pySetRaw("hardware_fingerprint.numa", `{"nodes":" x "}`))

	// ---- two fields at once ----
	s.add("combo/bl/sloppy-writer", "bl", true,
		pyDel("envelope_version"), pyDel("driver_options"), pyDel("warnings"), pyDel("distributions"), pyDel("quantization"),
		pyDel("engine.image_digest"), pyDel("hardware_fingerprint.nccl"), pyDel("hardware_fingerprint.memory.ecc"),
		pySet("suite_id", S("  llm.inference.sharegpt-v3\n\t")), pySet("model.id", S("\u00a0stub/tinyllama-cpu\u3000")),
		pySetRaw("seed", `" 4_2 "`), pySetRaw("hardware_fingerprint.memory.channels", `1.0`),
		pySetRaw("hardware_fingerprint.memory.speed_mts", `"1.0"`), pySetRaw("hardware_fingerprint.bios.above_4g", `"off"`),
		pySetRaw("hardware_fingerprint.bios.resizable_bar", `0`),
		pySetRaw("timestamp", `"2026-05-18 10:33:10.641017999+00:00"`))
	s.add("combo/bl/seed-str-and-model-id-padded", "bl", false, pySetRaw("seed", `"42"`), pySet("model.id", S(" x ")))
	s.add("combo/h1/metric-bool-and-extra", "h1", false, pySetRaw("metrics.ok_rate", `true`), pyAddRaw([]string{"zz"}, `1E2`))
	s.add("combo/h1/channels-and-speed-strings", "h1", true,
		pySetRaw("hardware_fingerprint.memory.channels", `"8"`), pySetRaw("hardware_fingerprint.memory.speed_mts", `"4_800"`))
	s.add("combo/bl/timestamp-offset-and-no-version", "bl", false,
		pySetRaw("timestamp", `"2026-05-18T12:33:10.641017+02:00"`), pyDel("envelope_version"))
	s.add("combo/h1/ecc-and-bar-strings", "h1", true,
		pySetRaw("hardware_fingerprint.memory.ecc", `"on"`), pySetRaw("hardware_fingerprint.bios.resizable_bar", `"Yes"`))
	s.add("combo/bl/quantization-and-warnings", "bl", false,
		pySetRaw("quantization", `{"format":" fp8 ","method":"\tawq\n"}`), pySetRaw("warnings", `[" w1 "]`))
	s.add("combo/h1/revision-41-and-seed-fraction", "h1", false,
		pySet("model.revision", S(strings.Repeat("r", 41))), pySetRaw("seed", `1.5`))

	// ---- whole-document lexical cases ----
	s.addText("doc/duplicate-top-level-key", "bl", pyReplaceOnce(`"seed":42,`, `"seed":41,"seed":42,`))
	s.addText("doc/duplicate-key-in-model", "bl", pyReplaceOnce(`"provider":"vllm"`, `"provider":"x","provider":"vllm"`))
	s.addText("doc/duplicate-metric-key", "bl", pyReplaceOnce(`"ttft_p99_ms":`, `"ttft_p99_ms":1,"ttft_p99_ms":`))
	s.addText("doc/duplicate-key-in-numa", "bl", pyReplaceOnce(`"memory_mb":`, `"memory_mb":1,"memory_mb":`))
	s.add("doc/duplicate-key-in-extra", "bl", false, pyAddRaw([]string{"x"}, `{"a":1,"a":2}`))
	s.add("doc/lone-high-surrogate-in-extra", "bl", false, pyAddRaw([]string{"x"}, `"\ud800"`))
	s.add("doc/lone-low-surrogate-in-extra", "bl", false, pyAddRaw([]string{"x"}, `"a\udc00b"`))
	s.add("doc/reversed-surrogate-pair-in-extra", "bl", false, pyAddRaw([]string{"x"}, `"\ude00\ud83d"`))
	s.add("doc/lone-surrogate-in-driver-options", "h1", false, pySetRaw("driver_options", `{"k":"\udfff"}`))
	s.addText("doc/lone-surrogate-key-in-extra", "bl", pyReplaceOnce(`"seed":42,`, `"seed":42,"\ud800":1,`))
	s.add("doc/lone-surrogate-in-numa", "bl", true, pySetRaw("hardware_fingerprint.numa", `{"k":"\ud800"}`))
	s.add("doc/lone-surrogate-in-nested-model-ex", "bl", false, pyAddRaw([]string{"dataset", "note"}, `"\ud800"`))
	s.add("doc/lone-surrogate-in-suite_id", "bl", false, pySetRaw("suite_id", `"\ud800"`))
	s.add("doc/lone-surrogate-in-gpu-serial", "h1", true, pySetRaw("hardware_fingerprint.gpus.0.serial", `"\udbff"`))
	s.add("doc/valid-surrogate-pair-in-model.id", "bl", false, pySetRaw("model.id", `"\ud83d\ude00"`))
	s.add("doc/nan-in-extra", "bl", false, pyAddRaw([]string{"x"}, `NaN`))
	s.add("doc/infinity-in-driver-options", "h1", false, pySetRaw("driver_options", `{"a":Infinity}`))
	s.add("doc/overflow-float-in-numa", "bl", true, pySetRaw("hardware_fingerprint.numa", `{"a":1e309}`))
	s.add("doc/negative-overflow-float-in-ext", "h1", false, pyAddRaw([]string{"engine", "x"}, `-1e999`))
	s.addText("doc/bom-prefix", "bl", func(s string) string { return "\ufeff" + s })
	s.addText("doc/trailing-garbage", "bl", func(s string) string { return s + "x" })
	s.addText("doc/trailing-whitespace", "bl", func(s string) string { return s + " \n\t\r" })
	s.addText("doc/top-level-array", "bl", func(s string) string { return "[" + s + "]" })
	s.addText("doc/empty-object", "bl", func(string) string { return "{}" })
	s.addText("doc/trailing-comma", "bl", pyReplaceOnce(`"seed":42,`, `"seed":42,,`))
	s.addText("doc/single-quotes", "bl", pyReplaceOnce(`"seed":42`, `'seed':42`))
	s.addText("doc/pretty-printed", "bl", pyReplaceOnce(`"seed":42,`, "\n  \"seed\" :\t42 ,\r\n"))
	s.add("doc/larger-than-1MiB", "h1", false, pySetRaw("driver_options", `{"blob":"`+strings.Repeat("x", 1<<20)+`"}`))
	s.add("doc/just-under-1MiB", "h1", false, pySetRaw("driver_options", `{"blob":"`+strings.Repeat("x", 1<<20-8192)+`"}`))
	return s.list
}

type pyResult struct {
	ID    int    `json:"id"`
	Hash  string `json:"hash"`
	Body  string `json:"body"`
	FP    string `json:"fp"`
	Error string `json:"error"`
}

// runPydantic sends every variant to one Python process.
func runPydantic(t *testing.T, docs [][]byte, fix []bool) []pyResult {
	t.Helper()
	var in bytes.Buffer
	enc := json.NewEncoder(&in)
	for i, doc := range docs {
		if err := enc.Encode(map[string]any{"id": i, "doc": hex.EncodeToString(doc), "fix": fix[i]}); err != nil {
			t.Fatal(err)
		}
	}
	script := filepath.Join(t.TempDir(), "pydantic_oracle.py")
	if err := os.WriteFile(script, []byte(pydanticOracle), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(envelopetest.Python(t), script)
	cmd.Stdin = &in
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("pydantic oracle failed: %v\n%s", err, stderr.String())
	}
	lines := bytes.Split(bytes.TrimRight(out, "\n"), []byte("\n"))
	if len(lines) != len(docs) {
		t.Fatalf("pydantic oracle answered %d cases of %d\n%s", len(lines), len(docs), stderr.String())
	}
	results := make([]pyResult, len(docs))
	for i, line := range lines {
		if err := json.Unmarshal(line, &results[i]); err != nil || results[i].ID != i {
			t.Fatalf("pydantic oracle line %d: %v: %.200s", i, err, line)
		}
	}
	return results
}

// onlyStaleFingerprint reports whether err is nothing but a fingerprint
// mismatch, i.e. Go accepted every field of the hardware fingerprint.
func onlyStaleFingerprint(err error) bool {
	var ve *envelope.ValidationError
	return errors.As(err, &ve) && len(ve.Errors) == 1 &&
		ve.Errors[0].Path == "hardware_fingerprint.fingerprint_sha256" &&
		strings.Contains(ve.Errors[0].Msg, "does not match")
}

func pyFirstDifference(a, b string) string {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	lo := max(0, i-80)
	return fmt.Sprintf("at byte %d:\n      go: …%s…\n  python: …%s…", i, a[lo:min(len(a), i+80)], b[lo:min(len(b), i+80)])
}

func pyTruncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// TestNormalisationMatchesPydantic checks Decode + ContentHash against an
// independent pydantic v2 transcription of the spec on a few hundred lax
// variants of the reference fixtures: equal hashes when both accept, and
// agreement on rejection except for the deliberate strictness listed above.
func TestNormalisationMatchesPydantic(t *testing.T) {
	dir := envelopetest.Dir(t)
	bases := map[string]canonjson.Value{}
	oldFP := map[string]string{}
	for name, rel := range map[string]string{
		"bl": "dot-bench/baseline.json",
		"h1": "validation-runs/2026-06-13-llm-h100/c1-79d354b13545.json",
	} {
		data, err := os.ReadFile(filepath.Join(dir, rel))
		if err != nil {
			t.Fatal(err)
		}
		if bases[name], err = canonjson.Parse(data); err != nil {
			t.Fatal(err)
		}
		oldFP[name] = pyStrAt(t, bases[name], "hardware_fingerprint.fingerprint_sha256")
	}

	variants := pydanticVariants(t, bases)
	docs := make([][]byte, len(variants))
	fix := make([]bool, len(variants))
	for i := range variants {
		doc, err := variants[i].build(bases)
		if err != nil {
			t.Fatalf("%s: %v", variants[i].name, err)
		}
		docs[i], fix[i] = doc, variants[i].fixFP
	}
	results := runPydantic(t, docs, fix)

	used := map[string]bool{}
	var accepted, rejected, deliberate, failures int
	for i, v := range variants {
		py := results[i]
		doc := docs[i]
		if v.fixFP && py.FP != "" {
			old := []byte(`"` + oldFP[v.base] + `"`)
			if !bytes.Contains(doc, old) {
				t.Fatalf("%s: the stored fingerprint_sha256 is not in the document, cannot replace it", v.name)
			}
			doc = bytes.Replace(doc, old, []byte(`"`+py.FP+`"`), 1)
		}
		var goHash, goBody string
		parsed, goErr := canonjson.Parse(doc)
		if goErr == nil {
			var env *envelope.Envelope
			if env, goErr = envelope.Decode(parsed); goErr == nil {
				goHash, goBody = env.ContentHash(), string(env.CanonicalBody())
			}
		}
		pyErr := py.Error
		reason, isDeliberate := deliberateStrictness[v.name]
		if isDeliberate {
			used[v.name] = true
		}
		fail := func(format string, args ...any) {
			failures++
			t.Errorf("%s: %s", v.name, fmt.Sprintf(format, args...))
		}
		switch {
		case goErr == nil && pyErr == "":
			if isDeliberate {
				fail("listed as deliberate strictness (%s) but both accept", reason)
			} else if goHash != py.Hash {
				fail("both accept, hashes differ: go %s, pydantic %s; canonical bodies differ %s",
					goHash, py.Hash, pyFirstDifference(goBody, py.Body))
			} else if v.want != "" && goHash != v.want {
				fail("both give %s, the reference recorded %s", goHash, v.want)
			} else {
				accepted++
			}
		case goErr != nil && pyErr != "":
			if isDeliberate {
				fail("listed as deliberate strictness (%s) but pydantic rejects it too: %s", reason, pyErr)
			} else if v.fixFP && py.FP == "" && onlyStaleFingerprint(goErr) {
				// pydantic rejected a field of the hardware fingerprint, so it
				// could not recompute fingerprint_sha256; Go accepted every
				// field and failed only on the stale fingerprint.
				fail("Go accepts the hardware fingerprint fields that pydantic rejects (%s); Go failed only on the stale fingerprint", pyErr)
			} else {
				rejected++
			}
		case goErr != nil:
			if isDeliberate {
				deliberate++
				t.Logf("%s: deliberate strictness (%s): Go rejects (%s), pydantic accepts", v.name, reason, pyTruncate(goErr.Error(), 160))
			} else {
				fail("Go rejects what pydantic accepts: Go: %s", pyTruncate(goErr.Error(), 300))
			}
		default:
			if isDeliberate {
				fail("listed as deliberate strictness (%s) but Go accepts and pydantic rejects: %s", reason, pyErr)
			} else {
				fail("Go accepts what pydantic rejects: pydantic: %s", pyTruncate(pyErr, 300))
			}
		}
	}
	for name := range deliberateStrictness {
		if !used[name] {
			t.Errorf("deliberateStrictness lists %q, which is not a variant", name)
		}
	}
	t.Logf("%d variants: %d accepted by both with equal hashes, %d rejected by both, %d deliberate strictness (Go rejects, pydantic accepts), %d disagreements",
		len(variants), accepted, rejected, deliberate, failures)
}
