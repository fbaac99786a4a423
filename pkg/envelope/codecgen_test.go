package envelope

import (
	"bytes"
	"flag"
	"fmt"
	"go/format"
	"math/rand/v2"
	"os"
	"reflect"
	"slices"
	"strconv"
	"testing"

	"github.com/inferencebench/bench/pkg/envelope/canonjson"
	"github.com/inferencebench/bench/pkg/envelope/envelopetest"
)

var update = flag.Bool("update", false, "rewrite codec_gen.go")

// generateCodec returns the source of codec_gen.go. It is written from the
// plans, which codec.go builds from the struct tags, so the tags stay the
// single definition of the format: the generated code only does what the
// plan-driven code does, without reflection and without interpreting the
// plan field by field. For every struct the tags describe it writes
//
//   - fieldPtr, a pointer to the i-th field (see fieldPointers), and
//   - appendCanonical, the struct as canonical JSON (appendStruct with
//     sorted members); for Envelope, appendCanonicalBody, the same without
//     the signature: the bytes of the content hash.
func generateCodec() ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(`// Code generated from the struct tags by TestGeneratedCodecIsCurrent; DO NOT EDIT.
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
`)
	fmt.Fprintf(&b, "\nfunc init() { checkGenerated(%q) }\n", planDigest())
	var order []*structPlan
	seen := map[reflect.Type]bool{}
	var walk func(p *structPlan)
	walk = func(p *structPlan) {
		if seen[p.typ] {
			return
		}
		seen[p.typ] = true
		order = append(order, p)
		for i := range p.fields {
			if p.fields[i].plan != nil {
				walk(p.fields[i].plan)
			}
		}
	}
	walk(envelopePlan)
	for _, p := range order {
		t := p.typ
		fmt.Fprintf(&b, "\n// fieldPtr returns a pointer to field i of x.\nfunc (x *%s) fieldPtr(i int) any {\n\tswitch i {\n", t.Name())
		for i := range t.NumField() {
			fmt.Fprintf(&b, "\tcase %d:\n\t\treturn &x.%s\n", i, t.Field(i).Name)
		}
		b.WriteString("\t}\n\treturn nil\n}\n")

		fmt.Fprintf(&b, "\n// decodeInOrder reads the members of x that come in declaration order (see inOrderDecoder).\n")
		fmt.Fprintf(&b, "func (x *%s) decodeInOrder(st *decodeState, p *structPlan) (int, error) {\n", t.Name())
		for i := range p.fields {
			f := &p.fields[i]
			x := "&x." + t.Field(f.index).Name
			switch f.kind {
			case kindString:
				fmt.Fprintf(&b, "\tif !stringMember(st, p, %d, %s) {\n\t\treturn %d, nil\n\t}\n", i, x, i)
			default:
				decode := "decodeField"
				switch f.kind {
				case kindOptStruct:
					decode = "decodeOptStruct"
				case kindStructSlice:
					decode = "decodeStructs"
				}
				fmt.Fprintf(&b, "\tif !memberKey(st, p, %d) {\n\t\treturn %d, nil\n\t}\n", i, i)
				fmt.Fprintf(&b, "\tif err := %s(st, %s, &p.fields[%d]); err != nil {\n\t\treturn 0, err\n\t}\n\tst.pop()\n", decode, x, i)
			}
		}
		fmt.Fprintf(&b, "\treturn %d, nil\n}\n", len(p.fields))

		method, skip := "appendCanonical", ""
		if p == envelopePlan {
			method, skip = "appendCanonicalBody", "signature"
		}
		what := "x as canonical JSON"
		if skip != "" {
			what += " without its " + skip
		}
		fmt.Fprintf(&b, "\n// %s appends %s.\nfunc (x *%s) %s(dst []byte) []byte {\n", method, what, t.Name(), method)
		fmt.Fprintf(&b, "\tif len(x.%s) > 0 {\n\t\treturn appendStruct(dst, x, planFor(reflect.TypeFor[%s]()), true, %q)\n\t}\n",
			t.Field(p.extra).Name, t.Name(), skip)
		sep := "{"
		for _, fi := range p.sorted {
			f := &p.fields[fi]
			if f.name == skip {
				continue
			}
			fmt.Fprintf(&b, "\tdst = append(dst, %s...)\n", goString(sep+f.key))
			sep = ","
			x := "x." + t.Field(f.index).Name
			switch f.kind {
			case kindString:
				if f.rules.hasDef {
					fmt.Fprintf(&b, "\tdst = appendDefaulted(dst, %s, %q)\n", x, f.rules.def)
				} else {
					fmt.Fprintf(&b, "\tdst = canonjson.AppendString(dst, %s)\n", x)
				}
			case kindBool:
				fmt.Fprintf(&b, "\tdst = strconv.AppendBool(dst, %s)\n", x)
			case kindInt64:
				fmt.Fprintf(&b, "\tdst = strconv.AppendInt(dst, %s, 10)\n", x)
			case kindTime:
				fmt.Fprintf(&b, "\tdst = appendTimestamp(dst, %s)\n", x)
			case kindBigInt:
				fmt.Fprintf(&b, "\tdst = appendBigInt(dst, %s)\n", x)
			case kindValue:
				fmt.Fprintf(&b, "\tdst = appendFreeForm(dst, %s, %t, true)\n", x, f.rules.object)
			case kindStrings:
				fmt.Fprintf(&b, "\tdst = appendStrings(dst, %s)\n", x)
			case kindStruct:
				fmt.Fprintf(&b, "\tdst = %s.appendCanonical(dst)\n", x)
			case kindOptStruct:
				fmt.Fprintf(&b, "\tif %s == nil {\n\t\tdst = append(dst, \"null\"...)\n\t} else {\n\t\tdst = %s.appendCanonical(dst)\n\t}\n", x, x)
			case kindStructSlice:
				fmt.Fprintf(&b, "\tdst = append(dst, '[')\n\tfor i := range %s {\n\t\tif i > 0 {\n\t\t\tdst = append(dst, ',')\n\t\t}\n\t\tdst = %s[i].appendCanonical(dst)\n\t}\n\tdst = append(dst, ']')\n", x, x)
			case kindCustom:
				fmt.Fprintf(&b, "\tdst = %s.appendJSON(dst, true)\n", x)
			default:
				return nil, fmt.Errorf("%s.%s: no generated writer for field kind %d", t.Name(), f.name, f.kind)
			}
		}
		if sep == "{" {
			b.WriteString("\tdst = append(dst, '{')\n")
		}
		b.WriteString("\treturn append(dst, '}')\n}\n")
	}
	return format.Source(b.Bytes())
}

