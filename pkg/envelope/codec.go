package envelope

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/inferencebench/bench/pkg/envelope/canonjson"
)

// This file reads JSON into the typed structs of envelope.go and writes them
// back, following the struct tags.
//
// Reading is where the reference's normalisation happens: defaults for absent
// fields, whitespace stripping of every typed string, and pydantic's lax
// coercions (the string "42" for an integer, 1 for true). It streams through
// a canonjson.Decoder, building no tree: free-form objects (numa,
// driver_options, unknown fields) are captured directly in canonical form.
//
// Writing produces compact JSON in one of two member orders: declaration
// order followed by unknown fields, as pydantic's model_dump does (the file
// layout), or sorted by key (the canonical form that is hashed).

// patterns are the named patterns of the pattern= tag. Python's \d and \w
// (pydantic uses Rust's regex crate) match Unicode digits and word
// characters, hence the \p classes.
var patterns = map[string]struct {
	match  func(string) bool
	schema string // the same pattern as the reference's JSON Schema writes it
}{
	"hex64":  {isHex64, `^[0-9a-f]{64}$`},
	"semver": {isSemver, `^\d+\.\d+\.\d+(-[\w.]+)?$`},
}

// isSemver matches ^\d+\.\d+\.\d+(-[\w.]+)?$ with the Unicode classes of
// Rust's regex crate, which pydantic uses: \d is any decimal digit (Nd) and
// \w is Alphabetic, marks, Nd, connector punctuation and the join controls.
// Go's regexp has no Alphabetic class, hence the hand-written matcher.
func isSemver(s string) bool {
	rs := []rune(s)
	i := 0
	for part := 0; part < 3; part++ {
		start := i
		for i < len(rs) && unicode.Is(unicode.Nd, rs[i]) {
			i++
		}
		if i == start {
			return false
		}
		if part < 2 {
			if i >= len(rs) || rs[i] != '.' {
				return false
			}
			i++
		}
	}
	if i == len(rs) {
		return true
	}
	if rs[i] != '-' || i+1 == len(rs) {
		return false
	}
	for _, r := range rs[i+1:] {
		if r != '.' && !isRegexWordChar(r) {
			return false
		}
	}
	return true
}

func isRegexWordChar(r rune) bool {
	return unicode.IsLetter(r) || unicode.In(r, unicode.Nl, unicode.Other_Alphabetic, unicode.M, unicode.Nd, unicode.Pc) ||
		r == 0x200C || r == 0x200D // Join_Control
}

func isHex64(s string) bool {
	if len(s) != hashHexLength {
		return false
	}
	for i := 0; i < len(s); i += 8 {
		if !isLowerHex8(s[i : i+8]) {
			return false
		}
	}
	return true
}

// isLowerHex8 reports whether the 8 bytes of w are all in [0-9a-f], a word
// at a time: lowering every byte by '0' and by 'a' and testing the range
// with carries kept inside each byte (the high bits are set aside first and
// tested on their own). isHex64's test compares it with a byte loop.
func isLowerHex8(w string) bool {
	x := uint64(w[0]) | uint64(w[1])<<8 | uint64(w[2])<<16 | uint64(w[3])<<24 |
		uint64(w[4])<<32 | uint64(w[5])<<40 | uint64(w[6])<<48 | uint64(w[7])<<56
	const (
		ones  = 0x0101010101010101
		highs = 0x8080808080808080
	)
	low := x &^ highs // each byte below 0x80, so adding to it cannot carry out
	// A byte is a digit when it is >= '0' and <= '9', a letter when >= 'a'
	// and <= 'f'; "b >= n" is the high bit of (b + 0x80 - n), "b <= m" the
	// high bit of ^(b + 0x7f - m), both computed on 7-bit bytes.
	digit := (low + ones*(0x80-'0')) & ^(low + ones*(0x7f-'9'))
	letter := (low + ones*(0x80-'a')) & ^(low + ones*(0x7f-'f'))
	return (digit|letter)&highs == highs && x&highs == 0
}

type rules struct {
	optional bool
	def      string // default when absent ("" means the zero value)
	hasDef   bool
	minLen   int // in characters; -1 when unset
	maxLen   int
	pattern  string
	match    func(string) bool // patterns[pattern].match
	min, max *int64
	enum     []string
	nonempty bool
	object   bool
}

type field struct {
	id    int // see fieldID
	name  string
	key   string // name written as a JSON member key: "name":
	index int
	typ   reflect.Type
	kind  fieldKind
	rules rules
	plan  *structPlan // for nested objects (kindStruct, kindOptStruct, kindStructSlice)
}

// fieldKind is how a field is read and written, worked out once per type.
type fieldKind uint8

