// Package indexer is the last pipeline stage: it archives each verified
// envelope in object storage, writes it to the catalog, and only after the
// catalog commit publishes it on the results stream, where subscribers
// replay it from any point. Everything is keyed by content hash, so a
// redelivered envelope is neither stored nor published twice.
package indexer

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/inferencebench/bench/internal/bus"
	"github.com/inferencebench/bench/internal/catalog"
	"github.com/inferencebench/bench/internal/objstore"
	"github.com/inferencebench/bench/pkg/envelope"
	"github.com/inferencebench/bench/pkg/envelope/canonjson"
	"github.com/inferencebench/bench/pkg/envelope/devkey"
	"github.com/inferencebench/bench/pkg/envelope/keyless"
)

// Config configures an indexer.
type Config struct {
	JS      jetstream.JetStream
	Store   *objstore.Store
	Catalog catalog.Catalog
	// Concurrency bounds envelopes in flight (default 64): they share
	// catalog transactions, so more in flight means fewer commits.
	Concurrency int
	// MaxBatch bounds the entries of one catalog transaction (default 256).
	MaxBatch int
	// CommitDelay is how long a catalog transaction waits for envelopes
	// that other handlers are still archiving, so that one commit (and one
	// sync) serves many (default 5 ms; negative: never wait). It waits
	// only while such handlers exist: one envelope at a time is committed
	// at once.
	CommitDelay time.Duration
	Log         zerolog.Logger
	// Tuning adjusts retries and delivery limits (zero: the defaults).
	Tuning bus.Tuning
	// OnProcessed is called after each message is settled.
	OnProcessed func(m *bus.Message, rejected error)
}

// EnvelopeKey is where a verified envelope is archived in object storage.
func EnvelopeKey(contentHash string) string { return "envelopes/" + contentHash + ".json" }

// Run indexes until ctx ends, then drains.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 64
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 256
	}
	if cfg.CommitDelay == 0 {
		cfg.CommitDelay = 5 * time.Millisecond
	}
	b := newBatcher(cfg.Catalog, cfg.MaxBatch, max(cfg.CommitDelay, 0))
	defer b.stop()
	ix := &indexer{store: cfg.Store, batch: b}
	return bus.RunStage(ctx, cfg.JS, bus.StageConfig{
		Name: bus.StageIndexer, Stream: bus.StreamVerified, Consumer: bus.ConsumerIndexer,
		Handler:     ix.handle,
		Concurrency: cfg.Concurrency, Tuning: cfg.Tuning, Log: cfg.Log, OnProcessed: cfg.OnProcessed,
	})
}

type indexer struct {
	store *objstore.Store
	batch *batcher
}

func (ix *indexer) handle(ctx context.Context, m *bus.Message) ([]bus.Output, error) {
	// Announce the catalog entry to come, so that a transaction starting
	// meanwhile waits for it (put withdraws the announcement).
	coming := ix.batch.announce()
	defer coming.withdraw()
	env, err := envelope.Parse(m.Data)
	if err != nil {
		return nil, bus.Permanentf("not a valid envelope: %v", err)
	}
	hash := env.ContentHash()
	if got := m.Header.Get(bus.HdrContentHash); got != "" && got != hash {
		return nil, bus.Permanentf("content hash header %s does not match the envelope (%s)", got, hash)
	}
	key := EnvelopeKey(hash)
	if err := ix.store.Put(ctx, key, m.Data, "application/json"); err != nil {
		if objstore.IsTransient(err) {
			return nil, fmt.Errorf("archiving the envelope: %w", err)
		}
		return nil, bus.Permanentf("archiving the envelope: %v", err)
	}
	entry := Entry(env, hash, m.Data)
	entry.EnvelopeURI = ix.store.URI(key)
	if id := identity(env, m); id != "" {
		entry.SignerIdentity = id // what the verifier matched against the policy
	}
	entry.JobID, entry.BatchID = m.Header.Get(bus.HdrJobID), m.Header.Get(bus.HdrBatchID)
	if err := ix.batch.put(ctx, entry, coming); err != nil {
		if errors.Is(err, catalog.ErrInvalid) {
			return nil, bus.Permanentf("the catalog refused the entry: %v", err)
		}
		return nil, fmt.Errorf("writing the catalog: %w", err) // retried: the catalog is idempotent
	}
	h := bus.ForwardHeaders(m.Header, bus.StageIndexer, env.RunID, hash)
	if s := m.Header.Get(bus.HdrSignerID); s != "" {
		h.Set(bus.HdrSignerID, s)
	}
	return []bus.Output{{
		Subject:  bus.EnvelopeSubject(bus.SubjectResults, env.SuiteID, hash),
		MsgID:    bus.MsgID(bus.StageIndexer, hash),
		Header:   h,
		Data:     m.Data,
		OnceEver: true,
	}}, nil
}

func identity(env *envelope.Envelope, m *bus.Message) string {
	if env.Signature != nil && env.Signature.Method == envelope.MethodKeyless {
		return m.Header.Get(bus.HdrSignerID)
	}
	return ""
}

