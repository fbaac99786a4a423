package envelope_test

import (
	"errors"
	"math/big"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/inferencebench/bench/pkg/envelope"
	"github.com/inferencebench/bench/pkg/envelope/canonjson"
	"github.com/inferencebench/bench/pkg/envelope/envelopetest"
)

func TestFixturesHashLikeTheReference(t *testing.T) {
	for _, fx := range envelopetest.All(t) {
		env, err := envelope.ReadFile(fx.Path)
		if err != nil {
			t.Errorf("%s: %v", fx.Rel, err)
			continue
		}
		if got := env.ContentHash(); got != fx.ContentHash {
			t.Errorf("%s: content hash %s, reference says %s", fx.Rel, got, fx.ContentHash)
		}
	}
}

func TestFixturesRoundTripUnchanged(t *testing.T) {
	// Decoding and re-encoding a normalised envelope must give the same
	// JSON value: nothing dropped, added, retyped or reordered.
	for _, fx := range envelopetest.All(t) {
		data, err := os.ReadFile(fx.Path)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := canonjson.Parse(data)
		if err != nil {
			t.Fatal(err)
		}
		env, err := envelope.Decode(raw)
		if err != nil {
			t.Fatalf("%s: %v", fx.Rel, err)
		}
		if !canonjson.Equal(raw, env.Value()) {
			t.Errorf("%s: re-encoded envelope differs from the file", fx.Rel)
		}
		again, err := envelope.Parse(env.MarshalIndent())
		if err != nil || again.ContentHash() != fx.ContentHash {
			t.Errorf("%s: MarshalIndent output does not read back to the same hash (err %v)", fx.Rel, err)
		}
	}
}

func loadFixture(t *testing.T, rel string) (*envelope.Envelope, canonjson.Value) {
	t.Helper()
	data, err := os.ReadFile(envelopetest.Dir(t) + "/" + rel)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := canonjson.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	env, err := envelope.Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	return env, raw
}

const baseline = "dot-bench/baseline.json"

func TestNormalisationFillsDefaultsAndStrips(t *testing.T) {
	env, _ := loadFixture(t, baseline)
	want := env.ContentHash()

	// The same envelope written sloppily: defaults omitted, padded strings,
	// lax scalars. The reference normalises it to the same body.
	sloppy := *env
	v := sloppy.Value()
	edit := func(v canonjson.Value, path []string, f func(canonjson.Value) (canonjson.Value, bool)) canonjson.Value {
		return editPath(t, v, path, f)
	}
	remove := func(canonjson.Value) (canonjson.Value, bool) { return canonjson.Value{}, false }
	set := func(nv canonjson.Value) func(canonjson.Value) (canonjson.Value, bool) {
		return func(canonjson.Value) (canonjson.Value, bool) { return nv, true }
	}
	v = edit(v, []string{"envelope_version"}, remove)
	v = edit(v, []string{"driver_options"}, remove)
	v = edit(v, []string{"warnings"}, remove)
	v = edit(v, []string{"distributions"}, remove)
	v = edit(v, []string{"signature"}, remove)
	v = edit(v, []string{"quantization"}, remove)
	v = edit(v, []string{"engine", "image_digest"}, remove)
	v = edit(v, []string{"hardware_fingerprint", "nccl"}, remove)
	v = edit(v, []string{"hardware_fingerprint", "memory", "ecc"}, remove)
	v = edit(v, []string{"suite_id"}, set(canonjson.StringValue("  "+env.SuiteID+"\n\t")))
	v = edit(v, []string{"model", "id"}, set(canonjson.StringValue("\u00a0"+env.Model.ID+"\u3000")))
	v = edit(v, []string{"seed"}, set(canonjson.StringValue(" 4_2 ")))
	v = edit(v, []string{"hardware_fingerprint", "memory", "channels"}, set(canonjson.FloatValue(1.0)))
	v = edit(v, []string{"hardware_fingerprint", "memory", "speed_mts"}, set(canonjson.StringValue("1.0")))
	v = edit(v, []string{"hardware_fingerprint", "bios", "above_4g"}, set(canonjson.StringValue("off")))
	v = edit(v, []string{"hardware_fingerprint", "bios", "resizable_bar"}, set(canonjson.IntValue(0)))
	v = edit(v, []string{"timestamp"}, set(canonjson.StringValue("2026-05-18 10:33:10.641017999+00:00")))
	v = edit(v, []string{"metrics", "ttft_p50_ms"}, remove)
	v = edit(v, []string{"metrics"}, func(m canonjson.Value) (canonjson.Value, bool) {
		members := append([]canonjson.Member{{Key: " ttft_p50_ms ", Value: canonjson.FloatValue(20.0)}}, m.Members()...)
		return canonjson.ObjectValue(members), true
	})
	got, err := envelope.Decode(v)
	if err != nil {
		t.Fatal(err)
	}
	if got.ContentHash() != want {
		t.Fatalf("normalised hash %s, want %s\n%s", got.ContentHash(), want, got.CanonicalBody())
	}
	if got.Seed.Cmp(big.NewInt(42)) != 0 || got.Timestamp.Nanosecond() != 641017000 {
		t.Fatalf("seed %v, timestamp %v", got.Seed, got.Timestamp)
	}
}