const (
	kindString fieldKind = iota
	kindBool
	kindInt64
	kindTime
	kindBigInt
	kindValue       // canonjson.Value, kept verbatim
	kindStrings     // []string
	kindStruct      // nested object
	kindOptStruct   // *struct: null or a nested object
	kindStructSlice // []struct
	kindCustom      // a map type that reads and writes itself (Metrics, StringMap)
)

type structPlan struct {
	typ    reflect.Type
	fields []field
	names  *canonjson.Names // the fields' names, in the same order
	sorted []int            // indexes into fields, by name
	extra  int              // index of the Extra field in the struct
}

// mapCodec is implemented by the map types (Metrics, StringMap).
type mapCodec interface {
	appendJSON(dst []byte, sorted bool) []byte
	jsonSchema() map[string]any
}

type mapDecoder interface {
	decodeJSON(st *decodeState) error
}

var (
	plans         sync.Map // reflect.Type -> *structPlan
	envelopePlan  = planFor(reflect.TypeFor[Envelope]())
	typeTime      = reflect.TypeFor[time.Time]()
	typeBigInt    = reflect.TypeFor[*big.Int]()
	typeValue     = reflect.TypeFor[canonjson.Value]()
	typeExtra     = reflect.TypeFor[Extra]()
	typeDecoder   = reflect.TypeFor[mapDecoder]()
	typeStringArr = reflect.TypeFor[[]string]()
)

func fieldKindOf(t reflect.Type) fieldKind {
	switch {
	case reflect.PointerTo(t).Implements(typeDecoder):
		return kindCustom
	case t == typeTime:
		return kindTime
	case t == typeBigInt:
		return kindBigInt
	case t == typeValue:
		return kindValue
	case t == typeStringArr:
		return kindStrings
	}
	switch t.Kind() {
	case reflect.String:
		return kindString
	case reflect.Bool:
		return kindBool
	case reflect.Int64:
		return kindInt64
	case reflect.Struct:
		return kindStruct
	case reflect.Pointer:
		if t.Elem().Kind() == reflect.Struct {
			return kindOptStruct
		}
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Struct {
			return kindStructSlice
		}
	}
	panic("envelope: no codec for field type " + t.String())
}

// fieldNames numbers the field names of all plans, so that a field path can
// refer to them by number (see pathSeg).
var fieldNames struct {
	sync.Mutex
	names []string
}

// fieldID returns the number of a field name.
func fieldID(name string) int {
	fieldNames.Lock()
	defer fieldNames.Unlock()
	if i := slices.Index(fieldNames.names, name); i >= 0 {
		return i
	}
	fieldNames.names = append(fieldNames.names, name)
	return len(fieldNames.names) - 1
}

// fieldName returns the name that fieldID numbered id.
func fieldName(id int) string {
	fieldNames.Lock()
	defer fieldNames.Unlock()
	return fieldNames.names[id]
}

func planFor(t reflect.Type) *structPlan {
	if p, ok := plans.Load(t); ok {
		return p.(*structPlan)
	}
	p := &structPlan{typ: t, extra: -1}
	for i := range t.NumField() {
		sf := t.Field(i)
		if sf.Type == typeExtra {
			p.extra = i
			continue
		}
		name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		f := field{id: fieldID(name), name: name, key: string(canonjson.AppendString(nil, name)) + ":", index: i, typ: sf.Type, kind: fieldKindOf(sf.Type), rules: parseRules(t, sf)}
		switch f.kind {
		case kindStruct:
			f.plan = planFor(sf.Type)
		case kindOptStruct, kindStructSlice:
			f.plan = planFor(sf.Type.Elem())
		}
		p.fields = append(p.fields, f)
	}
	if p.extra < 0 {
		panic("envelope: " + t.Name() + " has no Extra field")
	}
	if len(p.fields) > 64 {
		panic("envelope: " + t.Name() + " has more than 64 fields")
	}
	names := make([]string, len(p.fields))
	for i := range p.fields {
		p.sorted = append(p.sorted, i)
		names[i] = p.fields[i].name
	}
	p.names = canonjson.NewNames(names...)
	slices.SortFunc(p.sorted, func(a, b int) int { return strings.Compare(p.fields[a].name, p.fields[b].name) })
	plans.Store(t, p)
	return p
}

