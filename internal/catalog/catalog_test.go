package catalog

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// hashOf returns a deterministic, well-formed content hash for a label.
func hashOf(label string) string {
	h := sha256.Sum256([]byte(label))
	return hex.EncodeToString(h[:])
}

// envelopeBytes builds an envelope-like JSON document of roughly size bytes
// that differs per hash, so that stored bodies are distinct.
func envelopeBytes(hash string, size int) []byte {
	var b strings.Builder
	b.Grow(size + 128)
	fmt.Fprintf(&b, `{"envelope_version":"v1","content_hash_hint":%q,"warnings":[`, hash)
	for i := 0; b.Len() < size-8; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%q", hashOf(fmt.Sprint(hash, i))[:48])
	}
	b.WriteString("]}")
	return []byte(b.String())
}

// baseTime is the test corpus's epoch.
var baseTime = time.Date(2026, 3, 14, 15, 9, 26, 535897000, time.UTC)

// testEntry returns entry i of the test corpus: fields drawn from small sets
// so that filters select different subsets, timestamps that tie between
// entries (to exercise tie-breaks), and a metric that some entries lack.
func testEntry(i int) Entry {
	h := hashOf(fmt.Sprintf("entry-%d", i))
	e := Entry{
		ContentHash:         h,
		RunID:               fmt.Sprintf("run-%d", i),
		SuiteID:             []string{"chat", "rag", "code"}[i%3],
		SuiteVersion:        "1.2.3",
		ModelID:             []string{"llama-3-8b", "qwen-2-7b", "mistral-7b", "phi-3"}[i%4],
		ModelRevision:       "abcdef0",
		Provider:            "hf",
		EngineName:          []string{"vllm", "sglang"}[i%2],
		EngineVersion:       "0.6.1",
		DatasetID:           []string{"sharegpt", "lmsys"}[(i/2)%2],
		HardwareFingerprint: hashOf(fmt.Sprintf("hw-%d", i%5)),
		GPUModel:            []string{"NVIDIA H100 80GB HBM3", "NVIDIA A100-SXM4-80GB", ""}[i%3],
		GPUCount:            []int{8, 4, 0}[i%3],
		Timestamp:           baseTime.Add(time.Duration(i%17) * time.Minute),
		SignatureMethod:     MethodDevKey,
		SignerKeyID:         "dev-1",
		VerifiedAt:          baseTime.Add(time.Hour + time.Duration(i)*time.Second),
		EnvelopeURI:         "s3://bench/envelopes/" + h + ".json",
		TracesURI:           "s3://bench/traces/" + h + ".parquet",
		JobID:               []string{"", "job-1", "job-2"}[i%3],
		BatchID:             []string{"", "batch-a", "batch-b", "batch-a"}[i%4],
		Metrics: map[string]float64{
			"throughput_tok_per_s": float64(1000 + (i*7919)%500),
		},
		Envelope: envelopeBytes(h, 600),
	}
	if i%4 != 0 {
		e.Metrics["ttft_p50_ms"] = float64((i*37)%11) + 0.5
	}
	if i%5 == 0 {
		e.SignatureMethod, e.SignerKeyID = MethodKeyless, ""
		e.SignerIdentity, e.SignerIssuer = "https://github.com/org/repo/.github/workflows/bench.yml@refs/heads/main", "https://token.actions.githubusercontent.com"
	}
	return e
}

func corpus(n int) []Entry {
	es := make([]Entry, n)
	for i := range es {
		es[i] = testEntry(i)
	}
	return es
}