// editPath rewrites the member at path; f returns the new value, or false to
// delete the member.
func editPath(t *testing.T, v canonjson.Value, path []string, f func(canonjson.Value) (canonjson.Value, bool)) canonjson.Value {
	t.Helper()
	members := append([]canonjson.Member(nil), v.Members()...)
	for i, m := range members {
		if m.Key != path[0] {
			continue
		}
		if len(path) > 1 {
			members[i].Value = editPath(t, m.Value, path[1:], f)
			return canonjson.ObjectValue(members)
		}
		nv, keep := f(m.Value)
		if !keep {
			return canonjson.ObjectValue(append(members[:i], members[i+1:]...))
		}
		members[i].Value = nv
		return canonjson.ObjectValue(members)
	}
	if len(path) == 1 {
		if nv, keep := f(canonjson.Value{}); keep {
			return canonjson.ObjectValue(append(members, canonjson.Member{Key: path[0], Value: nv}))
		}
		return v
	}
	t.Fatalf("no member %q", path[0])
	return v
}

func TestDecodeErrorsNameTheFieldPath(t *testing.T) {
	_, raw := loadFixture(t, "validation-runs/2026-06-13-llm-h100/c1-79d354b13545.json")
	cases := []struct {
		path []string
		val  canonjson.Value
		want string
	}{
		{[]string{"hardware_fingerprint", "gpus"}, gpusWithEmptySerial(t, raw, 2), "hardware_fingerprint.gpus[2].serial: must not be empty"},
		{[]string{"model", "endpoint_hash"}, canonjson.StringValue("ABC"), `model.endpoint_hash: must be 64 lowercase hex characters, not "ABC"`},
		{[]string{"model", "revision"}, canonjson.StringValue("abc"), "model.revision: must be at least 7 characters"},
		{[]string{"suite_version"}, canonjson.StringValue("1.0"), `suite_version: must match ^\d+\.\d+\.\d+(-[\w.]+)?$`},
		{[]string{"seed"}, canonjson.FloatValue(4.5), "seed: must be an integer, not the float 4.5"},
		{[]string{"seed"}, canonjson.StringValue("0x2a"), `seed: must be an integer, not the string "0x2a"`},
		{[]string{"hardware_fingerprint", "memory", "channels"}, canonjson.IntValue(17), "hardware_fingerprint.memory.channels: must be at most 16, not 17"},
		{[]string{"hardware_fingerprint", "bios", "above_4g"}, canonjson.StringValue("maybe"), "hardware_fingerprint.bios.above_4g: must be a boolean"},
		{[]string{"metrics"}, canonjson.ObjectValue([]canonjson.Member{}), "metrics: must contain at least one entry"},
		{[]string{"metrics"}, canonjson.ObjectValue([]canonjson.Member{{Key: "x", Value: canonjson.ArrayValue(nil)}}), `metrics["x"]: must be a number, a string or null, not an array`},
		{[]string{"timestamp"}, canonjson.StringValue("2026-06-13T05:29:11"), "timestamp: invalid timestamp \"2026-06-13T05:29:11\": timestamp has no time zone"},
		{[]string{"envelope_version"}, canonjson.StringValue("v2"), `envelope_version: must be one of "v1", not "v2"`},
		{[]string{"warnings"}, canonjson.ArrayValue([]canonjson.Value{canonjson.IntValue(1)}), "warnings[0]: must be a string, not an integer (1)"},
		{[]string{"dataset"}, canonjson.NullValue(), "dataset: must be an object, not null"},
		{[]string{"driver_options"}, canonjson.ArrayValue(nil), "driver_options: must be an object, not an array"},
		{[]string{"hardware_fingerprint", "fingerprint_sha256"}, canonjson.StringValue(strings.Repeat("0", 64)), "hardware_fingerprint.fingerprint_sha256: does not match the fingerprint fields"},
	}
	for _, c := range cases {
		v := editPath(t, raw, c.path, func(canonjson.Value) (canonjson.Value, bool) { return c.val, true })
		_, err := envelope.Decode(v)
		if err == nil {
			t.Errorf("%s: accepted", strings.Join(c.path, "."))
			continue
		}
		if !errors.Is(err, envelope.ErrInvalid) {
			t.Errorf("%s: error %v does not match ErrInvalid", strings.Join(c.path, "."), err)
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %q, want it to contain %q", strings.Join(c.path, "."), err, c.want)
		}
	}

	// A required field that is missing.
	v := editPath(t, raw, []string{"dataset", "hash"}, func(canonjson.Value) (canonjson.Value, bool) { return canonjson.Value{}, false })
	if _, err := envelope.Decode(v); err == nil || err.Error() != "dataset.hash: is required" {
		t.Errorf("missing dataset.hash: error %v", err)
	}
}