func parseRules(t reflect.Type, sf reflect.StructField) rules {
	r := rules{minLen: -1, maxLen: -1}
	tag := sf.Tag.Get("env")
	if tag == "" {
		return r
	}
	bad := func(item string) { panic(fmt.Sprintf("envelope: bad env tag %q on %s.%s", item, t.Name(), sf.Name)) }
	for _, item := range strings.Split(tag, ",") {
		key, val, _ := strings.Cut(item, "=")
		num := func() int64 {
			n, err := strconv.ParseInt(val, 10, 64)
			if err != nil {
				bad(item)
			}
			return n
		}
		switch key {
		case "optional":
			r.optional = true
		case "default":
			r.optional, r.hasDef, r.def = true, true, val
		case "minlen":
			r.minLen = int(num())
		case "maxlen":
			r.maxLen = int(num())
		case "pattern":
			p, ok := patterns[val]
			if !ok {
				bad(item)
			}
			r.pattern, r.match = val, p.match
		case "min":
			n := num()
			r.min = &n
		case "max":
			n := num()
			r.max = &n
		case "enum":
			r.enum = strings.Split(val, "|")
		case "nonempty":
			r.nonempty = true
		case "object":
			r.object = true
		default:
			bad(item)
		}
	}
	return r
}

//go:generate go test -run ^TestGeneratedCodecIsCurrent$ -update .

// ---- field access ----

// inOrderDecoder is implemented, in codec_gen.go, by every struct the tags
// describe: decodeInOrder reads the members of an object that come in the
// declaration order of the fields, as the reference writes them, doing for
// each exactly what decodeStruct's loop would, and returns the index of the
// field it expected next (it has read those before it), where the loop
// takes over. It calls the helpers below, one call per field, so that it
// stays small: what it saves in dispatch is not to be lost to instruction
// cache misses.
type inOrderDecoder interface {
	decodeInOrder(st *decodeState, p *structPlan) (next int, err error)
}

// stringMember reads the string field i of plan p, if it comes next as
// NextStringMember finds it, into *out, and reports whether it did.
func stringMember(st *decodeState, p *structPlan, i int, out *string) bool {
	s, ok := st.d.NextStringMember(p.names, i)
	if !ok {
		return false
	}
	f := &p.fields[i]
	if msg := setString(s, out, f); msg != "" {
		st.failField(f, msg)
	}
	return true
}

// memberKey reads the key of field i of plan p, if it comes next, and
// pushes its name on the path; the value is for the caller to read, and
// the name to pop.
func memberKey(st *decodeState, p *structPlan, i int) bool {
	if !st.d.ExpectKey(p.names, i) {
		return false
	}
	st.pushField(&p.fields[i])
	return true
}

// fieldPointers is implemented, in codec_gen.go, by every struct the tags
// describe: fieldPtr(i) returns a pointer to field i (reflect's numbering).
// Going through it instead of reflect.Value.Field and Set is most of what
// makes decoding and hashing fast; go generate rewrites the file from the
// struct declarations.
type fieldPointers interface{ fieldPtr(i int) any }

// structRef gives access to the fields of a struct through its pointer.
type structRef struct {
	gen fieldPointers // the generated accessor, or nil
	rv  reflect.Value // the struct, when there is no generated accessor
}

// refOf returns a structRef for x, a pointer to a struct. Without usable
// generated accessors (codec_gen.go missing or stale) it falls back to
// reflection, with the same results.
func refOf(x any) structRef {
	if useGenerated {
		if g, ok := x.(fieldPointers); ok {
			return structRef{gen: g}
		}
	}
	return structRef{rv: reflect.ValueOf(x).Elem()}
}

// field returns a pointer to field i.
func (r structRef) field(i int) any {
	if r.gen != nil {
		return r.gen.fieldPtr(i)
	}
	return r.rv.Field(i).Addr().Interface()
}

// planDigest summarises everything about the plans that codec_gen.go is
// written from: its hash is recorded there, and checkGenerated compares it
// with the plans built from the tags of this build.
func planDigest() string {
	var b strings.Builder
	seen := map[*structPlan]bool{}
	var walk func(p *structPlan)
	walk = func(p *structPlan) {
		if seen[p] {
			return
		}
		seen[p] = true
		fmt.Fprintf(&b, "%s extra=%s\n", p.typ.Name(), p.typ.Field(p.extra).Name)
		for _, i := range p.sorted {
			f := &p.fields[i]
			fmt.Fprintf(&b, "\t%q %s kind=%d default=%t,%q object=%t\n",
				f.name, p.typ.Field(f.index).Name, f.kind, f.rules.hasDef, f.rules.def, f.rules.object)
		}
		for i := range p.fields {
			if p.fields[i].plan != nil {
				walk(p.fields[i].plan)
			}
		}
	}
	walk(envelopePlan)
	sum := sha256.Sum256([]byte(b.String()))
	return hex.EncodeToString(sum[:])
}

// useGenerated is set when codec_gen.go was written for the struct tags
// and layout of this build. If it was not (the structs changed and go
// generate was not run), the generated code is left alone and everything
// goes through the plans: slower, but never different from what the tags
// say. TestGeneratedCodecIsCurrent fails in that case.
var useGenerated bool