// goString returns s as a Go string literal, raw when it can be.
func goString(s string) string {
	if strconv.CanBackquote(s) {
		return "`" + s + "`"
	}
	return strconv.Quote(s)
}

// TestGeneratedCodecIsCurrent fails when codec_gen.go differs from what
// generateCodec writes for the current struct tags; with -update (go
// generate) it rewrites the file.
func TestGeneratedCodecIsCurrent(t *testing.T) {
	want, err := generateCodec()
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile("codec_gen.go", want, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile("codec_gen.go")
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("codec_gen.go is stale: the struct tags changed; run go generate in pkg/envelope (%v)", err)
	}
	if !useGenerated {
		t.Fatal("codec_gen.go is current but not in use: checkGenerated found it stale")
	}
}

// TestGeneratedFieldPointers checks, for every struct the tags describe,
// that the generated accessor reaches the same fields as reflection, and
// that every one of them has it (checkFieldPtrs, run when the plans are
// built, has already panicked if any pointed elsewhere).
func TestGeneratedFieldPointers(t *testing.T) {
	n := 0
	plans.Range(func(k, _ any) bool {
		typ := k.(reflect.Type)
		v := reflect.New(typ)
		g, ok := v.Interface().(fieldPointers)
		if !ok {
			t.Errorf("%s has no generated fieldPtr: run go generate", typ.Name())
			return true
		}
		for i := range typ.NumField() {
			if p := reflect.ValueOf(g.fieldPtr(i)); p.Pointer() != v.Elem().Field(i).Addr().Pointer() {
				t.Errorf("%s.fieldPtr(%d) does not point at %s", typ.Name(), i, typ.Field(i).Name)
			}
		}
		n++
		return true
	})
	if n < 10 {
		t.Fatalf("only %d plans checked", n)
	}
}