// Entry extracts the catalog's fields from a verified envelope. A metric
// whose value does not fit a float64 (an integer of hundreds of digits is
// valid JSON and a valid envelope) is left out of the catalog's metrics; the
// archived envelope keeps it as it is.
func Entry(env *envelope.Envelope, hash string, raw []byte) catalog.Entry {
	e := catalog.Entry{
		ContentHash: hash, RunID: env.RunID, SuiteID: env.SuiteID, SuiteVersion: env.SuiteVersion,
		ModelID: env.Model.ID, ModelRevision: env.Model.Revision, Provider: env.Model.Provider,
		EngineName: env.Engine.Name, EngineVersion: env.Engine.Version, DatasetID: env.Dataset.ID,
		HardwareFingerprint: env.HardwareFingerprint.FingerprintSHA256,
		GPUCount:            len(env.HardwareFingerprint.GPUs),
		Timestamp:           env.Timestamp.UTC(),
		VerifiedAt:          time.Now().UTC(),
		Metrics:             map[string]float64{},
		Envelope:            raw,
	}
	if len(env.HardwareFingerprint.GPUs) > 0 {
		e.GPUModel = env.HardwareFingerprint.GPUs[0].Model
	}
	if t, ok := env.Distributions.Get("traces"); ok {
		e.TracesURI = t
	}
	if s := env.Signature; s != nil {
		e.SignatureMethod = s.Method
		if s.Method == envelope.MethodDevKey {
			if pub, err := devkey.EmbeddedKey(s); err == nil {
				e.SignerKeyID = devkey.KeyID(pub)
			}
		}
		if s.Method == envelope.MethodKeyless {
			// The verifier checked the certificate; the catalog records
			// whom it names.
			if b, err := keyless.ParseSignature(s); err == nil {
				e.SignerIdentity, e.SignerIssuer, _ = keyless.CertificateIdentity(b.Certificate)
			}
		}
	}
	for _, m := range env.Metrics {
		if k := m.Value.Kind(); k == canonjson.Int || k == canonjson.Float {
			if f := m.Value.Float(); !math.IsInf(f, 0) {
				e.Metrics[m.Name] = f
			}
		}
	}
	return e
}

// batcher gives concurrent handlers group commit: each put waits while a
// transaction gathers what has arrived meanwhile, so that a SQLite catalog
// commits (and syncs) once for many envelopes instead of once each. Like
// PostgreSQL's commit_delay with commit_siblings, a transaction also waits
// up to delay for entries that handlers have announced but not yet sent,
// and only then: a lone envelope is committed at once.
type batcher struct {
	cat    catalog.Catalog
	max    int
	delay  time.Duration
	coming atomic.Int64 // announced, not yet sent to loop
	reqs   chan putReq
	done   chan struct{}
}

// putReq is one entry waiting for its transaction. Whether it was new or
// already stored does not matter to the indexer (it publishes either way,
// see catalog.Catalog.Put), so the reply is the transaction's error alone.
type putReq struct {
	entry catalog.Entry
	reply chan error
}

func newBatcher(cat catalog.Catalog, max int, delay time.Duration) *batcher {
	b := &batcher{cat: cat, max: max, delay: delay, reqs: make(chan putReq), done: make(chan struct{})}
	go b.loop()
	return b
}

// announcement is one handler's promise of an entry. Its handler alone
// uses it; withdraw is idempotent, so the handler may defer it and also
// call it through put.
type announcement struct {
	b         *batcher
	withdrawn bool
}

func (b *batcher) announce() *announcement {
	b.coming.Add(1)
	return &announcement{b: b}
}

func (a *announcement) withdraw() {
	if !a.withdrawn {
		a.withdrawn = true
		a.b.coming.Add(-1)
	}
}

var errStopped = errors.New("indexer: catalog writer stopped")

func (b *batcher) put(ctx context.Context, e catalog.Entry, a *announcement) error {
	reply := make(chan error, 1)
	// Withdrawn before sending: the loop may then stop waiting a little
	// early (a smaller batch), never wait for an entry already sent.
	a.withdraw()
	select {
	case b.reqs <- putReq{e, reply}:
	case <-ctx.Done():
		return ctx.Err()
	case <-b.done:
		return errStopped
	}
	select {
	case err := <-reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (b *batcher) loop() {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		var batch []putReq
		select {
		case r := <-b.reqs:
			batch = append(batch, r)
		case <-b.done:
			return
		}
		// Take whatever else is waiting; then, while other handlers are
		// still on their way here, wait for them up to the delay.
		waiting := false
	gather:
		for len(batch) < b.max {
			select {
			case r := <-b.reqs:
				batch = append(batch, r)
				continue
			default:
			}
			if b.delay <= 0 || b.coming.Load() == 0 {
				break
			}
			if !waiting {
				timer.Reset(b.delay)
				waiting = true
			}
			select {
			case r := <-b.reqs:
				batch = append(batch, r)
			case <-timer.C:
				break gather
			case <-b.done:
				break gather
			}
		}
		timer.Stop() // Go 1.23 timers: nothing stale is left to drain
		entries := make([]catalog.Entry, len(batch))
		for i := range batch {
			entries[i] = batch[i].entry
		}
		err := b.commit(entries...)
		if err != nil && len(batch) > 1 {
			// One entry the catalog refuses must not fail the envelopes it
			// happened to share a transaction with: each is tried alone, so
			// that only its own error comes back to it.
			for _, r := range batch {
				r.reply <- b.commit(r.entry)
			}
			continue
		}
		for _, r := range batch {
			r.reply <- err
		}
	}
}

// commit writes entries to the catalog in one transaction.
func (b *batcher) commit(entries ...catalog.Entry) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := b.cat.Put(ctx, entries...)
	return err
}

func (b *batcher) stop() { close(b.done) }