func gpusWithEmptySerial(t *testing.T, raw canonjson.Value, idx int) canonjson.Value {
	hw, _ := raw.Get("hardware_fingerprint")
	gpus, _ := hw.Get("gpus")
	elems := append([]canonjson.Value(nil), gpus.Elems()...)
	elems[idx] = editPath(t, elems[idx], []string{"serial"}, func(canonjson.Value) (canonjson.Value, bool) {
		return canonjson.StringValue("   "), true
	})
	return canonjson.ArrayValue(elems)
}

func TestUnknownFieldsAreKeptAndHashed(t *testing.T) {
	env, raw := loadFixture(t, baseline)
	withExtra := editPath(t, raw, []string{"engine"}, func(e canonjson.Value) (canonjson.Value, bool) {
		return canonjson.ObjectValue(append(append([]canonjson.Member(nil), e.Members()...),
			canonjson.Member{Key: "tensor_parallel", Value: canonjson.IntValue(8)})), true
	})
	got, err := envelope.Decode(withExtra)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Engine.Extra) != 1 || got.Engine.Extra[0].Key != "tensor_parallel" {
		t.Fatalf("engine extra = %v", got.Engine.Extra)
	}
	if got.ContentHash() == env.ContentHash() {
		t.Fatal("an unknown field did not change the content hash")
	}
	if !strings.Contains(string(got.CanonicalBody()), `"tensor_parallel":8`) {
		t.Fatal("unknown field missing from the canonical body")
	}
}

func TestTimestampFormatting(t *testing.T) {
	cases := map[string]string{
		"2026-05-18T10:33:10.641017Z":        "2026-05-18T10:33:10.641017Z",
		"2026-05-18T10:33:10+00:00":          "2026-05-18T10:33:10Z",
		"2026-05-18T10:33:10-00:00":          "2026-05-18T10:33:10Z",
		"2026-05-18T10:33:10.1234567Z":       "2026-05-18T10:33:10.123456Z",
		"2026-05-18T10:33:10.5+05:30":        "2026-05-18T10:33:10.500000+05:30",
		"2026-05-18T10:33:10.000000Z":        "2026-05-18T10:33:10Z",
		"2026-05-18 10:33:10z":               "2026-05-18T10:33:10Z",
		"2026-05-18T10:33Z":                  "2026-05-18T10:33:00Z",
		"2026-05-18T10:33:10.999999999-0700": "2026-05-18T10:33:10.999999-07:00",
	}
	for in, want := range cases {
		ts, err := envelope.ParseTimestamp(in)
		if err != nil {
			t.Errorf("ParseTimestamp(%q): %v", in, err)
			continue
		}
		if got := envelope.FormatTimestamp(ts); got != want {
			t.Errorf("FormatTimestamp(ParseTimestamp(%q)) = %q, want %q", in, got, want)
		}
	}
	for _, in := range []string{"2026-05-18T10:33:10", "2026-05-18", "2026-02-30T00:00:00Z", "2026-05-18T24:00:00Z", "2026-05-18T10:33:10+24:00", "yesterday"} {
		if _, err := envelope.ParseTimestamp(in); err == nil {
			t.Errorf("ParseTimestamp(%q) accepted", in)
		}
	}
	if got := envelope.FormatTimestamp(time.Date(2026, 1, 2, 3, 4, 5, 6789, time.UTC)); got != "2026-01-02T03:04:05.000006Z" {
		t.Errorf("nanoseconds not truncated: %s", got)
	}
}