// checkGenerated is called by codec_gen.go with the planDigest it was
// written for.
func checkGenerated(digest string) {
	useGenerated = digest == planDigest() && fieldPtrsMatch()
}

// fieldPtrsMatch reports whether the generated fieldPtr of every struct
// the tags describe points at exactly the fields reflection sees.
func fieldPtrsMatch() bool {
	ok := true
	plans.Range(func(k, _ any) bool {
		t := k.(reflect.Type)
		v := reflect.New(t)
		g, has := v.Interface().(fieldPointers)
		if !has || g.fieldPtr(t.NumField()) != nil {
			ok = false
			return false
		}
		for i := range t.NumField() {
			p, want := g.fieldPtr(i), v.Elem().Field(i).Addr()
			if p == nil || reflect.TypeOf(p) != want.Type() || reflect.ValueOf(p).Pointer() != want.Pointer() {
				ok = false
				return false
			}
		}
		return true
	})
	return ok
}

// ---- reading ----

// decodeMap reads a map field (Metrics or StringMap, which p points to) and
// returns its number of entries. The calls are static, not through
// mapDecoder, so that escape analysis can keep the decodeState, and the
// path stack in it, on the stack: pushing a field name onto a stack in the
// heap costs a write barrier whenever the collector runs.
func decodeMap(st *decodeState, p any) (int, error) {
	switch m := p.(type) {
	case *Metrics:
		err := m.decodeJSON(st)
		return len(*m), err
	case *StringMap:
		err := m.decodeJSON(st)
		return len(*m), err
	}
	panic(fmt.Sprintf("envelope: no decoder for %T", p))
}

// readAny reads the next value whatever it is; containers come back in
// canonical form, which is all an error message needs.
func readAny(d *canonjson.Decoder) (canonjson.Value, error) { return d.ReadCanonical() }

// expect checks that the next value is of kind want. If it is not, the value
// is read past and a schema error recorded; ok is false.
func (st *decodeState) expect(want canonjson.Kind, what string) (ok bool, err error) {
	k, err := st.d.Peek()
	if err != nil {
		return false, err
	}
	if k == want {
		return true, nil
	}
	v, err := readAny(st.d)
	if err != nil {
		return false, err
	}
	st.fail("must be %s, not %s", what, kindName(v))
	return false, nil
}

// decodeStruct fills the struct x points to from the object at the
// decoder. Schema violations go to errs and decoding goes on; a syntax
// error stops it.
func decodeStruct(st *decodeState, x any, plan *structPlan) error {
	d := st.d
	if ok, err := st.expect(canonjson.Object, "an object"); !ok {
		return err
	}
	if err := d.BeginObject(); err != nil {
		return err
	}
	ref := refOf(x)
	var seen uint64 // bit i: plan.fields[i] was present
	next := 0       // documents usually follow declaration order: try that field first
	if ref.gen != nil {
		// The generated code reads the members that come in declaration
		// order; the loop below takes over at the first that does not.
		var err error
		if next, err = x.(inOrderDecoder).decodeInOrder(st, plan); err != nil {
			return err
		}
		seen = 1<<next - 1
		if next == len(plan.fields) && d.EndObject() {
			return nil // every field, in order, and nothing else
		}
	}
	var extra Extra
	for {
		if next < len(plan.fields) && plan.fields[next].kind == kindString {
			if s, ok := d.NextStringMember(plan.names, next); ok {
				f := &plan.fields[next]
				seen |= 1 << next
				// The field's name goes on the path only if there is a
				// violation to report.
				if msg := setString(s, ref.field(f.index).(*string), f); msg != "" {
					st.failField(f, msg)
				}
				next++
				continue
			}
		}
		i, key, more, err := d.NextKeyIndex(plan.names, next)
		if err != nil {
			return err
		}
		if !more {
			break
		}
		next = i + 1
		if i < 0 {
			v, err := d.ReadCanonicalDepth(MaxFreeFormDepth)
			if err != nil {
				return err
			}
			extra = append(extra, canonjson.Member{Key: key, Value: v})
			continue
		}
		seen |= 1 << i
		f := &plan.fields[i]
		st.pushField(f)
		if err := decodeField(st, ref.field(f.index), f); err != nil {
			return err
		}
		st.pop()
	}
	for i := range plan.fields {
		if seen&(1<<i) != 0 {
			continue
		}
		f := &plan.fields[i]
		st.pushField(f)
		switch {
		case !f.rules.optional:
			st.fail("is required")
		case f.rules.hasDef:
			decodeScalar(st, canonjson.StringValue(f.rules.def), ref.field(f.index), f)
		case f.rules.nonempty:
			st.fail("must contain at least one entry")
		}
		st.pop()
	}
	if extra != nil {
		*ref.field(plan.extra).(*Extra) = extra
	}
	return nil
}

