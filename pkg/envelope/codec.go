package envelope

import (
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
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

type rules struct {
	optional bool
	def      string // default when absent ("" means the zero value)
	hasDef   bool
	minLen   int // in characters; -1 when unset
	maxLen   int
	pattern  string
	min, max *int64
	enum     []string
	nonempty bool
	object   bool
}

type field struct {
	name  string
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
	fields []field
	sorted []int // indexes into fields, by name
	extra  int   // index of the Extra field in the struct
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

func planFor(t reflect.Type) *structPlan {
	if p, ok := plans.Load(t); ok {
		return p.(*structPlan)
	}
	p := &structPlan{extra: -1}
	for i := range t.NumField() {
		sf := t.Field(i)
		if sf.Type == typeExtra {
			p.extra = i
			continue
		}
		name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		f := field{name: name, index: i, typ: sf.Type, kind: fieldKindOf(sf.Type), rules: parseRules(t, sf)}
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
	for i := range p.fields {
		p.sorted = append(p.sorted, i)
	}
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
			if _, ok := patterns[val]; !ok {
				bad(item)
			}
			r.pattern = val
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

// ---- reading ----

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

// decodeStruct fills the struct rv from the object at the decoder. Schema
// violations go to errs and decoding goes on; a syntax error stops it.
func decodeStruct(st *decodeState, rv reflect.Value, plan *structPlan) error {
	d := st.d
	if ok, err := st.expect(canonjson.Object, "an object"); !ok {
		return err
	}
	if err := d.BeginObject(); err != nil {
		return err
	}
	var seen uint64 // bit i: plan.fields[i] was present
	next := 0       // documents usually follow declaration order: try that field first
	var extra Extra
	for {
		key, more, err := d.NextKey()
		if err != nil {
			return err
		}
		if !more {
			break
		}
		i := plan.lookup(key, next)
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
		st.pushField(f.name)
		if err := decodeField(st, rv.Field(f.index), f); err != nil {
			return err
		}
		st.pop()
	}
	for i := range plan.fields {
		if seen&(1<<i) != 0 {
			continue
		}
		f := &plan.fields[i]
		st.pushField(f.name)
		switch {
		case !f.rules.optional:
			st.fail("is required")
		case f.rules.hasDef:
			decodeScalar(st, canonjson.StringValue(f.rules.def), rv.Field(f.index), f)
		case f.rules.nonempty:
			st.fail("must contain at least one entry")
		}
		st.pop()
	}
	*(rv.Field(plan.extra).Addr().Interface().(*Extra)) = extra
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
		if key != rawKey && slices.ContainsFunc(members, func(m canonjson.Member) bool { return m.Key == key }) ||
			key == rawKey && st.strippedCollision(members, key) {
			st.pushKey(key)
			st.fail("duplicate key after whitespace stripping")
			st.pop()
			continue
		}
		members = append(members, canonjson.Member{Key: key, Value: v})
	}
	return canonjson.ObjectValue(members), nil
}

// strippedCollision reports whether key, which needed no stripping, equals
// an earlier key that did.
func (st *decodeState) strippedCollision(members []canonjson.Member, key string) bool {
	return slices.ContainsFunc(members, func(m canonjson.Member) bool { return m.Key == key })
}

// lookup returns the index of the field called name, or -1; hint is where
// to look first.
func (p *structPlan) lookup(name string, hint int) int {
	if hint < len(p.fields) && p.fields[hint].name == name {
		return hint
	}
	for i := range p.fields {
		if p.fields[i].name == name {
			return i
		}
	}
	return -1
}

func decodeField(st *decodeState, fv reflect.Value, f *field) error {
	d := st.d
	switch f.kind {
	case kindCustom:
		before := len(st.errs)
		if err := fv.Addr().Interface().(mapDecoder).decodeJSON(st); err != nil {
			return err
		}
		if f.rules.nonempty && fv.Len() == 0 && len(st.errs) == before {
			st.fail("must contain at least one entry")
		}
		return nil
	case kindValue:
		v, err := st.decodeFreeFormObject()
		if err != nil {
			return err
		}
		*(fv.Addr().Interface().(*canonjson.Value)) = v
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
		fv.Set(reflect.ValueOf(out))
		return nil
	case kindStruct:
		return decodeStruct(st, fv, f.plan)
	case kindOptStruct:
		if k, err := d.Peek(); err != nil {
			return err
		} else if k == canonjson.Null {
			_, err := readAny(d)
			fv.SetZero()
			return err
		}
		ptr := reflect.New(f.typ.Elem())
		if err := decodeStruct(st, ptr.Elem(), f.plan); err != nil {
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
		out := reflect.MakeSlice(f.typ, 0, 8)
		for i := 0; ; i++ {
			more, err := d.NextElem()
			if err != nil {
				return err
			}
			if !more {
				break
			}
			out = reflect.Append(out, reflect.Zero(f.typ.Elem()))
			st.pushIndex(i)
			if err := decodeStruct(st, out.Index(i), f.plan); err != nil {
				return err
			}
			st.pop()
		}
		fv.Set(out)
		return nil
	}
	v, err := readAny(d)
	if err != nil {
		return err
	}
	decodeScalar(st, v, fv, f)
	return nil
}

// decodeScalar handles the fields that hold one JSON scalar.
func decodeScalar(st *decodeState, v canonjson.Value, fv reflect.Value, f *field) {
	r := &f.rules
	switch f.kind {
	case kindString:
		if v.Kind() != canonjson.String {
			st.fail("must be a string, not %s", kindName(v))
			return
		}
		s := v.Str()
		if r.enum == nil { // pydantic strips str fields, but not Literal ones
			s = strip(s)
		}
		if msg := checkString(s, r); msg != "" {
			st.fail("%s", msg)
		}
		fv.SetString(s)
	case kindBool:
		b, err := laxBool(v)
		if err != nil {
			st.fail("%v", err)
			return
		}
		fv.SetBool(b)
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
		fv.SetInt(i)
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
		*(fv.Addr().Interface().(*time.Time)) = t
	case kindBigInt:
		n, err := laxInteger(v)
		if err != nil {
			st.fail("%v", err)
			return
		}
		fv.Set(reflect.ValueOf(n))
	}
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
	if r.pattern != "" && !patterns[r.pattern].match(s) {
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
	// Fast path: nothing to strip.
	if len(s) > 0 && s[0] > ' ' && s[0] < utf8.RuneSelf && s[len(s)-1] > ' ' && s[len(s)-1] < utf8.RuneSelf {
		return s
	}
	return strings.TrimSpace(s)
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

// appendStruct writes the struct rv as a compact JSON object: members sorted
// by key (sorted) or in declaration order followed by the unknown ones. The
// member named skip is left out.
func appendStruct(dst []byte, rv reflect.Value, plan *structPlan, sorted bool, skip string) []byte {
	extra := *(rv.Field(plan.extra).Addr().Interface().(*Extra))
	dst = append(dst, '{')
	first := true
	member := func(dst []byte, name string) []byte {
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = canonjson.AppendString(dst, name)
		return append(dst, ':')
	}
	if !sorted {
		for i := range plan.fields {
			f := &plan.fields[i]
			if f.name != skip {
				dst = appendField(member(dst, f.name), rv.Field(f.index), f, false)
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
	x := 0
	for _, fi := range plan.sorted {
		f := &plan.fields[fi]
		for ; x < len(order) && extra[order[x]].Key < f.name; x++ {
			dst = canonjson.AppendCanonical(member(dst, extra[order[x]].Key), extra[order[x]].Value)
		}
		if f.name != skip {
			dst = appendField(member(dst, f.name), rv.Field(f.index), f, true)
		}
	}
	for ; x < len(order); x++ {
		dst = canonjson.AppendCanonical(member(dst, extra[order[x]].Key), extra[order[x]].Value)
	}
	return append(dst, '}')
}

func appendField(dst []byte, fv reflect.Value, f *field, sorted bool) []byte {
	switch f.kind {
	case kindString:
		s := fv.String()
		if s == "" && f.rules.hasDef {
			s = f.rules.def
		}
		return canonjson.AppendString(dst, s)
	case kindBool:
		return strconv.AppendBool(dst, fv.Bool())
	case kindInt64:
		return strconv.AppendInt(dst, fv.Int(), 10)
	case kindTime:
		return appendTimestamp(dst, *(fv.Addr().Interface().(*time.Time)))
	case kindBigInt:
		if fv.IsNil() {
			return append(dst, '0')
		}
		return fv.Interface().(*big.Int).Append(dst, 10)
	case kindValue:
		v := *(fv.Addr().Interface().(*canonjson.Value))
		if v.IsNull() && f.rules.object {
			return append(dst, "{}"...)
		}
		if sorted {
			return canonjson.AppendCanonical(dst, v)
		}
		return canonjson.AppendCompact(dst, v)
	case kindStrings:
		dst = append(dst, '[')
		for i, s := range *(fv.Addr().Interface().(*[]string)) {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = canonjson.AppendString(dst, s)
		}
		return append(dst, ']')
	case kindStruct:
		return appendStruct(dst, fv, f.plan, sorted, "")
	case kindOptStruct:
		if fv.IsNil() {
			return append(dst, "null"...)
		}
		return appendStruct(dst, fv.Elem(), f.plan, sorted, "")
	case kindStructSlice:
		dst = append(dst, '[')
		for i := range fv.Len() {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendStruct(dst, fv.Index(i), f.plan, sorted, "")
		}
		return append(dst, ']')
	default: // kindCustom
		return fv.Addr().Interface().(mapCodec).appendJSON(dst, sorted)
	}
}
