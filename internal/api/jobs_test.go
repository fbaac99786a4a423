package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/inferencebench/bench/internal/bus"
	"github.com/inferencebench/bench/internal/bus/bustest"
	"github.com/inferencebench/bench/internal/catalog"
	"github.com/inferencebench/bench/services/runner/fleet"
)

// newJobsAPI serves the API over an empty catalog and a real jobs bucket
// in an embedded NATS server, with two batches submitted: "first" (3 jobs,
// one of them cancelled) and then "second" (2 jobs).
func newJobsAPI(t *testing.T) (*httptest.Server, *fleet.Store, fleet.Batch, fleet.Batch) {
	t.Helper()
	js := bustest.Start(t, bus.Options{}).JS
	ctx := context.Background()
	store, err := fleet.OpenStore(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	submit := func(name, models string) fleet.Batch {
		m, err := fleet.ParseMatrix(name+".yaml", []byte("batch: "+name+"\npool: a\nmodels: "+models+
			"\nengines: [{name: sim, endpoint: \"http://127.0.0.1:1\"}]\nload: [{rate: 1, requests: 2}]\n"))
		if err != nil {
			t.Fatal(err)
		}
		jobs, err := m.Expand()
		if err != nil {
			t.Fatal(err)
		}
		res, err := fleet.Submit(ctx, js, store, jobs, fleet.SubmitOptions{Name: name, AllowUnknownPool: true})
		if err != nil {
			t.Fatal(err)
		}
		return res.Batch
	}
	first := submit("first", "[{id: m1}, {id: m2}, {id: m3}]")
	if _, err := store.Cancel(ctx, first.Jobs[1], "not wanted"); err != nil {
		t.Fatal(err)
	}
	second := submit("second", "[{id: m4}, {id: m5}]")

	cat, err := catalog.OpenSQLite(filepath.Join(t.TempDir(), "catalog.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cat.Close() })
	srv := httptest.NewServer(Handler(cat, nil, WithJobs(store)))
	t.Cleanup(srv.Close)
	return srv, store, first, second
}

func TestAPIJobsListsABatchWithItsSummary(t *testing.T) {
	srv, _, first, second := newJobsAPI(t)
	decode := func(query string) JobsResponse {
		t.Helper()
		resp, body := get(t, srv.URL+JobsPath+query)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %s", query, resp.StatusCode, body)
		}
		var r JobsResponse
		if err := json.Unmarshal(body, &r); err != nil {
			t.Fatal(err)
		}
		return r
	}

	// No batch named: the newest.
	r := decode("")
	if r.Batch == nil || r.Batch.ID != second.ID || len(r.Jobs) != 2 || r.Summary.Queued != 2 {
		t.Fatalf("default batch: %+v", r)
	}
	// By name, id and id prefix, the same batch, in its order.
	for _, ref := range []string{"first", first.ID, first.ID[:6]} {
		r = decode("?batch=" + ref)
		if r.Batch == nil || r.Batch.ID != first.ID || len(r.Jobs) != 3 {
			t.Fatalf("batch=%s: %+v", ref, r)
		}
		for i, j := range r.Jobs {
			if j.ID != first.Jobs[i] {
				t.Fatalf("batch=%s: job %d is %s, want %s", ref, i, j.ID, first.Jobs[i])
			}
		}
		if want := (fleet.Summary{Total: 3, Queued: 2, Cancelled: 1}); r.Summary != want {
			t.Fatalf("summary %+v, want %+v", r.Summary, want)
		}
	}
	// A state filter narrows the jobs, not the summary.
	r = decode("?batch=first&state=cancelled")
	if len(r.Jobs) != 1 || r.Jobs[0].ID != first.Jobs[1] || r.Jobs[0].Reason == "" || r.Summary.Total != 3 {
		t.Fatalf("state=cancelled: %+v", r)
	}
	// Every job.
	if r = decode("?all=true"); r.Batch != nil || len(r.Jobs) != 5 || r.Summary.Total != 5 {
		t.Fatalf("all: %+v", r)
	}

	// Batches, newest first, each linking to its jobs.
	resp, body := get(t, srv.URL+BatchesPath)
	var bs BatchesResponse
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &bs) != nil || len(bs.Batches) != 2 ||
		bs.Batches[0].ID != second.ID || bs.Batches[1].Jobs != 3 || bs.Batches[1].JobsURL != JobsPath+"?batch="+first.ID {
		t.Fatalf("batches: %d %s", resp.StatusCode, body)
	}
}

func TestAPIJobGetAndErrors(t *testing.T) {
	srv, _, first, _ := newJobsAPI(t)
	resp, body := get(t, srv.URL+JobsPath+"/"+first.Jobs[0])
	var st fleet.Status
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &st) != nil || st.ID != first.Jobs[0] ||
		st.State != fleet.Queued || st.Spec.Model.ID == "" {
		t.Fatalf("get job: %d %s", resp.StatusCode, body)
	}
	for _, tc := range []struct {
		path   string
		status int
		says   string
	}{
		{JobsPath + "/" + strings.Repeat("0", 32), http.StatusNotFound, "no such job"},
		{JobsPath + "/xyz", http.StatusBadRequest, `job id "xyz": want 32 hex digits`},
		{JobsPath + "?batch=nope", http.StatusNotFound, `no batch named or id-prefixed "nope"`},
		{JobsPath + "?state=sleeping", http.StatusBadRequest, `state "sleeping"`},
		{JobsPath + "?batch=first&all=true", http.StatusBadRequest, "not both"},
		{JobsPath + "?limit=3", http.StatusBadRequest, `unknown parameter "limit"`},
		{JobsPath + "/" + first.Jobs[0] + "/x", http.StatusNotFound, "no such endpoint"},
	} {
		resp, body := get(t, srv.URL+tc.path)
		var e ErrorResponse
		if resp.StatusCode != tc.status || json.Unmarshal(body, &e) != nil || !strings.Contains(e.Error, tc.says) {
			t.Errorf("%s: %d %s, want %d saying %q", tc.path, resp.StatusCode, body, tc.status, tc.says)
		}
	}
	// A known path with another method: 405 in JSON.
	req, _ := http.NewRequest(http.MethodPost, srv.URL+JobsPath, nil)
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("POST %s: %d", JobsPath, r.StatusCode)
	}
}

func TestAPIWithoutJobsHasNoJobRoutes(t *testing.T) {
	srv, _, _ := newTestAPI(t, nil)
	resp, _ := get(t, srv.URL+JobsPath)
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("%s without WithJobs: %d", JobsPath, resp.StatusCode)
	}
}