// MaxFreeFormDepth is how deeply a free-form value (a member of
// driver_options or numa, an unknown field) may nest, a scalar inside n
// arrays counting as n+1. pydantic validates deeper values, but its
// serialiser gives up beyond 255 levels, so the reference could not hash them.
const MaxFreeFormDepth = 255

// decodeFreeFormObject reads a dict[str, Any] field such as driver_options
// or numa: its top-level keys are typed str, so pydantic strips them; the
// values are kept verbatim.
func (st *decodeState) decodeFreeFormObject() (canonjson.Value, error) {
	d := st.d
	if ok, err := st.expect(canonjson.Object, "an object"); !ok {
		return canonjson.Value{}, err
	}
	if err := d.BeginObject(); err != nil {
		return canonjson.Value{}, err
	}
	members := []canonjson.Member{}
	var stripped strippedKeys
	for {
		rawKey, more, err := d.NextKey()
		if err != nil {
			return canonjson.Value{}, err
		}
		if !more {
			break
		}
		v, err := d.ReadCanonicalDepth(MaxFreeFormDepth)
		if err != nil {
			return canonjson.Value{}, err
		}
		key := strip(rawKey)
		if stripped.mayCollide(key, rawKey) && slices.ContainsFunc(members, func(m canonjson.Member) bool { return m.Key == key }) {
			st.failKey(key, "duplicate key after whitespace stripping")
			continue
		}
		members = append(members, canonjson.Member{Key: key, Value: v})
	}
	return canonjson.ObjectValue(members), nil
}

// strippedKeys tells when the keys of a typed map (metrics, distributions,
// the top level of a free-form object) must be compared for collisions
// after whitespace stripping. The decoder refuses exact duplicates, so two
// keys can only become equal if strip changed at least one of them: until
// a key is changed, no comparison is needed.
type strippedKeys struct{ changed bool }

// mayCollide records whether strip changed rawKey into key, and reports
// whether key may equal an earlier key.
func (s *strippedKeys) mayCollide(key, rawKey string) bool {
	if key != rawKey {
		s.changed = true
	}
	return s.changed
}

// decodeField reads the value of field f into p, a pointer to the field.
func decodeField(st *decodeState, p any, f *field) error {
	d := st.d
	switch f.kind {
	case kindString:
		s, ok, err := d.ReadString()
		if err != nil {
			return err
		}
		if ok {
			decodeString(st, s, p.(*string), f)
			return nil
		}
		// Not a string: decodeScalar says so.
	case kindCustom:
		before := len(st.errs)
		n, err := decodeMap(st, p)
		if err != nil {
			return err
		}
		if f.rules.nonempty && n == 0 && len(st.errs) == before {
			st.fail("must contain at least one entry")
		}
		return nil
	case kindValue:
		v, err := st.decodeFreeFormObject()
		if err != nil {
			return err
		}
		*p.(*canonjson.Value) = v
		return nil
	case kindStrings:
		if ok, err := st.expect(canonjson.Array, "an array of strings"); !ok {
			return err
		}
		if err := d.BeginArray(); err != nil {
			return err
		}
		out := []string{}
		for i := 0; ; i++ {
			more, err := d.NextElem()
			if err != nil {
				return err
			}
			if !more {
				break
			}
			v, err := readAny(d)
			if err != nil {
				return err
			}
			if v.Kind() != canonjson.String {
				st.pushIndex(i)
				st.fail("must be a string, not %s", kindName(v))
				st.pop()
				continue
			}
			out = append(out, strip(v.Str()))
		}
		*p.(*[]string) = out
		return nil
	case kindStruct:
		return decodeStruct(st, p, f.plan)
	case kindOptStruct:
		fv := reflect.ValueOf(p).Elem() // the *T field
		if k, err := d.Peek(); err != nil {
			return err
		} else if k == canonjson.Null {
			_, err := readAny(d)
			fv.SetZero()
			return err
		}
		ptr := reflect.New(f.typ.Elem())
		if err := decodeStruct(st, ptr.Interface(), f.plan); err != nil {
			return err
		}
		fv.Set(ptr)
		return nil
	case kindStructSlice:
		if ok, err := st.expect(canonjson.Array, "an array"); !ok {
			return err
		}
		if err := d.BeginArray(); err != nil {
			return err
		}
		// Each element is decoded in place at the end of the field's slice
		// (reflect.Append would allocate a slice header and a zero element
		// per call).
		out := reflect.ValueOf(p).Elem()
		for i := 0; ; i++ {
			more, err := d.NextElem()
			if err != nil {
				return err
			}
			if !more {
				break
			}
			if out.Cap() == 0 {
				out.Grow(8) // machines hold up to 8 GPUs, mostly
			}
			out.Grow(1)
			out.SetLen(i + 1)
			st.pushIndex(i)
			if err := decodeStruct(st, out.Index(i).Addr().Interface(), f.plan); err != nil {
				return err
			}
			st.pop()
		}
		if out.IsNil() {
			out.Set(reflect.MakeSlice(f.typ, 0, 0)) // [] is an empty list, not a missing one
		}
		return nil
	}
	v, err := readAny(d)
	if err != nil {
		return err
	}
	decodeScalar(st, v, p, f)
	return nil
}