func TestNewRunIDIsUUIDv7(t *testing.T) {
	a, err := envelope.NewRunID()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := envelope.NewRunID()
	if len(a) != 36 || a[14] != '7' || a == b {
		t.Fatalf("run ids %q %q", a, b)
	}
	if strings.Compare(a[:13], b[:13]) > 0 {
		t.Fatalf("UUIDv7 run ids do not sort by time: %s then %s", a, b)
	}
}

func TestMigrationKeepsFixturesVerifiable(t *testing.T) {
	for _, fx := range envelopetest.All(t)[:5] {
		data, _ := os.ReadFile(fx.Path)
		raw, err := canonjson.Parse(data)
		if err != nil {
			t.Fatal(err)
		}
		migrated, err := envelope.Migrate(raw)
		if err != nil {
			t.Fatal(err)
		}
		env, err := envelope.Decode(migrated)
		if err != nil {
			t.Fatal(err)
		}
		if env.ContentHash() != fx.ContentHash {
			t.Errorf("%s: hash changed by migration", fx.Rel)
		}
	}
}

func TestMigratorChain(t *testing.T) {
	_, raw := loadFixture(t, baseline)
	// A made-up v0 that called metrics "results" and had no envelope_version
	// field of its own: two steps, v0 -> v0.5 -> v1.
	old := editPath(t, raw, []string{"envelope_version"}, func(canonjson.Value) (canonjson.Value, bool) {
		return canonjson.StringValue("v0"), true
	})
	var members []canonjson.Member
	for _, m := range old.Members() {
		if m.Key == "metrics" {
			m.Key = "results"
		}
		members = append(members, m)
	}
	old = canonjson.ObjectValue(members)
	setVersion := func(v canonjson.Value, ver string) canonjson.Value {
		return editPath(t, v, []string{"envelope_version"}, func(canonjson.Value) (canonjson.Value, bool) {
			return canonjson.StringValue(ver), true
		})
	}
	m := envelope.Migrator{Current: "v1", Migrations: []envelope.Migration{
		{From: "v0.5", To: "v1", Apply: func(v canonjson.Value) (canonjson.Value, error) { return setVersion(v, "v1"), nil }},
		{From: "v0", To: "v0.5", Apply: func(v canonjson.Value) (canonjson.Value, error) {
			var out []canonjson.Member
			for _, m := range v.Members() {
				if m.Key == "results" {
					m.Key = "metrics"
				}
				out = append(out, m)
			}
			return setVersion(canonjson.ObjectValue(out), "v0.5"), nil
		}},
	}}
	up, err := m.Migrate(old)
	if err != nil {
		t.Fatal(err)
	}
	env, err := envelope.Decode(up)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := env.Metrics.Get("ttft_p50_ms"); !ok {
		t.Fatal("metrics lost in migration")
	}
	if _, err := m.Migrate(setVersion(raw, "v9")); err == nil || !strings.Contains(err.Error(), `unsupported version "v9"`) {
		t.Fatalf("unknown version: %v", err)
	}
	loop := envelope.Migrator{Current: "v1", Migrations: []envelope.Migration{
		{From: "v0", To: "v0", Apply: func(v canonjson.Value) (canonjson.Value, error) { return v, nil }},
	}}
	if _, err := loop.Migrate(old); err == nil || !errors.Is(err, envelope.ErrInvalid) {
		t.Fatalf("looping migrations: %v", err)
	}
}

func TestBadInputIsInvalidNotAPanic(t *testing.T) {
	cases := map[string][]byte{
		"empty":         nil,
		"not json":      []byte("hello"),
		"truncated":     []byte(`{"envelope_version": "v1", "suite_id": `),
		"array":         []byte(`[1,2,3]`),
		"deep":          []byte(strings.Repeat("[", 10000) + strings.Repeat("]", 10000)),
		"nan":           []byte(`{"metrics": {"x": NaN}}`),
		"dup keys":      []byte(`{"seed": 1, "seed": 2}`),
		"oversized":     make([]byte, envelope.DefaultMaxSize+1),
		"wrong version": []byte(`{"envelope_version": "v2"}`),
	}
	for name, data := range cases {
		_, err := envelope.Parse(data)
		if !errors.Is(err, envelope.ErrInvalid) {
			t.Errorf("%s: error %v does not match ErrInvalid", name, err)
		}
	}
}