func openTemp(t testing.TB) (*SQLite, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "catalog.db")
	c, err := OpenSQLite(path)
	if err != nil {
		t.Fatalf("OpenSQLite: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c, path
}

func mustPut(t testing.TB, c Catalog, es ...Entry) []bool {
	t.Helper()
	ins, err := c.Put(context.Background(), es...)
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	if len(ins) != len(es) {
		t.Fatalf("Put returned %d flags for %d entries", len(ins), len(es))
	}
	return ins
}

// stored returns e as the catalog gives it back: times in UTC, truncated to
// microseconds, metrics never nil.
func stored(e Entry) Entry {
	e.Timestamp = e.Timestamp.Truncate(time.Microsecond).UTC()
	e.VerifiedAt = e.VerifiedAt.Truncate(time.Microsecond).UTC()
	if e.Metrics == nil {
		e.Metrics = map[string]float64{}
	}
	return e
}

func diffEntry(t *testing.T, got, want Entry) {
	t.Helper()
	if reflect.DeepEqual(got, want) {
		return
	}
	gv, wv := reflect.ValueOf(got), reflect.ValueOf(want)
	for i := 0; i < gv.NumField(); i++ {
		if !reflect.DeepEqual(gv.Field(i).Interface(), wv.Field(i).Interface()) {
			t.Errorf("field %s: got %v, want %v", gv.Type().Field(i).Name, gv.Field(i).Interface(), wv.Field(i).Interface())
		}
	}
}

func TestRoundTripEveryField(t *testing.T) {
	c, _ := openTemp(t)
	ctx := context.Background()
	// A zone other than UTC and sub-microsecond digits: the catalog returns
	// the same instant in UTC, truncated to microseconds.
	zone := time.FixedZone("UTC+5:30", 5*3600+1800)
	body := append(envelopeBytes("x", 5000), 0x00, 0xff, 0xfe, '\n') // bytes, not text
	e := Entry{
		ContentHash:         hashOf("round-trip"),
		RunID:               "0190a5f2-7c3e-7b8a-9d1e-1234567890ab",
		SuiteID:             "chat-latency",
		SuiteVersion:        "2.0.1-rc.1",
		ModelID:             "meta-llama/Llama-3.1-8B-Instruct",
		ModelRevision:       "0e9e39f249a16976918f6564b8830bc894c89659",
		Provider:            "huggingface",
		EngineName:          "vllm",
		EngineVersion:       "0.6.3.post1",
		DatasetID:           "sharegpt-v3",
		HardwareFingerprint: hashOf("hw"),
		GPUModel:            "NVIDIA H100 80GB HBM3",
		GPUCount:            8,
		Timestamp:           time.Date(2026, 1, 2, 3, 4, 5, 123456789, zone),
		SignatureMethod:     MethodKeyless,
		SignerKeyID:         "",
		SignerIdentity:      "https://github.com/o/r/.github/workflows/b.yml@refs/heads/main",
		SignerIssuer:        "https://token.actions.githubusercontent.com",
		VerifiedAt:          time.Date(2026, 1, 2, 3, 5, 0, 999999999, zone),
		EnvelopeURI:         "s3://bench/envelopes/ab/cd.json",
		TracesURI:           "s3://bench/traces/sha256-ef.parquet",
		JobID:               "job-42",
		BatchID:             "batch-7",
		Metrics: map[string]float64{
			"ttft_p50_ms":          12.345678901234567,
			"output_tok_per_s":     612,
			"tiny":                 5e-324,
			"huge":                 math.MaxFloat64,
			"big_integral":         1e20,
			"negative":             -0.1,
			"zero":                 0,
			"energy_j":             123456789012345680,
			"name with spaces & ü": 1,
		},
		Envelope: body,
	}
	if ins := mustPut(t, c, e); !ins[0] {
		t.Fatal("first Put reported inserted=false")
	}
	want := stored(e)
	if want.Timestamp.Nanosecond() != 123456000 || want.Timestamp.Hour() != 21 {
		t.Fatalf("test setup: %v", want.Timestamp)
	}

	got, err := c.Get(ctx, e.ContentHash)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	diffEntry(t, got, want)
	if got.Timestamp.Location() != time.UTC || got.VerifiedAt.Location() != time.UTC {
		t.Errorf("times not in UTC: %v %v", got.Timestamp.Location(), got.VerifiedAt.Location())
	}

	list, err := c.List(ctx, Filter{})
	if err != nil || len(list) != 1 {
		t.Fatalf("List: %v, %d entries", err, len(list))
	}
	noBody := want
	noBody.Envelope = nil
	diffEntry(t, list[0], noBody)

	list, err = c.List(ctx, Filter{WithEnvelope: true})
	if err != nil || len(list) != 1 {
		t.Fatalf("List WithEnvelope: %v, %d entries", err, len(list))
	}
	diffEntry(t, list[0], want)

	// The side table holds the same values as the JSON column (it is what
	// metric ordering sorts on).
	rows, err := c.r.Query("SELECT name, value FROM entry_metrics WHERE content_hash = ?", e.ContentHash)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	side := map[string]float64{}
	for rows.Next() {
		var n string
		var v float64
		if err := rows.Scan(&n, &v); err != nil {
			t.Fatal(err)
		}
		side[n] = v
	}
	if !reflect.DeepEqual(side, e.Metrics) {
		t.Errorf("metrics side table = %v, want %v", side, e.Metrics)
	}
}

func TestPutIdempotent(t *testing.T) {
	c, _ := openTemp(t)
	ctx := context.Background()
	a, b := testEntry(1), testEntry(2)

	if got := mustPut(t, c, a, a); !slices.Equal(got, []bool{true, false}) {
		t.Errorf("Put(a, a) = %v, want [true false]", got)
	}
	// A second delivery of a, even with different extracted fields, leaves
	// the stored entry as it was.
	a2 := a
	a2.ModelID, a2.Metrics, a2.Envelope = "other", map[string]float64{"x": 1}, []byte("{}")
	if got := mustPut(t, c, a2, b); !slices.Equal(got, []bool{false, true}) {
		t.Errorf("Put(a', b) = %v, want [false true]", got)
	}
	if got := mustPut(t, c, b, a); !slices.Equal(got, []bool{false, false}) {
		t.Errorf("Put(b, a) = %v, want [false false]", got)
	}
	got, err := c.Get(ctx, a.ContentHash)
	if err != nil {
		t.Fatal(err)
	}
	diffEntry(t, got, stored(a))
	if n, err := c.Count(ctx, Filter{}); err != nil || n != 2 {
		t.Errorf("Count = %d, %v; want 2", n, err)
	}
	var metricRows int
	if err := c.r.QueryRow("SELECT count(*) FROM metrics").Scan(&metricRows); err != nil || metricRows != len(a.Metrics)+len(b.Metrics) {
		t.Errorf("metrics rows = %d, %v; want %d", metricRows, err, len(a.Metrics)+len(b.Metrics))
	}
	if got, err := c.Put(ctx); err != nil || len(got) != 0 {
		t.Errorf("Put() = %v, %v", got, err)
	}
}

func TestPutRejectsInvalidAtomically(t *testing.T) {
	c, _ := openTemp(t)
	ctx := context.Background()
	mutate := map[string]func(*Entry){
		"short hash":     func(e *Entry) { e.ContentHash = "abc" },
		"uppercase hash": func(e *Entry) { e.ContentHash = strings.ToUpper(e.ContentHash) },
		"zero timestamp": func(e *Entry) { e.Timestamp = time.Time{} },
		"zero verified":  func(e *Entry) { e.VerifiedAt = time.Time{} },
		"empty envelope": func(e *Entry) { e.Envelope = nil },
		"NaN metric":     func(e *Entry) { e.Metrics["bad"] = math.NaN() },
		"Inf metric":     func(e *Entry) { e.Metrics["bad"] = math.Inf(-1) },
		"empty metric":   func(e *Entry) { e.Metrics[""] = 1 },
		"unknown method": func(e *Entry) { e.SignatureMethod = "gpg" },
		"negative gpus":  func(e *Entry) { e.GPUCount = -1 },
	}
	for name, m := range mutate {
		t.Run(name, func(t *testing.T) {
			bad := testEntry(7)
			m(&bad)
			ins, err := c.Put(ctx, testEntry(1), bad)
			if !errors.Is(err, ErrInvalid) || ins != nil {
				t.Fatalf("Put = %v, %v; want nil, ErrInvalid", ins, err)
			}
			if n, _ := c.Count(ctx, Filter{}); n != 0 {
				t.Fatalf("a failed Put stored %d entries", n)
			}
		})
	}
}

// matches is the reference semantics of a Filter, against which the SQL is
// checked.
func matches(e Entry, f Filter) bool {
	eq := func(want, got string) bool { return want == "" || want == got }
	return eq(f.ModelID, e.ModelID) && eq(f.EngineName, e.EngineName) && eq(f.SuiteID, e.SuiteID) &&
		eq(f.GPUModel, e.GPUModel) && eq(f.HardwareFingerprint, e.HardwareFingerprint) &&
		eq(f.DatasetID, e.DatasetID) && eq(f.JobID, e.JobID) && eq(f.BatchID, e.BatchID) &&
		strings.HasPrefix(e.ContentHash, strings.ToLower(f.ContentHashPrefix)) &&
		(f.Since.IsZero() || !e.Timestamp.Before(f.Since)) &&
		(f.Until.IsZero() || e.Timestamp.Before(f.Until)) &&
		(f.VerifiedAfter.IsZero() || e.VerifiedAt.After(f.VerifiedAfter))
}

// reference returns the hashes List(f) must return, in order, computed
// directly from the entries.
func reference(es []Entry, f Filter) []string {
	var sel []Entry
	for _, e := range es {
		if matches(stored(e), f) {
			sel = append(sel, stored(e))
		}
	}
	key := strings.TrimPrefix(strings.TrimPrefix(f.OrderBy, "+"), "-")
	asc := strings.HasPrefix(f.OrderBy, "+")
	slices.SortFunc(sel, func(a, b Entry) int {
		var c int
		switch {
		case key == "" || key == "timestamp":
			c = a.Timestamp.Compare(b.Timestamp)
		case key == "verified_at":
			c = a.VerifiedAt.Compare(b.VerifiedAt)
		default:
			name := strings.TrimPrefix(key, "metric:")
			av, aok := a.Metrics[name]
			bv, bok := b.Metrics[name]
			switch {
			case aok != bok && aok:
				return -1 // present before missing, whatever the direction
			case aok != bok:
				return 1
			case aok:
				c = cmpFloat(av, bv)
			}
		}
		if c == 0 {
			c = strings.Compare(a.ContentHash, b.ContentHash)
		}
		if !asc {
			c = -c
		}
		return c
	})
	limit := f.Limit
	if limit == 0 {
		limit = DefaultLimit
	}
	out := []string{}
	for i := f.Offset; i < len(sel) && i < f.Offset+limit; i++ {
		out = append(out, sel[i].ContentHash)
	}
	return out
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func hashes(es []Entry) []string {
	out := []string{}
	for _, e := range es {
		out = append(out, e.ContentHash)
	}
	return out
}

func TestFiltersAndOrdering(t *testing.T) {
	c, _ := openTemp(t)
	ctx := context.Background()
	es := corpus(90)
	// Some timestamps carry nanoseconds to exercise the bound rounding.
	es[3].Timestamp = es[3].Timestamp.Add(999)
	es[4].Timestamp = es[4].Timestamp.Add(-1)
	for i := 0; i < len(es); i += 30 {
		mustPut(t, c, es[i:i+30]...)
	}
	e5 := es[5]
	cases := map[string]Filter{
		"all":                 {},
		"model":               {ModelID: "qwen-2-7b"},
		"engine":              {EngineName: "sglang"},
		"suite":               {SuiteID: "rag"},
		"gpu":                 {GPUModel: "NVIDIA A100-SXM4-80GB"},
		"hardware":            {HardwareFingerprint: hashOf("hw-3")},
		"dataset":             {DatasetID: "lmsys"},
		"job":                 {JobID: "job-2"},
		"batch":               {BatchID: "batch-a"},
		"prefix full":         {ContentHashPrefix: e5.ContentHash},
		"prefix upper":        {ContentHashPrefix: strings.ToUpper(e5.ContentHash[:10])},
		"prefix one digit":    {ContentHashPrefix: e5.ContentHash[:1]},
		"since":               {Since: baseTime.Add(10 * time.Minute)},
		"since with ns":       {Since: stored(es[3]).Timestamp.Add(1)},
		"until":               {Until: baseTime.Add(5 * time.Minute)},
		"until with ns":       {Until: stored(es[4]).Timestamp.Add(1)},
		"since until":         {Since: baseTime.Add(3 * time.Minute), Until: baseTime.Add(7 * time.Minute)},
		"verified after":      {VerifiedAfter: baseTime.Add(time.Hour + 60*time.Second)},
		"verified after ns":   {VerifiedAfter: baseTime.Add(time.Hour + 60*time.Second - 1)},
		"combined":            {EngineName: "vllm", SuiteID: "chat", Since: baseTime.Add(2 * time.Minute)},
		"no match":            {ModelID: "nope"},
		"order +timestamp":    {OrderBy: "+timestamp"},
		"order -timestamp":    {OrderBy: "-timestamp"},
		"order verified_at":   {OrderBy: "verified_at"},
		"order +verified_at":  {OrderBy: "+verified_at"},
		"order metric desc":   {OrderBy: "metric:ttft_p50_ms"},
		"order metric asc":    {OrderBy: "+metric:ttft_p50_ms"},
		"order metric absent": {OrderBy: "metric:no_such_metric"},
		"order metric filter": {OrderBy: "+metric:throughput_tok_per_s", ModelID: "phi-3"},
		"limit":               {Limit: 7},
		"limit offset":        {Limit: 7, Offset: 20},
		"offset past end":     {Offset: 1000},
		"metric page":         {OrderBy: "+metric:ttft_p50_ms", Limit: 10, Offset: 60},
		"metric page missing": {OrderBy: "+metric:ttft_p50_ms", Limit: 5, Offset: 80},
		"metric absent page":  {OrderBy: "metric:no_such_metric", Limit: 5, Offset: 20},
		"max limit":           {Limit: MaxLimit},
	}
	for name, f := range cases {
		t.Run(name, func(t *testing.T) {
			want := reference(es, f)
			got, err := c.List(ctx, f)
			if err != nil {
				t.Fatalf("List: %v", err)
			}
			if !slices.Equal(hashes(got), want) {
				t.Errorf("List(%+v)\n got %d: %v\nwant %d: %v", f, len(got), hashes(got), len(want), want)
			}
			for _, e := range got {
				if e.Envelope != nil {
					t.Fatalf("List without WithEnvelope returned envelope bytes")
				}
			}
			all := f
			all.Limit, all.Offset = MaxLimit, 0
			n, err := c.Count(ctx, f)
			if wantN := len(reference(es, all)); err != nil || n != wantN {
				t.Errorf("Count = %d, %v; want %d", n, err, wantN)
			}
		})
	}
	// Sanity: the cases above really select proper subsets.
	for _, name := range []string{"model", "since with ns", "until with ns", "verified after ns", "combined"} {
		if n := len(reference(es, cases[name])); n == 0 || n == len(es) {
			t.Errorf("case %q selects %d of %d entries: not a useful test", name, n, len(es))
		}
	}

	t.Run("pages concatenate", func(t *testing.T) {
		for _, order := range []string{"timestamp", "+metric:ttft_p50_ms", "metric:ttft_p50_ms"} {
			var paged []string
			for off := 0; ; off += 13 {
				page, err := c.List(ctx, Filter{OrderBy: order, Limit: 13, Offset: off})
				if err != nil {
					t.Fatal(err)
				}
				paged = append(paged, hashes(page)...)
				if len(page) < 13 {
					break
				}
			}
			if want := reference(es, Filter{OrderBy: order, Limit: MaxLimit}); !slices.Equal(paged, want) {
				t.Errorf("%s: pages differ from the full order", order)
			}
		}
	})

	t.Run("with envelope", func(t *testing.T) {
		got, err := c.List(ctx, Filter{ModelID: "phi-3", WithEnvelope: true, OrderBy: "+verified_at"})
		if err != nil {
			t.Fatal(err)
		}
		var want []Entry
		for _, e := range es {
			if e.ModelID == "phi-3" {
				want = append(want, stored(e))
			}
		}
		if len(got) != len(want) {
			t.Fatalf("got %d entries, want %d", len(got), len(want))
		}
		for i := range got {
			diffEntry(t, got[i], want[i])
		}
	})
}

func TestFilterValidation(t *testing.T) {
	c, _ := openTemp(t)
	ctx := context.Background()
	for name, f := range map[string]Filter{
		"limit too large": {Limit: MaxLimit + 1},
		"negative limit":  {Limit: -1},
		"negative offset": {Offset: -1},
		"unknown order":   {OrderBy: "model"},
		"empty metric":    {OrderBy: "metric:"},
		"double sign":     {OrderBy: "+-timestamp"},
		"non-hex prefix":  {ContentHashPrefix: "xyz"},
		"long prefix":     {ContentHashPrefix: strings.Repeat("a", 65)},
	} {
		if _, err := c.List(ctx, f); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: List error = %v, want ErrInvalid", name, err)
		}
	}
	// Count ignores paging and ordering but still checks the filter.
	if _, err := c.Count(ctx, Filter{Limit: -5, OrderBy: "bogus"}); err != nil {
		t.Errorf("Count with paging fields: %v", err)
	}
	if _, err := c.Count(ctx, Filter{ContentHashPrefix: "zz"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("Count with bad prefix: %v, want ErrInvalid", err)
	}
}

func TestGetByPrefix(t *testing.T) {
	c, _ := openTemp(t)
	ctx := context.Background()
	// Find two corpus entries whose hashes share their first 8 digits is
	// unlikely, so make them: entries with crafted hashes.
	a, b, d := testEntry(1), testEntry(2), testEntry(3)
	a.ContentHash = "deadbeef00" + a.ContentHash[10:]
	b.ContentHash = "deadbeef01" + b.ContentHash[10:]
	d.ContentHash = "0123456789" + d.ContentHash[10:]
	mustPut(t, c, a, b, d)

	for _, tc := range []struct {
		in   string
		want string
		err  error
	}{
		{in: a.ContentHash, want: a.ContentHash},
		{in: strings.ToUpper(a.ContentHash), want: a.ContentHash},
		{in: "  " + d.ContentHash[:8] + "\n", want: d.ContentHash},
		{in: "deadbeef00", want: a.ContentHash},
		{in: "deadbeef01", want: b.ContentHash},
		{in: "deadbeef0", err: ErrAmbiguous},
		{in: "deadbeef", err: ErrAmbiguous},
		{in: "deadbeee", err: ErrNotFound},
		{in: "ffffffff", err: ErrNotFound},
		{in: hashOf("absent"), err: ErrNotFound},
		{in: "deadbee", err: ErrInvalid},
		{in: "", err: ErrInvalid},
		{in: "deadbeefzz", err: ErrInvalid},
		{in: a.ContentHash + "0", err: ErrInvalid},
	} {
		got, err := c.Get(ctx, tc.in)
		if tc.err != nil {
			if !errors.Is(err, tc.err) {
				t.Errorf("Get(%q) error = %v, want %v", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got.ContentHash != tc.want {
			t.Errorf("Get(%q) = %s, %v; want %s", tc.in, got.ContentHash, err, tc.want)
		}
		if len(got.Envelope) == 0 {
			t.Errorf("Get(%q) returned no envelope", tc.in)
		}
	}
}

func TestPutCanceledStoresNothing(t *testing.T) {
	c, _ := openTemp(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if ins, err := c.Put(ctx, corpus(3)...); err == nil || ins != nil {
		t.Fatalf("Put with a canceled context = %v, %v; want an error", ins, err)
	}
	if n, err := c.Count(context.Background(), Filter{}); err != nil || n != 0 {
		t.Fatalf("Count = %d, %v; want 0", n, err)
	}
	// The writer connection is still usable.
	mustPut(t, c, corpus(3)...)
}

func TestPingAndClose(t *testing.T) {
	c, _ := openTemp(t)
	ctx := context.Background()
	if err := c.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := c.Ping(ctx); err == nil {
		t.Error("Ping after Close succeeded")
	}
	if _, err := c.Put(ctx, testEntry(1)); err == nil {
		t.Error("Put after Close succeeded")
	}
}

func TestCount(t *testing.T) {
	c, _ := openTemp(t)
	ctx := context.Background()
	if n, err := c.Count(ctx, Filter{}); err != nil || n != 0 {
		t.Fatalf("empty Count = %d, %v", n, err)
	}
	es := corpus(150) // more than DefaultLimit
	mustPut(t, c, es...)
	if n, err := c.Count(ctx, Filter{}); err != nil || n != 150 {
		t.Errorf("Count = %d, %v; want 150", n, err)
	}
	if got, _ := c.List(ctx, Filter{}); len(got) != DefaultLimit {
		t.Errorf("List with Limit 0 returned %d, want %d", len(got), DefaultLimit)
	}
	if n, _ := c.Count(ctx, Filter{EngineName: "vllm", Limit: 3}); n != 75 {
		t.Errorf("Count(vllm) = %d, want 75", n)
	}
}

func TestConcurrentWritersAndReaders(t *testing.T) {
	c, _ := openTemp(t)
	ctx := context.Background()
	const (
		writers = 4
		batches = 12
		size    = 8
		unique  = 2 * batches * size // writers overlap: each entry is written by two writers
	)
	es := corpus(unique)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		inserted = map[string]int{}
		done     = make(chan struct{})
		errs     = make(chan error, 16)
	)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			half := (w % 2) * (unique / 2)
			for b := 0; b < batches; b++ {
				// Writers 0 and 2 (1 and 3) write the same entries, in
				// opposite orders, so that they race on the same hashes.
				i := b
				if w >= 2 {
					i = batches - 1 - b
				}
				batch := es[half+i*size : half+(i+1)*size]
				ins, err := c.Put(ctx, batch...)
				if err != nil {
					errs <- fmt.Errorf("writer %d: %w", w, err)
					return
				}
				mu.Lock()
				for j, ok := range ins {
					if ok {
						inserted[batch[j].ContentHash]++
					}
				}
				mu.Unlock()
			}
		}(w)
	}
	var rg sync.WaitGroup
	for r := 0; r < 4; r++ {
		rg.Add(1)
		go func(r int) {
			defer rg.Done()
			last := 0
			for {
				select {
				case <-done:
					return
				default:
				}
				n, err := c.Count(ctx, Filter{})
				if err != nil {
					errs <- fmt.Errorf("reader %d: Count: %w", r, err)
					return
				}
				if n < last {
					errs <- fmt.Errorf("reader %d: count went back from %d to %d", r, last, n)
					return
				}
				last = n
				list, err := c.List(ctx, Filter{OrderBy: "+metric:ttft_p50_ms", Limit: 20, WithEnvelope: r%2 == 0})
				if err != nil {
					errs <- fmt.Errorf("reader %d: List: %w", r, err)
					return
				}
				for _, e := range list {
					if _, err := c.Get(ctx, e.ContentHash[:12]); err != nil {
						errs <- fmt.Errorf("reader %d: Get listed entry: %w", r, err)
						return
					}
				}
			}
		}(r)
	}
	wg.Wait()
	close(done)
	rg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if len(inserted) != unique {
		t.Errorf("%d distinct entries reported inserted, want %d", len(inserted), unique)
	}
	for h, n := range inserted {
		if n != 1 {
			t.Errorf("entry %s reported inserted %d times", h[:12], n)
		}
	}
	if n, err := c.Count(ctx, Filter{}); err != nil || n != unique {
		t.Errorf("Count = %d, %v; want %d", n, err, unique)
	}
}

func TestReopenKeepsData(t *testing.T) {
	c, path := openTemp(t)
	ctx := context.Background()
	es := corpus(20)
	mustPut(t, c, es...)
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	c2, err := OpenSQLite(path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer c2.Close()
	for _, e := range es {
		got, err := c2.Get(ctx, e.ContentHash)
		if err != nil {
			t.Fatalf("Get after reopen: %v", err)
		}
		diffEntry(t, got, stored(e))
	}
	if got := mustPut(t, c2, es[0], testEntry(20)); !slices.Equal(got, []bool{false, true}) {
		t.Errorf("Put after reopen = %v, want [false true]", got)
	}
	var versions int
	if err := c2.r.QueryRow("SELECT count(*) FROM schema_migrations").Scan(&versions); err != nil || versions != schemaVersion {
		t.Errorf("schema_migrations has %d rows (%v), want %d: a reopen must not re-migrate", versions, err, schemaVersion)
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	c, path := openTemp(t)
	if _, err := c.w.Exec("INSERT INTO schema_migrations (version, applied_at_us) VALUES (?, 0)", schemaVersion+1); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if c2, err := OpenSQLite(path); err == nil || !strings.Contains(err.Error(), "newer") {
		if c2 != nil {
			c2.Close()
		}
		t.Fatalf("OpenSQLite of a newer schema: err = %v, want a 'newer' error", err)
	}
}

func TestOpenRejectsBadPaths(t *testing.T) {
	for _, p := range []string{"", ":memory:", "file:x.db?mode=rwc", filepath.Join(t.TempDir(), "a?b.db")} {
		if c, err := OpenSQLite(p); !errors.Is(err, ErrInvalid) {
			if c != nil {
				c.Close()
			}
			t.Errorf("OpenSQLite(%q) error = %v, want ErrInvalid", p, err)
		}
	}
	if _, err := OpenSQLite(filepath.Join(t.TempDir(), "missing-dir", "c.db")); err == nil {
		t.Error("OpenSQLite in a missing directory succeeded")
	}
}

// Crash safety: a child process (this test binary, re-executed) Puts
// batches and reports each batch on stdout as soon as Put returns; it is
// then SIGKILLed, with no Close and no checkpoint, so the committed data is
// only in the write-ahead log. The parent reopens the database and must find
// every entry of every reported batch, and no partial batch.

const (
	crashEnvPath  = "CATALOG_CRASH_CHILD_DB"
	crashEnvMode  = "CATALOG_CRASH_CHILD_MODE"
	crashBatch    = 32
	crashSelfKill = 5 // in "self" mode the child kills itself right after this batch's Put returns
)

func crashEntry(b, i int) Entry {
	e := testEntry(b*crashBatch + i)
	e.ContentHash = hashOf(fmt.Sprintf("crash-%d-%d", b, i))
	e.Envelope = envelopeBytes(e.ContentHash, 5000)
	return e
}

// runCrashChild is the child's side: Put batches forever, acknowledging each.
func runCrashChild(path, mode string) {
	c, err := OpenSQLite(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child open:", err)
		os.Exit(3)
	}
	for b := 0; ; b++ {
		batch := make([]Entry, crashBatch)
		for i := range batch {
			batch[i] = crashEntry(b, i)
		}
		ins, err := c.Put(context.Background(), batch...)
		if err != nil {
			fmt.Fprintln(os.Stderr, "child put:", err)
			os.Exit(4)
		}
		if mode == "self" && b == crashSelfKill {
			// Right after Put returns: nothing else runs before the kill.
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
		}
		// os.Stdout is unbuffered: the line is in the pipe before the next
		// Put starts.
		fmt.Fprintf(os.Stdout, "ok %d %d\n", b, countTrue(ins))
	}
}

// cpuTime is the process's user+system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func countTrue(bs []bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}

func TestCrashSafety(t *testing.T) {
	if path := os.Getenv(crashEnvPath); path != "" {
		runCrashChild(path, os.Getenv(crashEnvMode))
		return
	}
	if testing.Short() {
		t.Skip("re-executes the test binary")
	}
	for _, mode := range []string{"self", "parent"} {
		t.Run(mode, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "crash.db")
			cmd := exec.Command(os.Args[0], "-test.run=^TestCrashSafety$", "-test.count=1")
			cmd.Env = append(os.Environ(), crashEnvPath+"="+path, crashEnvMode+"="+mode)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			acked := -1 // the last batch the child reported
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				f := strings.Fields(sc.Text())
				if len(f) != 3 || f[0] != "ok" {
					continue // test framework output
				}
				b, _ := strconv.Atoi(f[1])
				if n, _ := strconv.Atoi(f[2]); n != crashBatch {
					t.Errorf("batch %d: %d inserted, want %d", b, n, crashBatch)
				}
				acked = b
				if mode == "parent" && b == 3 {
					// The child is already inside its next Put: the kill
					// lands at an arbitrary point of a transaction.
					cmd.Process.Kill()
				}
			}
			err = cmd.Wait()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("child did not die of SIGKILL: %v\n%s", err, stderr.String())
			}
			if mode == "self" {
				// The kill came after Put returned and before the ack: batch
				// crashSelfKill was reported inserted by Put itself.
				acked = crashSelfKill
			}
			if acked < 0 {
				t.Fatalf("child acknowledged nothing\n%s", stderr.String())
			}
			if _, err := os.Stat(path + "-wal"); err != nil {
				t.Errorf("expected an un-checkpointed WAL after the crash: %v", err)
			}

			c, err := OpenSQLite(path)
			if err != nil {
				t.Fatalf("reopen after crash: %v", err)
			}
			defer c.Close()
			ctx := context.Background()
			var check string
			if err := c.r.QueryRow("PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
				t.Fatalf("integrity_check = %q, %v", check, err)
			}
			for b := 0; b <= acked; b++ {
				for i := 0; i < crashBatch; i++ {
					want := crashEntry(b, i)
					got, err := c.Get(ctx, want.ContentHash)
					if err != nil {
						t.Fatalf("batch %d entry %d reported inserted but lost: %v", b, i, err)
					}
					diffEntry(t, got, stored(want))
				}
			}
			n, err := c.Count(ctx, Filter{})
			if err != nil {
				t.Fatal(err)
			}
			if n%crashBatch != 0 || n < (acked+1)*crashBatch {
				t.Errorf("%d entries after the crash: want a whole number of batches, at least %d", n, (acked+1)*crashBatch)
			}
			t.Logf("%d batches acknowledged, %d entries found", acked+1, n)
		})
	}
}

// BenchmarkPutBatch measures Put throughput for batches of ~5 KB envelopes
// with 16 metrics each, on a file database with the production settings
// (WAL, synchronous=FULL: one fsync per batch).
func BenchmarkPutBatch(b *testing.B) {
	for _, size := range []int{1, 16, 256} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			c, _ := openTemp(b)
			template := testEntry(0)
			template.Metrics = map[string]float64{}
			for m := 0; m < 16; m++ {
				template.Metrics[fmt.Sprintf("metric_%02d_ms", m)] = float64(m) * 1.25
			}
			body := envelopeBytes(template.ContentHash, 5*1024)
			ctx := context.Background()
			batch := make([]Entry, size)
			n := 0
			b.SetBytes(int64(size * len(body)))
			cpu0 := cpuTime()
			for b.Loop() {
				for i := range batch {
					e := template
					e.ContentHash = hashOf(strconv.Itoa(n))
					e.Timestamp = baseTime.Add(time.Duration(n) * time.Millisecond)
					e.Envelope = append([]byte(e.ContentHash), body[64:]...)
					batch[i] = e
					n++
				}
				ins, err := c.Put(ctx, batch...)
				if err != nil || !ins[0] {
					b.Fatalf("Put: %v %v", ins, err)
				}
			}
			// entries/s is wall-clock throughput (on a shared machine it
			// depends on the load); CPU time per entry, all threads (SQLite,
			// GC) included, does not.
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "entries/s")
			b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(n), "cpu-us/entry")
		})
	}
}