// decodeOptStruct is decodeField for a field *T (kindOptStruct), without
// reflection: the generated code calls it.
func decodeOptStruct[T any](st *decodeState, out **T, f *field) error {
	d := st.d
	if k, err := d.Peek(); err != nil {
		return err
	} else if k == canonjson.Null {
		_, err := readAny(d)
		*out = nil
		return err
	}
	x := new(T)
	if err := decodeStruct(st, x, f.plan); err != nil {
		return err
	}
	*out = x
	return nil
}

// decodeStructs is decodeField for a field []T (kindStructSlice), without
// reflection: the generated code calls it.
func decodeStructs[T any](st *decodeState, out *[]T, f *field) error {
	d := st.d
	if ok, err := st.expect(canonjson.Array, "an array"); !ok {
		return err
	}
	if err := d.BeginArray(); err != nil {
		return err
	}
	list := []T{} // [] is an empty list, not a missing one
	for i := 0; ; i++ {
		more, err := d.NextElem()
		if err != nil {
			return err
		}
		if !more {
			break
		}
		if i == 0 {
			list = make([]T, 0, 8) // machines hold up to 8 GPUs, mostly
		}
		var zero T
		list = append(list, zero)
		st.pushIndex(i)
		if err := decodeStruct(st, &list[i], f.plan); err != nil {
			return err
		}
		st.pop()
	}
	*out = list
	return nil
}

// decodeScalar handles the fields that hold one JSON scalar; p points to
// the field.
func decodeScalar(st *decodeState, v canonjson.Value, p any, f *field) {
	r := &f.rules
	switch f.kind {
	case kindString:
		if v.Kind() != canonjson.String {
			st.fail("must be a string, not %s", kindName(v))
			return
		}
		decodeString(st, v.Str(), p.(*string), f)
	case kindBool:
		b, err := laxBool(v)
		if err != nil {
			st.fail("%v", err)
			return
		}
		*p.(*bool) = b
	case kindInt64:
		i, err := laxInt64(v)
		if err != nil {
			st.fail("%v", err)
			return
		}
		if r.min != nil && i < *r.min {
			st.fail("must be at least %d, not %d", *r.min, i)
		}
		if r.max != nil && i > *r.max {
			st.fail("must be at most %d, not %d", *r.max, i)
		}
		*p.(*int64) = i
	case kindTime:
		if v.Kind() != canonjson.String {
			st.fail("must be an RFC 3339 timestamp string, not %s", kindName(v))
			return
		}
		t, err := ParseTimestamp(v.Str())
		if err != nil {
			st.fail("%v", err)
			return
		}
		*p.(*time.Time) = t
	case kindBigInt:
		n, err := laxInteger(v)
		if err != nil {
			st.fail("%v", err)
			return
		}
		*p.(**big.Int) = n
	}
}

// decodeString normalises and checks the value s of the string field f,
// and stores it in *p.
func decodeString(st *decodeState, s string, p *string, f *field) {
	if msg := setString(s, p, f); msg != "" {
		st.fail("%s", msg)
	}
}

// setString normalises the value s of the string field f, stores it in *p
// and returns what is wrong with it, or "".
func setString(s string, p *string, f *field) string {
	r := &f.rules
	if r.enum == nil && !isStripped(s) { // pydantic strips str fields, but not Literal ones
		s = strings.TrimSpace(s)
	}
	*p = s
	// The common case, written so that it inlines: bounds on the length
	// that hold without counting characters, and nothing else to check.
	if r.match == nil && r.enum == nil && (r.minLen <= 0 || len(s) >= 4*r.minLen) && (r.maxLen < 0 || len(s) <= r.maxLen) {
		return ""
	}
	return checkString(s, r)
}

