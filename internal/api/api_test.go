package api

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/inferencebench/bench/internal/catalog"
)

func hashOf(label string) string {
	h := sha256.Sum256([]byte(label))
	return hex.EncodeToString(h[:])
}

var baseTime = time.Date(2026, 3, 14, 15, 9, 26, 535897000, time.UTC)

// testEntry is entry i of a corpus whose fields come from small sets, so
// that every filter selects a different, non-trivial subset, and whose
// timestamps tie between entries, so that tie-breaks are exercised.
func testEntry(i int) catalog.Entry {
	h := hashOf(fmt.Sprintf("entry-%d", i))
	e := catalog.Entry{
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
		Timestamp:           baseTime.Add(time.Duration(i%7) * time.Minute),
		SignatureMethod:     catalog.MethodDevKey,
		SignerKeyID:         "d354fa33bc2e3ac7",
		VerifiedAt:          baseTime.Add(time.Hour + time.Duration(i)*time.Second),
		EnvelopeURI:         "s3://bench/envelopes/" + h + ".json",
		TracesURI:           "s3://bench/traces/sha256/" + hashOf(h) + ".parquet",
		JobID:               []string{"", "job-1", "job-2"}[i%3],
		BatchID:             []string{"", "batch-a", "batch-b", "batch-a"}[i%4],
		Metrics:             map[string]float64{"throughput_tok_per_s": float64(1000 + (i*7919)%500)},
		// Odd spacing, a non-ASCII string and a number with an exponent:
		// anything a re-encoder would normalise.
		Envelope: fmt.Appendf(nil, "{\n \"run_id\" :\"run-%d\",\t\"note\":\"caf\\u00e9 ☕\", \"x\": 1.50e3 }\n", i),
	}
	if i%4 != 0 {
		e.Metrics["ttft_p50_ms"] = float64((i*37)%11) + 0.5
	}
	if i%5 == 0 {
		e.SignatureMethod, e.SignerKeyID = catalog.MethodKeyless, ""
		e.SignerIdentity = "https://github.com/org/repo/.github/workflows/bench.yml@refs/heads/main"
		e.SignerIssuer = "https://token.actions.githubusercontent.com"
	}
	return e
}

const corpusSize = 24

// newTestAPI serves Handler over a fresh SQLite catalog holding the corpus.
func newTestAPI(t *testing.T, ready func(context.Context) error) (*httptest.Server, *catalog.SQLite, []catalog.Entry) {
	t.Helper()
	cat, err := catalog.OpenSQLite(filepath.Join(t.TempDir(), "catalog.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cat.Close() })
	es := make([]catalog.Entry, corpusSize)
	for i := range es {
		es[i] = testEntry(i)
	}
	if _, err := cat.Put(context.Background(), es...); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(Handler(cat, ready))
	t.Cleanup(srv.Close)
	return srv, cat, es
}

func get(t *testing.T, rawURL string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func list(t *testing.T, srv *httptest.Server, query string) ListResponse {
	t.Helper()
	resp, body := get(t, srv.URL+ResultsPath+"?"+query)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET ?%s: %d %s", query, resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q", ct)
	}
	var lr ListResponse
	if err := json.Unmarshal(body, &lr); err != nil {
		t.Fatalf("decoding %s: %v", body, err)
	}
	return lr
}

func hashes(rs []Result) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.ContentHash
	}
	return out
}

// newestFirst is the default order: timestamp, then content hash, both
// descending.
func newestFirst(es []catalog.Entry) []string {
	s := slices.Clone(es)
	slices.SortFunc(s, func(a, b catalog.Entry) int {
		return cmp.Or(b.Timestamp.Compare(a.Timestamp), strings.Compare(b.ContentHash, a.ContentHash))
	})
	out := make([]string, len(s))
	for i := range s {
		out[i] = s[i].ContentHash
	}
	return out
}

func where(es []catalog.Entry, keep func(*catalog.Entry) bool) []catalog.Entry {
	var out []catalog.Entry
	for i := range es {
		if keep(&es[i]) {
			out = append(out, es[i])
		}
	}
	return out
}