// TestGeneratedCanonicalMatchesPlans compares the generated canonical
// writers with the plan-driven appendStruct on every fixture, and on
// variants that reach every branch: unknown members at each level (the
// generated code hands those structs to appendStruct), defaults standing
// for empty fields, absent optional objects, empty lists and maps.
func TestGeneratedCanonicalMatchesPlans(t *testing.T) {
	gen, ok := any(&Envelope{}).(canonicalBodyWriter)
	if !ok || !useGenerated {
		t.Fatal("no generated canonical writer in use: run go generate")
	}
	_ = gen
	check := func(name string, e *Envelope) {
		t.Helper()
		got := any(e).(canonicalBodyWriter).appendCanonicalBody(nil)
		want := appendStruct(nil, e, envelopePlan, true, "signature")
		if !bytes.Equal(got, want) {
			t.Fatalf("%s: generated canonical body differs from the plan's:\n%s\n%s", name, got, want)
		}
	}
	extra := Extra{{Key: "zz", Value: canonjson.IntValue(1)}, {Key: "a_extra", Value: canonjson.StringValue("\u00e9")}}
	for _, fx := range envelopetest.All(t) {
		data, err := os.ReadFile(fx.Path)
		if err != nil {
			t.Fatal(err)
		}
		parse := func() *Envelope {
			e, err := Parse(data)
			if err != nil {
				t.Fatal(err)
			}
			return e
		}
		e := parse()
		check(fx.Rel, e)
		variants := map[string]func(e *Envelope){
			"extra-top":      func(e *Envelope) { e.Extra = extra },
			"extra-model":    func(e *Envelope) { e.Model.Extra = extra },
			"extra-engine":   func(e *Envelope) { e.Engine.Extra = extra },
			"extra-hardware": func(e *Envelope) { e.HardwareFingerprint.Extra = extra },
			"extra-cpu":      func(e *Envelope) { e.HardwareFingerprint.CPU.Extra = extra },
			"extra-memory":   func(e *Envelope) { e.HardwareFingerprint.Memory.Extra = extra },
			"extra-bios":     func(e *Envelope) { e.HardwareFingerprint.BIOS.Extra = extra },
			"extra-software": func(e *Envelope) { e.SoftwareProvenance.Extra = extra },
			"extra-dataset":  func(e *Envelope) { e.Dataset.Extra = extra },
			"extra-gpu": func(e *Envelope) {
				e.HardwareFingerprint.GPUs = append(e.HardwareFingerprint.GPUs, GPU{Model: "m", Extra: extra})
			},
			"quantization": func(e *Envelope) { e.Quantization = &Quantization{Format: "f", Extra: extra} },
			"defaults": func(e *Envelope) {
				e.EnvelopeVersion, e.Seed, e.Warnings, e.Metrics, e.Distributions = "", nil, nil, nil, nil
				e.DriverOptions, e.HardwareFingerprint.NUMA, e.HardwareFingerprint.GPUs = canonjson.Value{}, canonjson.Value{}, nil
			},
			"lists": func(e *Envelope) {
				e.Warnings = []string{"a", "\n"}
				e.Distributions = StringMap{{Key: "b", Value: "1"}, {Key: "a", Value: "2"}}
			},
		}
		for name, change := range variants {
			e := parse()
			change(e)
			check(fx.Rel+"/"+name, e)
		}
	}
}

// shuffled returns v with the members of its objects in random order, now
// and then one left out or an unknown one added.
func shuffled(r *rand.Rand, v canonjson.Value) canonjson.Value {
	switch v.Kind() {
	case canonjson.Array:
		var elems []canonjson.Value
		for _, e := range v.Elems() {
			elems = append(elems, shuffled(r, e))
		}
		return canonjson.ArrayValue(elems)
	case canonjson.Object:
		var members []canonjson.Member
		for _, m := range v.Members() {
			if r.IntN(30) > 0 {
				members = append(members, canonjson.Member{Key: m.Key, Value: shuffled(r, m.Value)})
			}
		}
		if r.IntN(10) == 0 {
			members = append(members, canonjson.Member{Key: "unknown", Value: canonjson.IntValue(1)})
		}
		if r.IntN(2) == 0 {
			r.Shuffle(len(members), func(i, j int) { members[i], members[j] = members[j], members[i] })
		}
		return canonjson.ObjectValue(members)
	}
	return v
}

// TestGeneratedDecoderMatchesPlans parses every fixture, and thousands of
// variants of two of them with one byte changed, deleted or inserted (out
// of order, unknown and missing members, wrong kinds, broken syntax), with
// and without the generated code, and requires the same envelope or the
// same error.
func TestGeneratedDecoderMatchesPlans(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 2))
	fixtures := envelopetest.All(t)
	n := 0
	for k, fx := range fixtures {
		data, err := os.ReadFile(fx.Path)
		if err != nil {
			t.Fatal(err)
		}
		variants := [][]byte{data}
		// The same envelope with the members of every object shuffled, some
		// dropped and an unknown one added: the generated code stops early
		// and the loop of decodeStruct reads the rest.
		tree, err := canonjson.Parse(data)
		if err != nil {
			t.Fatal(err)
		}
		for range 20 {
			variants = append(variants, canonjson.AppendIndent(nil, shuffled(r, tree), 2))
		}
		if k < 2 {
			for range 3000 {
				v := slices.Clone(data)
				i := r.IntN(len(v))
				switch r.IntN(3) {
				case 0:
					v[i] = "{}[]\":, 0aZ\\\n"[r.IntN(13)]
				case 1:
					v = slices.Delete(v, i, i+1)
				default:
					v = slices.Insert(v, i, `{}[]":, 0aZ\`[r.IntN(12)])
				}
				variants = append(variants, v)
			}
		}
		for _, v := range variants {
			e1, err1 := Parse(v)
			e2, err2 := ParseWithoutGeneratedCode(v)
			if fmt.Sprint(err1) != fmt.Sprint(err2) {
				t.Fatalf("%s: errors differ:\n%v\n%v", fx.Rel, err1, err2)
			}
			if err1 == nil && (!bytes.Equal(e1.MarshalIndent(), e2.MarshalIndent()) || !reflect.DeepEqual(e1, e2)) {
				t.Fatalf("%s: envelopes differ", fx.Rel)
			}
			n++
		}
	}
	t.Logf("%d documents decoded alike", n)
}