func checkString(s string, r *rules) string {
	// A string of n bytes holds between n/4 and n characters: count them only
	// when that range straddles a bound.
	if (r.minLen > 0 && len(s) < 4*r.minLen) || (r.maxLen >= 0 && len(s) > r.maxLen) {
		n := utf8.RuneCountInString(s)
		switch {
		case r.minLen == 1 && n == 0:
			return "must not be empty"
		case r.minLen >= 0 && n < r.minLen:
			return fmt.Sprintf("must be at least %d characters, not %d (%q)", r.minLen, n, abbreviate(s))
		case r.maxLen >= 0 && n > r.maxLen:
			return fmt.Sprintf("must be at most %d characters, not %d (%q)", r.maxLen, n, abbreviate(s))
		}
	}
	if r.match != nil && !r.match(s) {
		if r.pattern == "hex64" {
			return fmt.Sprintf("must be 64 lowercase hex characters, not %q", abbreviate(s))
		}
		return fmt.Sprintf("must match %s, not %q", patterns[r.pattern].schema, abbreviate(s))
	}
	if r.enum != nil && !slices.Contains(r.enum, s) {
		return fmt.Sprintf("must be one of %s, not %q", strings.Join(quoteAll(r.enum), ", "), abbreviate(s))
	}
	return ""
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strconv.Quote(s)
	}
	return out
}

// strip removes leading and trailing Unicode white space, as pydantic's
// str_strip_whitespace does (Rust's str::trim: the White_Space property,
// which is also what unicode.IsSpace tests).
func strip(s string) string {
	if isStripped(s) {
		return s
	}
	return strings.TrimSpace(s)
}

// isStripped reports, cheaply, that s has nothing to strip: it starts and
// ends with a printable ASCII character other than space. (Otherwise it may
// or may not.)
func isStripped(s string) bool {
	return len(s) > 0 && s[0]-'!' < utf8.RuneSelf-'!' && s[len(s)-1]-'!' < utf8.RuneSelf-'!'
}

// laxBool accepts what pydantic's lax bool accepts from JSON.
func laxBool(v canonjson.Value) (bool, error) {
	switch v.Kind() {
	case canonjson.Bool:
		return v.Bool(), nil
	case canonjson.Int:
		switch v.IntText() {
		case "0":
			return false, nil
		case "1":
			return true, nil
		}
	case canonjson.Float:
		switch v.Float() {
		case 0:
			return false, nil
		case 1:
			return true, nil
		}
	case canonjson.String:
		switch strings.ToLower(v.Str()) {
		case "0", "off", "f", "false", "n", "no":
			return false, nil
		case "1", "on", "t", "true", "y", "yes":
			return true, nil
		}
	}
	return false, fmt.Errorf("must be a boolean, not %s", kindName(v))
}

// laxInteger accepts what pydantic's lax int accepts from JSON: an integer;
// a float with no fractional part that fits in 64 bits; a boolean; or a string
// holding an integer (surrounding white space, a sign, '_' between digits and
// a fraction of zeros allowed).
func laxInteger(v canonjson.Value) (*big.Int, error) {
	switch v.Kind() {
	case canonjson.Int:
		if i, ok := v.Int64(); ok {
			return big.NewInt(i), nil
		}
		return v.BigInt(), nil
	case canonjson.Bool:
		if v.Bool() {
			return big.NewInt(1), nil
		}
		return big.NewInt(0), nil
	case canonjson.Float:
		f := v.Float()
		if f != math.Trunc(f) {
			return nil, fmt.Errorf("must be an integer, not the float %v", f)
		}
		if f <= -(1<<63) || f >= 1<<63 { // pydantic refuses -2^63 too
			return nil, fmt.Errorf("must be an integer; the float %v is out of range", f)
		}
		return big.NewInt(int64(f)), nil
	case canonjson.String:
		if n, ok := parseLaxIntString(v.Str()); ok {
			return n, nil
		}
		return nil, fmt.Errorf("must be an integer, not the string %q", abbreviate(v.Str()))
	}
	return nil, fmt.Errorf("must be an integer, not %s", kindName(v))
}

// laxInt64 is laxInteger for fields that must fit in 64 bits; the common
// case of a plain JSON integer avoids big.Int.
func laxInt64(v canonjson.Value) (int64, error) {
	if i, ok := v.Int64(); ok {
		return i, nil
	}
	n, err := laxInteger(v)
	if err != nil {
		return 0, err
	}
	if !n.IsInt64() {
		return 0, fmt.Errorf("%s is out of range", abbreviate(n.String()))
	}
	return n.Int64(), nil
}

func parseLaxIntString(s string) (*big.Int, bool) {
	s = strings.TrimSpace(s)
	if whole, frac, ok := strings.Cut(s, "."); ok {
		if frac == "" || strings.Trim(frac, "0") != "" {
			return nil, false
		}
		s = whole
	}
	sign := ""
	if s != "" && (s[0] == '+' || s[0] == '-') {
		if s[0] == '-' {
			sign = "-"
		}
		s = s[1:]
	}
	if s == "" || s[0] == '_' || s[len(s)-1] == '_' || strings.Contains(s, "__") {
		return nil, false
	}
	digits := strings.ReplaceAll(s, "_", "")
	if len(digits) > canonjson.MaxIntDigits {
		return nil, false
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return nil, false
		}
	}
	return new(big.Int).SetString(sign+digits, 10)
}

