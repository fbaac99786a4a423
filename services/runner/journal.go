package runner

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/inferencebench/bench/pkg/envelope"
)

// Checkpoint keeps a run's progress outside the process, so that a run
// interrupted at any point resumes without losing or repeating a load
// point: on the same host (the journal, Config.Resume) or on another (a
// fleet job's record). Each point's envelope is recorded before it is
// published, and its publication after.
type Checkpoint interface {
	// Finished returns the envelope an earlier attempt wrote for point i
	// (ok false when there is none) and whether its publication was
	// confirmed.
	Finished(ctx context.Context, i int) (envelope []byte, published, ok bool, err error)
	// Written records point i's envelope, also written to path, before it
	// is published.
	Written(ctx context.Context, i int, env *envelope.Envelope, contentHash, path string) error
	// Published records that point i's envelope was accepted by the bus.
	Published(ctx context.Context, i int) error
}

// journal records which load points of a run are finished, in a file next
// to the results, so that a runner restarted after a crash (or a kill, or a
// reboot) resumes the run instead of measuring it again: finished points
// are skipped, and an envelope that was written but whose publication was
// not confirmed is published again (its message id makes that harmless).
//
// Each record is one JSON line, synced before the step it records is
// considered done; a line torn by a crash is ignored.
type journal struct {
	mu     sync.Mutex
	path   string
	f      *os.File
	key    string
	points map[int]*journalEntry
}

// journalEntry is what the journal knows about one load point.
type journalEntry struct {
	Point       int    `json:"point"`
	Envelope    string `json:"envelope,omitempty"` // file name in the out directory
	ContentHash string `json:"content_hash,omitempty"`
	Published   bool   `json:"published,omitempty"`
}

type journalLine struct {
	RunKey string `json:"run_key,omitempty"`
	Points int    `json:"points,omitempty"`
	State  string `json:"state,omitempty"` // "written" or "published"
	journalEntry
}

// JournalFile is the journal's name in a run's out directory.
const JournalFile = "journal.jsonl"

// ErrJournalMismatch is returned when a journal belongs to another run.
var ErrJournalMismatch = errors.New("runner: the journal belongs to a different run")

// openJournal opens (or creates) dir's journal for the run that cfg
// describes. A journal left by a run with other settings (endpoint, model,
// load points, dataset, seed) is refused with ErrJournalMismatch rather
// than mixed with this one.
func openJournal(dir string, cfg *Config) (*journal, error) {
	key, err := runKey(cfg)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, JournalFile)
	j := &journal{path: path, key: key, points: map[int]*journalEntry{}}
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, err
	default:
		if err := j.replay(data, len(cfg.Points)); err != nil {
			return nil, err
		}
	}
	j.f, err = os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	if len(data) == 0 {
		if err := j.append(journalLine{RunKey: key, Points: len(cfg.Points)}); err != nil {
			j.f.Close()
			return nil, err
		}
	} else if data[len(data)-1] != '\n' {
		// Terminate a torn last line so the next record starts clean.
		if _, err := j.f.Write([]byte{'\n'}); err != nil {
			j.f.Close()
			return nil, err
		}
	}
	return j, nil
}

func (j *journal) replay(data []byte, points int) error {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	first := true
	for sc.Scan() {
		var l journalLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			continue // torn by a crash mid-write
		}
		if first {
			first = false
			if l.RunKey != j.key || l.Points != points {
				return fmt.Errorf("%w: %s was written for other settings (endpoint, model, load points, dataset or seed); resume with the same flags, or use another --out", ErrJournalMismatch, j.path)
			}
			continue
		}
		e := j.points[l.Point]
		if e == nil {
			e = &journalEntry{Point: l.Point}
			j.points[l.Point] = e
		}
		switch l.State {
		case "written":
			e.Envelope, e.ContentHash = l.Envelope, l.ContentHash
		case "published":
			e.Published = true
		}
	}
	if first {
		return fmt.Errorf("%s: not a run journal", j.path)
	}
	return sc.Err()
}

// done reports what the journal holds on point i, if its envelope was
// written.
func (j *journal) done(i int) (journalEntry, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	e, ok := j.points[i]
	if !ok || e.Envelope == "" {
		return journalEntry{}, false
	}
	return *e, true
}

// Finished implements Checkpoint: the envelope is read back from the out
// directory and checked against the hash the journal recorded.
func (j *journal) Finished(_ context.Context, i int) ([]byte, bool, bool, error) {
	e, ok := j.done(i)
	if !ok {
		return nil, false, false, nil
	}
	path := filepath.Join(filepath.Dir(j.path), e.Envelope)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, false, false, fmt.Errorf("the journal names %s: %w", path, err)
	}
	env, err := envelope.Parse(data)
	if err != nil {
		return nil, false, false, fmt.Errorf("%s: %w", path, err)
	}
	if h := env.ContentHash(); h != e.ContentHash {
		return nil, false, false, fmt.Errorf("%s changed since it was written (content hash %s, journal %s)", path, h, e.ContentHash)
	}
	return data, e.Published, true, nil
}

// Written implements Checkpoint: it records that point i's envelope is in
// the out directory, by file name.
func (j *journal) Written(_ context.Context, i int, _ *envelope.Envelope, contentHash, path string) error {
	e := journalEntry{Point: i, Envelope: filepath.Base(path), ContentHash: contentHash}
	j.mu.Lock()
	defer j.mu.Unlock()
	if err := j.append(journalLine{State: "written", journalEntry: e}); err != nil {
		return err
	}
	j.points[i] = &e
	return nil
}

// Published implements Checkpoint.
func (j *journal) Published(_ context.Context, i int) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if err := j.append(journalLine{State: "published", journalEntry: journalEntry{Point: i}}); err != nil {
		return err
	}
	if e := j.points[i]; e != nil {
		e.Published = true
	}
	return nil
}

func (j *journal) append(l journalLine) error {
	b, err := json.Marshal(l)
	if err != nil {
		return err
	}
	if _, err := j.f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("writing the journal %s: %w", j.path, err)
	}
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("syncing the journal %s: %w", j.path, err)
	}
	return nil
}

// close closes the journal file.
func (j *journal) close() error { return j.f.Close() }

// runKey identifies a run by what decides its measurements, so that a
// journal is only resumed by the same run.
func runKey(cfg *Config) (string, error) {
	b, err := json.Marshal(struct {
		Endpoint, Model, API string
		Stream               bool
		Extra                map[string]any
		Points               any
		Warmup, Cooldown     any
		Dataset              DatasetConfig
		Seed                 uint64
		Suite                string
	}{cfg.Endpoint, cfg.Model, string(cfg.API), cfg.Stream, cfg.Extra, cfg.Points,
		[]any{cfg.Warmup, cfg.WarmupDuration}, []any{cfg.Cooldown, cfg.CooldownDuration},
		cfg.Dataset, cfg.Seed, cfg.SuiteID + "@" + cfg.SuiteVersion})
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}
