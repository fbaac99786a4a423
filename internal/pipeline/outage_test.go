package pipeline

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/inferencebench/bench/internal/bus"
	"github.com/inferencebench/bench/internal/bus/bustest"
	"github.com/inferencebench/bench/internal/catalog"
	"github.com/inferencebench/bench/internal/objstore"
	"github.com/inferencebench/bench/services/runner"
)

// TestObjectStoreOutage takes the object store away for 30 s while runs
// flow through the pipeline, with the stages' default delivery limits: the
// runner waits to upload, the verifier and the indexer hold their messages
// and retry, and once the store is back every run is cataloged, none is
// dead-lettered.
func TestObjectStoreOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("a 30 s outage")
	}
	const runs = 40
	ctx := context.Background()
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	srv, err := objstore.StartServer(ctx, dir, addr, "outage-key", "outage-secret")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { srv.Close() }()
	s3 := srv.Config("bench")
	s3.MaxRetries = 1 // fail fast; the stages retry

	var indexed atomic.Int64
	p := startPipeline(t, Options{
		S3: s3,
		// The defaults, except a shorter longest backoff so that the
		// test does not wait 30 s more after the store is back.
		Tuning: bus.Tuning{MaxDeliver: 5, Backoff: []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second}},
		OnProcessed: func(r Role, _ *bus.Message, rejected error) {
			if r == RoleIndexer && rejected == nil {
				indexed.Add(1)
			}
		},
	})
	rejected := bustest.Collect(t, p.JetStream(), bus.StreamRejected)

	cfg := runnerConfig(t, startSim(t), runs)
	cfg.PublishTo(p.JetStream(), p.Store(), nil)
	done := make(chan error, 1)
	go func() {
		res, err := runner.Run(ctx, cfg)
		if err == nil && len(res) != runs {
			t.Errorf("%d runs", len(res))
		}
		done <- err
	}()

	waitFor(t, 60*time.Second, "the first runs to be indexed", func() bool { return indexed.Load() >= 5 })
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	down := time.Now()
	t.Logf("object store down after %d runs indexed", indexed.Load())
	time.Sleep(30 * time.Second)
	atDown := indexed.Load()
	if srv, err = objstore.StartServer(ctx, dir, addr, "outage-key", "outage-secret"); err != nil {
		t.Fatal(err)
	}
	t.Logf("object store back after %v; %d runs indexed meanwhile", time.Since(down).Round(time.Second), atDown)

	if err := <-done; err != nil {
		t.Fatalf("the runner: %v", err)
	}
	waitFor(t, 90*time.Second, "every run indexed", func() bool { return indexed.Load() >= runs || rejected.Len() > 0 })
	if rejected.Len() > 0 {
		t.Fatalf("dead-lettered: %s", rejected.All()[0].Headers().Get(bus.HdrReason))
	}
	if n, _ := p.Catalog().Count(ctx, catalog.Filter{}); n != runs {
		t.Fatalf("catalog holds %d, want %d", n, runs)
	}
	t.Logf("all %d runs cataloged %v after the store came back", runs, time.Since(down.Add(30*time.Second)).Round(100*time.Millisecond))
}
