package indexer

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/inferencebench/bench/internal/catalog"
)

// countingCatalog records the size of every Put; the other methods are not
// used by the batcher.
type countingCatalog struct {
	catalog.Catalog
	mu      sync.Mutex
	batches []int
}

func (c *countingCatalog) Put(_ context.Context, entries ...catalog.Entry) ([]bool, error) {
	c.mu.Lock()
	c.batches = append(c.batches, len(entries))
	c.mu.Unlock()
	return make([]bool, len(entries)), nil
}

func (c *countingCatalog) sizes() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]int(nil), c.batches...)
}

// A lone entry must not pay the commit delay: with nothing announced, the
// transaction starts at once. The delay here is far longer than the test's
// patience, so waiting for it would fail the test rather than slow it.
func TestBatcherLoneEntryIsNotDelayed(t *testing.T) {
	cat := &countingCatalog{}
	b := newBatcher(cat, 256, time.Hour)
	defer b.stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := range 3 {
		a := b.announce()
		if err := b.put(ctx, catalog.Entry{ContentHash: fmt.Sprint(i)}, a); err != nil {
			t.Fatalf("put %d: %v (the batcher waited for an entry nobody announced)", i, err)
		}
	}
	if got := cat.sizes(); len(got) != 3 {
		t.Fatalf("transactions: got %v, want three of one entry each", got)
	}
}

// Entries announced while a transaction gathers are waited for and share
// it, even when they arrive one by one after the first.
func TestBatcherWaitsForAnnouncedEntries(t *testing.T) {
	cat := &countingCatalog{}
	b := newBatcher(cat, 256, time.Hour)
	defer b.stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	const n = 20
	ann := make([]*announcement, n)
	for i := range ann {
		ann[i] = b.announce()
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			time.Sleep(time.Duration(i) * time.Millisecond) // stragglers
			errs <- b.put(ctx, catalog.Entry{ContentHash: fmt.Sprint(i)}, ann[i])
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := cat.sizes(); len(got) != 1 || got[0] != n {
		t.Fatalf("transactions: got %v, want one of %d", got, n)
	}
}

// A handler that announces and then fails before its put withdraws the
// announcement; the transaction waiting for it then commits after the
// delay instead of waiting for ever.
func TestBatcherWithdrawnAnnouncement(t *testing.T) {
	cat := &countingCatalog{}
	b := newBatcher(cat, 256, 20*time.Millisecond)
	defer b.stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	failed := b.announce() // e.g. archiving failed: no put follows
	a := b.announce()
	if err := b.put(ctx, catalog.Entry{ContentHash: "a"}, a); err != nil {
		t.Fatal(err)
	}
	failed.withdraw()
	failed.withdraw() // idempotent: the deferred call and an explicit one
	if got := b.coming.Load(); got != 0 {
		t.Fatalf("announced entries after every handler ended: %d", got)
	}
	a2 := b.announce()
	if err := b.put(ctx, catalog.Entry{ContentHash: "b"}, a2); err != nil {
		t.Fatal(err)
	}
	if got := cat.sizes(); len(got) != 2 {
		t.Fatalf("transactions: got %v, want two", got)
	}
}

// MaxBatch bounds a transaction even while more entries are announced.
func TestBatcherMaxBatch(t *testing.T) {
	cat := &countingCatalog{}
	b := newBatcher(cat, 4, time.Hour)
	defer b.stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	const n = 10
	ann := make([]*announcement, n)
	for i := range ann {
		ann[i] = b.announce()
	}
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if err := b.put(ctx, catalog.Entry{ContentHash: fmt.Sprint(i)}, ann[i]); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	total := 0
	for _, s := range cat.sizes() {
		if s > 4 {
			t.Fatalf("a transaction of %d entries, above MaxBatch 4: %v", s, cat.sizes())
		}
		total += s
	}
	if total != n {
		t.Fatalf("committed %d entries, want %d", total, n)
	}
}

// An entry the catalog refuses fails alone: the envelopes that shared its
// transaction are committed, and its own error says what was refused.
func TestBatcherRefusedEntryFailsAlone(t *testing.T) {
	cat, err := catalog.OpenSQLite(filepath.Join(t.TempDir(), "catalog.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	b := newBatcher(cat, 256, time.Hour)
	defer b.stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	const n, bad = 20, 7
	ann := make([]*announcement, n)
	for i := range ann {
		ann[i] = b.announce() // all announced first: they share one transaction
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			e := catalog.Entry{
				ContentHash: fmt.Sprintf("%064x", i), RunID: fmt.Sprint(i), SignatureMethod: catalog.MethodDevKey,
				Timestamp: time.Now(), VerifiedAt: time.Now(), Envelope: []byte("{}"),
				Metrics: map[string]float64{"ttft_p50_ms": 1},
			}
			if i == bad {
				e.Metrics["tpot_p50_ms"] = math.NaN()
			}
			errs[i] = b.put(ctx, e, ann[i])
		})
	}
	wg.Wait()
	for i, err := range errs {
		switch {
		case i == bad && !errors.Is(err, catalog.ErrInvalid):
			t.Errorf("entry %d: got %v, want the catalog's refusal (ErrInvalid)", i, err)
		case i == bad && !strings.Contains(err.Error(), "tpot_p50_ms"):
			t.Errorf("entry %d: the refusal does not name the metric: %v", i, err)
		case i != bad && err != nil:
			t.Errorf("entry %d failed with the refused one: %v", i, err)
		}
	}
	if got, err := cat.Count(ctx, catalog.Filter{}); err != nil || got != n-1 {
		t.Fatalf("catalog holds %d entries (%v), want %d", got, err, n-1)
	}
}
