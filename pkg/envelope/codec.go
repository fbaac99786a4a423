package envelope

import (
	"fmt"
	"math"
	"math/big"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/inferencebench/bench/pkg/envelope/canonjson"
)

// This file turns canonjson Values into the typed structs of envelope.go and
// back, following the struct tags. Decoding is where the reference's
// normalisation happens: defaults for absent fields, whitespace stripping of
// every typed string, and pydantic's lax coercions (the string "42" for an
// integer, 1 for true). Encoding writes the fields in declaration order
// followed by the unknown ones, as pydantic's model_dump does.

// patterns are the named patterns of the pattern= tag. Python's \d and \w
// (pydantic uses Rust's regex crate) match Unicode digits and word
// characters, hence the \p classes.
var patterns = map[string]struct {
	re     *regexp.Regexp
	schema string // the same pattern as the reference's JSON Schema writes it
}{
	"hex64":  {regexp.MustCompile(`^[0-9a-f]{64}$`), `^[0-9a-f]{64}$`},
	"semver": {regexp.MustCompile(`^\p{Nd}+\.\p{Nd}+\.\p{Nd}+(-[\p{L}\p{M}\p{Nd}\p{Pc}\p{Nl}.]+)?$`), `^\d+\.\d+\.\d+(-[\w.]+)?$`},
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
}

// fieldKind is how a field is decoded and encoded, worked out once per type.
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
	kindCustom      // a type with its own decodeValue/encodeValue (Metrics, StringMap)
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

type structPlan struct {
	fields []field
	extra  int // index of the Extra field
}

// valueDecoder and valueEncoder are implemented by the map types (Metrics,
// StringMap), which decode and encode themselves.
type valueDecoder interface {
	decodeValue(v canonjson.Value, path *pathElem, errs *fieldErrors)
}

type valueEncoder interface {
	encodeValue() canonjson.Value
	jsonSchema() map[string]any
}

var (
	plans         sync.Map // reflect.Type -> *structPlan
	typeTime      = reflect.TypeFor[time.Time]()
	typeBigInt    = reflect.TypeFor[*big.Int]()
	typeValue     = reflect.TypeFor[canonjson.Value]()
	typeExtra     = reflect.TypeFor[Extra]()
	typeDecoder   = reflect.TypeFor[valueDecoder]()
	typeStringArr = reflect.TypeFor[[]string]()
)

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
		p.fields = append(p.fields, field{name: name, index: i, typ: sf.Type, kind: fieldKindOf(sf.Type), rules: parseRules(t, sf)})
	}
	if p.extra < 0 {
		panic("envelope: " + t.Name() + " has no Extra field")
	}
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

// decodeStruct fills the struct rv from the object v.
func decodeStruct(v canonjson.Value, rv reflect.Value, path *pathElem, errs *fieldErrors) {
	if v.Kind() != canonjson.Object {
		errs.add(path, "must be an object, not %s", kindName(v))
		return
	}
	plan := planFor(rv.Type())
	var seen uint64 // bit i: plan.fields[i] was present
	var extra Extra
	for _, m := range v.Members() {
		i := plan.lookup(m.Key)
		if i < 0 {
			extra = append(extra, m)
			continue
		}
		seen |= 1 << i
		f := &plan.fields[i]
		at := pathElem{parent: path, name: f.name, index: -1}
		decodeField(m.Value, rv.Field(f.index), f, &at, errs)
	}
	for i := range plan.fields {
		if seen&(1<<i) != 0 {
			continue
		}
		f := &plan.fields[i]
		at := pathElem{parent: path, name: f.name, index: -1}
		switch {
		case !f.rules.optional:
			errs.add(&at, "is required")
		case f.rules.hasDef:
			decodeField(canonjson.StringValue(f.rules.def), rv.Field(f.index), f, &at, errs)
		case f.rules.nonempty:
			errs.add(&at, "must contain at least one entry")
		}
	}
	*(rv.Field(plan.extra).Addr().Interface().(*Extra)) = extra
}

func (p *structPlan) lookup(name string) int {
	for i := range p.fields {
		if p.fields[i].name == name {
			return i
		}
	}
	return -1
}

