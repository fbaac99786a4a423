package runner

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/inferencebench/bench/pkg/envelope"
	"github.com/inferencebench/bench/services/runner/load"
	"github.com/inferencebench/bench/services/runner/simengine"
	"github.com/inferencebench/bench/services/runner/simengine/simenginetest"
)

// TestResumeAfterFailedPublish interrupts a five-point run by failing the
// publication of its third envelope (as a crash between writing and
// publishing would leave it), then resumes it: the second run measures only
// the last two points and publishes the third point's envelope, the one
// already written, instead of measuring it again.
func TestResumeAfterFailedPublish(t *testing.T) {
	url := simenginetest.Start(t, simengine.Options{TTFT: time.Millisecond, TPOT: 100 * time.Microsecond})
	dir := t.TempDir()
	var mu sync.Mutex
	published := map[string]int{}
	calls := 0
	cfg := Config{
		Endpoint: url, Stream: true, OutDir: dir, Seed: 3, Resume: true, Repeat: 5,
		Points:  []load.Spec{{Concurrency: 1, Requests: 2}},
		Dataset: DatasetConfig{Output: lengths(4)},
		Publish: func(_ context.Context, env *envelope.Envelope, hash string) error {
			mu.Lock()
			defer mu.Unlock()
			calls++
			if calls == 3 {
				return errors.New("the bus went away")
			}
			if got := env.ContentHash(); got != hash {
				t.Errorf("published hash %s for an envelope hashing to %s", hash, got)
			}
			published[hash]++
			return nil
		},
	}
	res, err := Run(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "the bus went away") {
		t.Fatalf("first run: err %v, want the publish failure", err)
	}
	if len(res) != 2 {
		t.Fatalf("first run returned %d results before failing, want 2", len(res))
	}
	written, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	if len(written) != 3 {
		t.Fatalf("%d envelopes written by the first run, want 3 (the third unpublished)", len(written))
	}

	res, err = Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 {
		t.Fatalf("the resumed run measured %d points, want the 2 left", len(res))
	}
	written, _ = filepath.Glob(filepath.Join(dir, "*.json"))
	if len(written) != 5 || len(published) != 5 {
		t.Fatalf("%d envelopes written, %d distinct published; want 5 and 5", len(written), len(published))
	}
	for h, n := range published {
		if n != 1 {
			t.Errorf("%s published %d times", h, n)
		}
	}

	// A third run has nothing left to do.
	res, err = Run(context.Background(), cfg)
	if err != nil || len(res) != 0 || calls != 6 {
		t.Fatalf("third run: %d results, err %v, %d publish calls in all (want 0, nil, 6)", len(res), err, calls)
	}

	// The same directory with other settings is refused, not mixed.
	other := cfg
	other.Seed = 4
	if _, err := Run(context.Background(), other); !errors.Is(err, ErrJournalMismatch) {
		t.Fatalf("resuming with another seed: %v, want ErrJournalMismatch", err)
	}
}

// TestJournalIgnoresTornLine checks that a line cut short by a crash does
// not stop the journal from opening, and that later records still count.
func TestJournalIgnoresTornLine(t *testing.T) {
	dir := t.TempDir()
	cfg := &Config{Endpoint: "http://x", Points: []load.Spec{{Concurrency: 1, Requests: 1}, {Concurrency: 2, Requests: 1}}}
	j, err := openJournal(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Written(context.Background(), 0, nil, "aa", filepath.Join(dir, "a.json")); err != nil {
		t.Fatal(err)
	}
	j.close()
	f, _ := os.OpenFile(filepath.Join(dir, JournalFile), os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString(`{"state":"written","point":1,"enve`)
	f.Close()

	j, err = openJournal(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := j.done(1); ok {
		t.Fatal("the torn record counted")
	}
	if e, ok := j.done(0); !ok || e.Published || e.Envelope != "a.json" {
		t.Fatalf("point 0: %+v %v", e, ok)
	}
	if err := j.Published(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	j.close()
	j, err = openJournal(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer j.close()
	if e, _ := j.done(0); !e.Published {
		t.Fatal("the record after the torn line was lost")
	}
}