func TestAPIListReturnsEveryFieldButTheEnvelope(t *testing.T) {
	srv, _, es := newTestAPI(t, nil)
	resp, body := get(t, srv.URL+ResultsPath)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	var raw struct {
		Results []map[string]json.RawMessage `json:"results"`
		Count   int                          `json:"count"`
		Limit   int                          `json:"limit"`
		Offset  int                          `json:"offset"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatal(err)
	}
	if raw.Count != corpusSize || raw.Limit != catalog.DefaultLimit || raw.Offset != 0 || len(raw.Results) != corpusSize {
		t.Fatalf("count %d limit %d offset %d results %d", raw.Count, raw.Limit, raw.Offset, len(raw.Results))
	}
	want := []string{"batch_id", "content_hash", "dataset_id", "engine_name", "engine_version", "envelope_uri", "envelope_url",
		"gpu_count", "gpu_model", "hardware_fingerprint", "job_id", "metrics", "model_id", "model_revision", "provider",
		"run_id", "signature_method", "signer_identity", "signer_issuer", "signer_key_id", "suite_id", "suite_version",
		"timestamp", "traces_uri", "verified_at"}
	for _, r := range raw.Results {
		var got []string
		for k := range r {
			got = append(got, k)
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Fatalf("result keys\n got %v\nwant %v", got, want)
		}
	}

	lr := list(t, srv, "")
	if got, want := hashes(lr.Results), newestFirst(es); !slices.Equal(got, want) {
		t.Fatalf("default order\n got %v\nwant %v", got, want)
	}
	byHash := map[string]catalog.Entry{}
	for _, e := range es {
		byHash[e.ContentHash] = e
	}
	for _, r := range lr.Results {
		e := byHash[r.ContentHash]
		switch {
		case r.RunID != e.RunID || r.SuiteID != e.SuiteID || r.SuiteVersion != e.SuiteVersion || r.ModelID != e.ModelID ||
			r.ModelRevision != e.ModelRevision || r.Provider != e.Provider || r.EngineName != e.EngineName ||
			r.EngineVersion != e.EngineVersion || r.DatasetID != e.DatasetID || r.HardwareFingerprint != e.HardwareFingerprint ||
			r.GPUModel != e.GPUModel || r.GPUCount != e.GPUCount || r.SignatureMethod != e.SignatureMethod ||
			r.SignerKeyID != e.SignerKeyID || r.SignerIdentity != e.SignerIdentity || r.SignerIssuer != e.SignerIssuer ||
			r.EnvelopeURI != e.EnvelopeURI || r.TracesURI != e.TracesURI || r.JobID != e.JobID || r.BatchID != e.BatchID:
			t.Fatalf("result %s differs from its entry:\n%+v\n%+v", r.ContentHash, r, e)
		case !r.Timestamp.Equal(e.Timestamp) || !r.VerifiedAt.Equal(e.VerifiedAt) || r.Timestamp.Location() != time.UTC:
			t.Fatalf("result %s times %v %v, want %v %v (UTC)", r.ContentHash, r.Timestamp, r.VerifiedAt, e.Timestamp, e.VerifiedAt)
		case !maps.Equal(r.Metrics, e.Metrics):
			t.Fatalf("result %s metrics %v, want %v", r.ContentHash, r.Metrics, e.Metrics)
		case r.EnvelopeURL != ResultsPath+"/"+e.ContentHash:
			t.Fatalf("envelope_url %q", r.EnvelopeURL)
		}
	}
}

func TestAPIListFilters(t *testing.T) {
	srv, _, es := newTestAPI(t, nil)
	e3 := testEntry(3)
	cases := []struct {
		query string
		keep  func(*catalog.Entry) bool
	}{
		{"model=qwen-2-7b", func(e *catalog.Entry) bool { return e.ModelID == "qwen-2-7b" }},
		{"engine=sglang", func(e *catalog.Entry) bool { return e.EngineName == "sglang" }},
		{"suite=rag", func(e *catalog.Entry) bool { return e.SuiteID == "rag" }},
		{"gpu=" + url.QueryEscape("NVIDIA H100 80GB HBM3"), func(e *catalog.Entry) bool { return e.GPUModel == "NVIDIA H100 80GB HBM3" }},
		{"fingerprint=" + hashOf("hw-2"), func(e *catalog.Entry) bool { return e.HardwareFingerprint == hashOf("hw-2") }},
		{"dataset=lmsys", func(e *catalog.Entry) bool { return e.DatasetID == "lmsys" }},
		{"job=job-2", func(e *catalog.Entry) bool { return e.JobID == "job-2" }},
		{"batch=batch-a", func(e *catalog.Entry) bool { return e.BatchID == "batch-a" }},
		{"hash=" + e3.ContentHash[:3], func(e *catalog.Entry) bool { return strings.HasPrefix(e.ContentHash, e3.ContentHash[:3]) }},
		{"hash=" + strings.ToUpper(e3.ContentHash), func(e *catalog.Entry) bool { return e.ContentHash == e3.ContentHash }},
		{"since=2026-03-14T15:12:26.535897Z", func(e *catalog.Entry) bool { return !e.Timestamp.Before(baseTime.Add(3 * time.Minute)) }},
		{"until=2026-03-14T15:12:26.535897Z", func(e *catalog.Entry) bool { return e.Timestamp.Before(baseTime.Add(3 * time.Minute)) }},
		// The same instants in another zone; '+' escaped and unescaped.
		{"since=2026-03-14T16:11:26.535897%2B01:00&until=2026-03-14T16:13:26.535897+01:00", func(e *catalog.Entry) bool {
			return !e.Timestamp.Before(baseTime.Add(2*time.Minute)) && e.Timestamp.Before(baseTime.Add(4*time.Minute))
		}},
		{"verified_after=" + baseTime.Add(time.Hour+10*time.Second).Format(time.RFC3339Nano), func(e *catalog.Entry) bool {
			return e.VerifiedAt.After(baseTime.Add(time.Hour + 10*time.Second))
		}},
		{"model=llama-3-8b&engine=vllm&suite=code", func(e *catalog.Entry) bool {
			return e.ModelID == "llama-3-8b" && e.EngineName == "vllm" && e.SuiteID == "code"
		}},
		{"model=no-such-model", func(*catalog.Entry) bool { return false }},
		{"model=&engine=", func(*catalog.Entry) bool { return true }}, // empty means no filter
	}
	for _, c := range cases {
		t.Run(c.query, func(t *testing.T) {
			want := newestFirst(where(es, c.keep))
			lr := list(t, srv, c.query)
			if got := hashes(lr.Results); !slices.Equal(got, want) {
				t.Fatalf("got %d results %v\nwant %d %v", len(got), got, len(want), want)
			}
			if lr.Count != len(want) {
				t.Fatalf("count %d, want %d", lr.Count, len(want))
			}
			if lr.Results == nil {
				t.Fatal("results is null, want []")
			}
		})
	}
	// The corpus must make the cases meaningful: neither empty nor everything.
	for _, c := range cases[:10] {
		if n := len(where(es, c.keep)); n == 0 || n == len(es) {
			t.Fatalf("case %q selects %d of %d entries: not a useful test", c.query, n, len(es))
		}
	}
}

func TestAPIListOrderAndPaging(t *testing.T) {
	srv, _, es := newTestAPI(t, nil)
	sorted := func(less func(a, b catalog.Entry) int) []string {
		s := slices.Clone(es)
		slices.SortFunc(s, less)
		out := make([]string, len(s))
		for i := range s {
			out[i] = s[i].ContentHash
		}
		return out
	}
	byVerified := func(a, b catalog.Entry) int {
		return cmp.Or(a.VerifiedAt.Compare(b.VerifiedAt), strings.Compare(a.ContentHash, b.ContentHash))
	}
	// Metric order: entries without the metric last, in both directions.
	byTTFT := func(desc bool) func(a, b catalog.Entry) int {
		return func(a, b catalog.Entry) int {
			va, oka := a.Metrics["ttft_p50_ms"]
			vb, okb := b.Metrics["ttft_p50_ms"]
			if oka != okb {
				if oka {
					return -1
				}
				return 1
			}
			c := cmp.Or(cmp.Compare(va, vb), strings.Compare(a.ContentHash, b.ContentHash))
			if desc {
				return -c
			}
			return c
		}
	}
	reversed := func(s []string) []string { s = slices.Clone(s); slices.Reverse(s); return s }
	cases := []struct {
		query string
		want  []string
	}{
		{"order=timestamp", newestFirst(es)},
		{"order=-timestamp", newestFirst(es)},
		{"order=%2Btimestamp", reversed(newestFirst(es))},
		{"order=verified_at", reversed(sorted(byVerified))},
		{"order=%2Bverified_at", sorted(byVerified)},
		{"order=+verified_at", sorted(byVerified)}, // an unescaped '+' arrives as a space
		{"order=metric:ttft_p50_ms", sorted(byTTFT(true))},
		{"order=%2Bmetric:ttft_p50_ms", sorted(byTTFT(false))},
	}
	for _, c := range cases {
		t.Run(c.query, func(t *testing.T) {
			lr := list(t, srv, c.query)
			if got := hashes(lr.Results); !slices.Equal(got, c.want) {
				t.Fatalf("\n got %v\nwant %v", got, c.want)
			}
			// Pages of 5 concatenate to the same order, and count is the
			// total on every page.
			var paged []string
			for off := 0; ; off += 5 {
				p := list(t, srv, fmt.Sprintf("%s&limit=5&offset=%d", c.query, off))
				if p.Count != corpusSize || p.Limit != 5 || p.Offset != off {
					t.Fatalf("page at %d: count %d limit %d offset %d", off, p.Count, p.Limit, p.Offset)
				}
				if len(p.Results) == 0 {
					break
				}
				paged = append(paged, hashes(p.Results)...)
			}
			if !slices.Equal(paged, c.want) {
				t.Fatalf("paged\n got %v\nwant %v", paged, c.want)
			}
		})
	}
	// Paging with a filter: count is the filtered total.
	p := list(t, srv, "engine=vllm&limit=2&offset=1")
	want := newestFirst(where(es, func(e *catalog.Entry) bool { return e.EngineName == "vllm" }))
	if p.Count != len(want) || !slices.Equal(hashes(p.Results), want[1:3]) {
		t.Fatalf("filtered page: count %d %v, want %d %v", p.Count, hashes(p.Results), len(want), want[1:3])
	}
	// The largest page is allowed; past the end is an empty page.
	if p := list(t, srv, "limit=10000"); len(p.Results) != corpusSize {
		t.Fatalf("limit=10000: %d results", len(p.Results))
	}
	if p := list(t, srv, "offset=1000"); len(p.Results) != 0 || p.Count != corpusSize {
		t.Fatalf("offset past the end: %d results, count %d", len(p.Results), p.Count)
	}
}

func TestAPIListBadParametersAre400NamingThem(t *testing.T) {
	srv, _, _ := newTestAPI(t, nil)
	cases := []struct{ query, mention string }{
		{"limit=0", `"limit"`},
		{"limit=10001", `"limit"`},
		{"limit=ten", `"limit"`},
		{"limit=-1", `"limit"`},
		{"offset=-1", `"offset"`},
		{"offset=x", `"offset"`},
		{"since=yesterday", `"since"`},
		{"until=2026-03-14", `"until"`},
		{"verified_after=1710428966", `"verified_after"`},
		{"since=2026-03-15T00:00:00Z&until=2026-03-14T00:00:00Z", `"since" and "until"`},
		{"hash=xyz", `"hash"`},
		{"hash=" + strings.Repeat("a", 65), `"hash"`},
		{"order=fastest", `"order"`},
		{"order=metric:", `"order"`},
		{"order=%2B-timestamp", `"order"`},
		{"modle=llama", `"modle"`},
		{"model=a&model=b", `"model" given 2 times`},
	}
	for _, c := range cases {
		t.Run(c.query, func(t *testing.T) {
			resp, body := get(t, srv.URL+ResultsPath+"?"+c.query)
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("status %d %s", resp.StatusCode, body)
			}
			var e ErrorResponse
			if err := json.Unmarshal(body, &e); err != nil || !strings.Contains(e.Error, c.mention) {
				t.Fatalf("error %q (%v) does not mention %s", body, err, c.mention)
			}
		})
	}
}

func TestAPIGetServesTheEnvelopeVerbatim(t *testing.T) {
	srv, _, es := newTestAPI(t, nil)
	for _, e := range es[:4] {
		for _, ref := range []string{e.ContentHash, e.ContentHash[:8], strings.ToUpper(e.ContentHash[:20])} {
			resp, body := get(t, srv.URL+ResultsPath+"/"+ref)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET %s: %d %s", ref, resp.StatusCode, body)
			}
			if !bytes.Equal(body, e.Envelope) {
				t.Fatalf("GET %s: body differs from the stored envelope\n got %q\nwant %q", ref, body, e.Envelope)
			}
			h := resp.Header
			if h.Get("Content-Type") != "application/json" || h.Get(HeaderContentHash) != e.ContentHash ||
				h.Get("ETag") != `"`+e.ContentHash+`"` || h.Get("Content-Length") != fmt.Sprint(len(e.Envelope)) {
				t.Fatalf("GET %s: headers %v", ref, h)
			}
			immutable := strings.Contains(h.Get("Cache-Control"), "immutable")
			if immutable != (len(ref) == 64) {
				t.Fatalf("GET %s: Cache-Control %q", ref, h.Get("Cache-Control"))
			}
		}
	}
	// A client that has it already gets 304.
	e := es[0]
	resp, body := get(t, srv.URL+ResultsPath+"/"+e.ContentHash, "If-None-Match", `"`+e.ContentHash+`"`)
	if resp.StatusCode != http.StatusNotModified || len(body) != 0 {
		t.Fatalf("If-None-Match: %d %q", resp.StatusCode, body)
	}
	// HEAD: the headers without the body.
	hresp, err := http.Head(srv.URL + ResultsPath + "/" + e.ContentHash)
	if err != nil {
		t.Fatal(err)
	}
	hresp.Body.Close()
	if hresp.StatusCode != http.StatusOK || hresp.Header.Get(HeaderContentHash) != e.ContentHash {
		t.Fatalf("HEAD: %d %v", hresp.StatusCode, hresp.Header)
	}
}

func TestAPIGetErrors(t *testing.T) {
	srv, cat, _ := newTestAPI(t, nil)
	// Two entries that share an 8-digit prefix.
	twin := func(tail string) catalog.Entry {
		e := testEntry(100)
		e.ContentHash = "deadbeef" + strings.Repeat("0", 55) + tail
		return e
	}
	if _, err := cat.Put(context.Background(), twin("1"), twin("2")); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		ref     string
		status  int
		mention string
	}{
		{"deadbeef", http.StatusConflict, "ambiguous"},
		{"deadbeef" + strings.Repeat("0", 55) + "1", http.StatusOK, ""},
		{"deadbeef00000000000000001", http.StatusNotFound, "no result has a content hash starting with deadbeef00000000000000001"},
		{strings.Repeat("f", 64), http.StatusNotFound, "no result has content hash " + strings.Repeat("f", 64)},
		{"abc", http.StatusBadRequest, "at least 8"},
		{"not-a-hash", http.StatusBadRequest, "not-a-hash"},
		{strings.Repeat("a", 65), http.StatusBadRequest, "64 hex digits"},
	}
	for _, c := range cases {
		resp, body := get(t, srv.URL+ResultsPath+"/"+c.ref)
		if resp.StatusCode != c.status {
			t.Fatalf("GET %s: %d %s, want %d", c.ref, resp.StatusCode, body, c.status)
		}
		if c.status == http.StatusOK {
			continue
		}
		var e ErrorResponse
		if err := json.Unmarshal(body, &e); err != nil || !strings.Contains(e.Error, c.mention) {
			t.Fatalf("GET %s: error %s (%v) does not mention %q", c.ref, body, err, c.mention)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Fatalf("GET %s: Content-Type %q", c.ref, ct)
		}
	}
}

func TestAPIUnknownRoutesAndMethodsAnswerJSON(t *testing.T) {
	srv, _, es := newTestAPI(t, nil)
	for _, c := range []struct {
		method, path string
		status       int
	}{
		{http.MethodGet, "/api/v1/result", http.StatusNotFound},
		{http.MethodGet, "/", http.StatusNotFound},
		{http.MethodGet, ResultsPath + "/", http.StatusNotFound},
		{http.MethodGet, ResultsPath + "/" + es[0].ContentHash + "/traces", http.StatusNotFound},
		{http.MethodPost, ResultsPath, http.StatusMethodNotAllowed},
		{http.MethodDelete, ResultsPath + "/" + es[0].ContentHash, http.StatusMethodNotAllowed},
		{http.MethodPut, ReadyPath, http.StatusMethodNotAllowed},
	} {
		req, _ := http.NewRequest(c.method, srv.URL+c.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var e ErrorResponse
		if resp.StatusCode != c.status || json.Unmarshal(body, &e) != nil || e.Error == "" {
			t.Fatalf("%s %s: %d %s, want %d with a JSON error", c.method, c.path, resp.StatusCode, body, c.status)
		}
		if c.status == http.StatusMethodNotAllowed && resp.Header.Get("Allow") != "GET, HEAD" {
			t.Fatalf("%s %s: Allow %q", c.method, c.path, resp.Header.Get("Allow"))
		}
	}
}

func TestAPIHealthAndReadiness(t *testing.T) {
	var readyErr error
	srv, _, _ := newTestAPI(t, func(ctx context.Context) error {
		if ctx == nil {
			return errors.New("no context")
		}
		return readyErr
	})
	resp, body := get(t, srv.URL+HealthPath)
	if resp.StatusCode != http.StatusOK || string(body) != "ok\n" {
		t.Fatalf("healthz: %d %q", resp.StatusCode, body)
	}
	check := func(wantStatus int, wantBody ReadyResponse) {
		t.Helper()
		resp, body := get(t, srv.URL+ReadyPath)
		var got ReadyResponse
		if resp.StatusCode != wantStatus || json.Unmarshal(body, &got) != nil || got != wantBody {
			t.Fatalf("readyz: %d %s, want %d %+v", resp.StatusCode, body, wantStatus, wantBody)
		}
	}
	check(http.StatusOK, ReadyResponse{Status: "ready"})
	readyErr = errors.New("bus: not connected to nats://127.0.0.1:4222")
	check(http.StatusServiceUnavailable, ReadyResponse{Status: "unavailable", Error: readyErr.Error()})
	// Liveness does not depend on readiness.
	if resp, _ := get(t, srv.URL+HealthPath); resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz while not ready: %d", resp.StatusCode)
	}
}

func TestAPIReadinessDefaultsToCatalogPing(t *testing.T) {
	srv, cat, _ := newTestAPI(t, nil)
	if resp, body := get(t, srv.URL+ReadyPath); resp.StatusCode != http.StatusOK {
		t.Fatalf("readyz: %d %s", resp.StatusCode, body)
	}
	cat.Close()
	resp, body := get(t, srv.URL+ReadyPath)
	var got ReadyResponse
	if resp.StatusCode != http.StatusServiceUnavailable || json.Unmarshal(body, &got) != nil || got.Status != "unavailable" || got.Error == "" {
		t.Fatalf("readyz with the catalog closed: %d %s", resp.StatusCode, body)
	}
	// Queries fail as a JSON 500 rather than hang or panic.
	resp, body = get(t, srv.URL+ResultsPath)
	if resp.StatusCode != http.StatusInternalServerError || !strings.Contains(string(body), `"error"`) {
		t.Fatalf("list with the catalog closed: %d %s", resp.StatusCode, body)
	}
}