func decodeField(v canonjson.Value, fv reflect.Value, f *field, path *pathElem, errs *fieldErrors) {
	r := &f.rules
	switch f.kind {
	case kindCustom:
		fv.Addr().Interface().(valueDecoder).decodeValue(v, path, errs)
		if r.nonempty && fv.Len() == 0 && v.Kind() == canonjson.Object {
			errs.add(path, "must contain at least one entry")
		}
	case kindTime:
		if v.Kind() != canonjson.String {
			errs.add(path, "must be an RFC 3339 timestamp string, not %s", kindName(v))
			return
		}
		t, err := ParseTimestamp(v.Str())
		if err != nil {
			errs.add(path, "%v", err)
			return
		}
		fv.Set(reflect.ValueOf(t))
	case kindBigInt:
		n, err := laxInteger(v)
		if err != nil {
			errs.add(path, "%v", err)
			return
		}
		fv.Set(reflect.ValueOf(n))
	case kindValue:
		if r.object && v.Kind() != canonjson.Object {
			errs.add(path, "must be an object, not %s", kindName(v))
			return
		}
		*(fv.Addr().Interface().(*canonjson.Value)) = v
	case kindStrings:
		if v.Kind() != canonjson.Array {
			errs.add(path, "must be an array of strings, not %s", kindName(v))
			return
		}
		out := make([]string, 0, v.Len())
		for i, e := range v.Elems() {
			if e.Kind() != canonjson.String {
				at := pathElem{parent: path, index: i}
				errs.add(&at, "must be a string, not %s", kindName(e))
				continue
			}
			out = append(out, strip(e.Str()))
		}
		fv.Set(reflect.ValueOf(out))
	case kindString:
		if v.Kind() != canonjson.String {
			errs.add(path, "must be a string, not %s", kindName(v))
			return
		}
		s := strip(v.Str())
		if msg := checkString(s, r); msg != "" {
			errs.add(path, "%s", msg)
		}
		fv.SetString(s)
	case kindBool:
		b, err := laxBool(v)
		if err != nil {
			errs.add(path, "%v", err)
			return
		}
		fv.SetBool(b)
	case kindInt64:
		i, err := laxInt64(v)
		if err != nil {
			errs.add(path, "%v", err)
			return
		}
		if r.min != nil && i < *r.min {
			errs.add(path, "must be at least %d, not %d", *r.min, i)
		}
		if r.max != nil && i > *r.max {
			errs.add(path, "must be at most %d, not %d", *r.max, i)
		}
		fv.SetInt(i)
	case kindStruct:
		decodeStruct(v, fv, path, errs)
	case kindOptStruct:
		if v.IsNull() {
			fv.SetZero()
			return
		}
		ptr := reflect.New(f.typ.Elem())
		decodeStruct(v, ptr.Elem(), path, errs)
		fv.Set(ptr)
	case kindStructSlice:
		if v.Kind() != canonjson.Array {
			errs.add(path, "must be an array, not %s", kindName(v))
			return
		}
		out := reflect.MakeSlice(f.typ, v.Len(), v.Len())
		for i, e := range v.Elems() {
			at := pathElem{parent: path, index: i}
			decodeStruct(e, out.Index(i), &at, errs)
		}
		fv.Set(out)
	}
}

func checkString(s string, r *rules) string {
	if r.minLen >= 0 || r.maxLen >= 0 {
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
	if r.pattern != "" && !patterns[r.pattern].re.MatchString(s) {
		if r.pattern == "hex64" {
			return fmt.Sprintf("must be 64 lowercase hex characters, not %q", abbreviate(s))
		}
		return fmt.Sprintf("must match %s, not %q", patterns[r.pattern].schema, abbreviate(s))
	}
	if r.enum != nil {
		for _, e := range r.enum {
			if s == e {
				return ""
			}
		}
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
		if f < -(1<<63) || f >= 1<<63 {
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

// encodeStruct turns a struct back into an object: the named fields in
// declaration order, then the unknown ones in their original order.
func encodeStruct(rv reflect.Value, skip string) canonjson.Value {
	plan := planFor(rv.Type())
	extra := *(rv.Field(plan.extra).Addr().Interface().(*Extra))
	members := make([]canonjson.Member, 0, len(plan.fields)+len(extra))
	for i := range plan.fields {
		f := &plan.fields[i]
		if f.name == skip {
			continue
		}
		members = append(members, canonjson.Member{Key: f.name, Value: encodeField(rv.Field(f.index), f)})
	}
	members = append(members, extra...)
	return canonjson.ObjectValue(members)
}

var emptyObject = canonjson.ObjectValue([]canonjson.Member{})

func encodeField(fv reflect.Value, f *field) canonjson.Value {
	switch f.kind {
	case kindCustom:
		return fv.Interface().(valueEncoder).encodeValue()
	case kindTime:
		return canonjson.StringValue(FormatTimestamp(*(fv.Addr().Interface().(*time.Time))))
	case kindBigInt:
		if fv.IsNil() {
			return canonjson.IntValue(0)
		}
		return canonjson.BigIntValue(fv.Interface().(*big.Int))
	case kindValue:
		v := *(fv.Addr().Interface().(*canonjson.Value))
		if v.IsNull() && f.rules.object {
			return emptyObject
		}
		return v
	case kindStrings:
		ss := *(fv.Addr().Interface().(*[]string))
		elems := make([]canonjson.Value, len(ss))
		for i, s := range ss {
			elems[i] = canonjson.StringValue(s)
		}
		return canonjson.ArrayValue(elems)
	case kindString:
		s := fv.String()
		if s == "" && f.rules.hasDef {
			s = f.rules.def
		}
		return canonjson.StringValue(s)
	case kindBool:
		return canonjson.BoolValue(fv.Bool())
	case kindInt64:
		return canonjson.IntValue(fv.Int())
	case kindStruct:
		return encodeStruct(fv, "")
	case kindOptStruct:
		if fv.IsNil() {
			return canonjson.NullValue()
		}
		return encodeStruct(fv.Elem(), "")
	default: // kindStructSlice
		elems := make([]canonjson.Value, fv.Len())
		for i := range elems {
			elems[i] = encodeStruct(fv.Index(i), "")
		}
		return canonjson.ArrayValue(elems)
	}
}