// ---- writing ----

// appendStruct writes the struct x points to as a compact JSON object:
// members sorted by key (sorted) or in declaration order followed by the
// unknown ones. The member named skip is left out.
func appendStruct(dst []byte, x any, plan *structPlan, sorted bool, skip string) []byte {
	ref := refOf(x)
	extra := *ref.field(plan.extra).(*Extra)
	dst = append(dst, '{')
	n := len(dst) // a member that starts past n needs a comma
	member := func(dst []byte, name string) []byte {
		if len(dst) > n {
			dst = append(dst, ',')
		}
		dst = canonjson.AppendString(dst, name)
		return append(dst, ':')
	}
	field := func(dst []byte, f *field) []byte {
		if len(dst) > n {
			dst = append(dst, ',')
		}
		return appendField(append(dst, f.key...), ref.field(f.index), f, sorted)
	}
	if !sorted {
		for i := range plan.fields {
			if f := &plan.fields[i]; f.name != skip {
				dst = field(dst, f)
			}
		}
		for _, m := range extra {
			dst = canonjson.AppendCompact(member(dst, m.Key), m.Value)
		}
		return append(dst, '}')
	}
	// Merge the fields (pre-sorted) with the unknown members (sorted here).
	var stack [8]int
	order := stack[:0]
	for i := range extra {
		order = append(order, i)
		for j := len(order) - 1; j > 0 && extra[order[j]].Key < extra[order[j-1]].Key; j-- {
			order[j], order[j-1] = order[j-1], order[j]
		}
	}
	e := 0 // next of order
	for _, fi := range plan.sorted {
		f := &plan.fields[fi]
		for ; e < len(order) && extra[order[e]].Key < f.name; e++ {
			dst = canonjson.AppendCanonical(member(dst, extra[order[e]].Key), extra[order[e]].Value)
		}
		if f.name != skip {
			dst = field(dst, f)
		}
	}
	for ; e < len(order); e++ {
		dst = canonjson.AppendCanonical(member(dst, extra[order[e]].Key), extra[order[e]].Value)
	}
	return append(dst, '}')
}

// appendField writes the value of field f, which p points to. The writers
// of the field kinds below are shared with the generated appendCanonical
// methods of codec_gen.go.
func appendField(dst []byte, p any, f *field, sorted bool) []byte {
	switch f.kind {
	case kindString:
		if f.rules.hasDef {
			return appendDefaulted(dst, *p.(*string), f.rules.def)
		}
		return canonjson.AppendString(dst, *p.(*string))
	case kindBool:
		return strconv.AppendBool(dst, *p.(*bool))
	case kindInt64:
		return strconv.AppendInt(dst, *p.(*int64), 10)
	case kindTime:
		return appendTimestamp(dst, *p.(*time.Time))
	case kindBigInt:
		return appendBigInt(dst, *p.(**big.Int))
	case kindValue:
		return appendFreeForm(dst, *p.(*canonjson.Value), f.rules.object, sorted)
	case kindStrings:
		return appendStrings(dst, *p.(*[]string))
	case kindStruct:
		return appendStruct(dst, p, f.plan, sorted, "")
	case kindOptStruct:
		fv := reflect.ValueOf(p).Elem()
		if fv.IsNil() {
			return append(dst, "null"...)
		}
		return appendStruct(dst, fv.Interface(), f.plan, sorted, "")
	case kindStructSlice:
		fv := reflect.ValueOf(p).Elem()
		dst = append(dst, '[')
		for i := range fv.Len() {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendStruct(dst, fv.Index(i).Addr().Interface(), f.plan, sorted, "")
		}
		return append(dst, ']')
	default: // kindCustom
		return p.(mapCodec).appendJSON(dst, sorted)
	}
}

// appendDefaulted writes a string field that has a default: the zero value
// stands for the default, which is what is written.
func appendDefaulted(dst []byte, s, def string) []byte {
	if s == "" {
		s = def
	}
	return canonjson.AppendString(dst, s)
}

func appendBigInt(dst []byte, n *big.Int) []byte {
	if n == nil {
		return append(dst, '0')
	}
	return n.Append(dst, 10)
}

// appendFreeForm writes a free-form value; a missing object (null) is
// written as its default, {}.
func appendFreeForm(dst []byte, v canonjson.Value, object, sorted bool) []byte {
	if v.IsNull() && object {
		return append(dst, "{}"...)
	}
	if sorted {
		return canonjson.AppendCanonical(dst, v)
	}
	return canonjson.AppendCompact(dst, v)
}

func appendStrings(dst []byte, ss []string) []byte {
	dst = append(dst, '[')
	for i, s := range ss {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = canonjson.AppendString(dst, s)
	}
	return append(dst, ']')
}
