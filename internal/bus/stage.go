package bus

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// Message is one delivery to a stage's handler.
type Message struct {
	Subject    string
	Data       []byte
	Header     nats.Header
	Deliveries uint64 // 1 on the first delivery
	Stream     string // the stream and sequence it is stored at
	Sequence   uint64
}

// Output is a message a handler wants published before its input is
// acknowledged.
type Output struct {
	Subject string
	MsgID   string // Nats-Msg-Id: repeats inside the duplicate window are dropped
	Header  nats.Header
	Data    []byte
	// OnceEver publishes only if the subject holds no message yet: a
	// repeat long after the duplicate window is still dropped. For subjects
	// that name one envelope on a stream that keeps its messages (results).
	OnceEver bool
}

// Handler processes one message. It returns the outputs to publish, or an
// error: Permanent errors dead-letter the message at once, others are
// retried with backoff until the stage's delivery limit.
type Handler func(ctx context.Context, m *Message) ([]Output, error)

// Middleware wraps a handler, as Watermill's router middleware does: the
// concerns every stage shares (panics, size limits) stay out of handlers.
type Middleware func(Handler) Handler

// permanentError marks a failure that no retry can fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err as a failure that retrying cannot fix: an invalid
// envelope, a bad signature, a tampered trace. The message is dead-lettered
// with err as the reason.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err}
}

// Permanentf is Permanent(fmt.Errorf(...)).
func Permanentf(format string, args ...any) error { return Permanent(fmt.Errorf(format, args...)) }

// IsPermanent reports whether err was marked Permanent.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

// Recoverer turns a panic in the handler into a permanent failure with the
// stack in the reason: one poisonous message must not take the stage down.
func Recoverer(next Handler) Handler {
	return func(ctx context.Context, m *Message) (outs []Output, err error) {
		defer func() {
			if r := recover(); r != nil {
				err = Permanentf("the handler panicked: %v\n%s", r, debug.Stack())
			}
		}()
		return next(ctx, m)
	}
}

// MaxSize dead-letters messages larger than limit bytes before the handler
// sees them.
func MaxSize(limit int) Middleware {
	return func(next Handler) Handler {
		return func(ctx context.Context, m *Message) ([]Output, error) {
			if limit > 0 && len(m.Data) > limit {
				return nil, Permanentf("oversized message: %d bytes, more than the %d-byte limit", len(m.Data), limit)
			}
			return next(ctx, m)
		}
	}
}

// StageConfig describes a stage.
type StageConfig struct {
	Name     string // the stage: signer, verifier, indexer
	Stream   string // its input stream
	Consumer string // its durable consumer on that stream
	Handler  Handler
	// Middleware wraps Handler, outermost first. Recoverer is always the
	// outermost.
	Middleware []Middleware
	// Concurrency bounds the messages processed at once (default 16).
	Concurrency int
	Tuning
	Log zerolog.Logger
	// OnProcessed, when set, is called after each message is settled
	// (acknowledged, or dead-lettered with its reason): metrics and tests.
	OnProcessed func(m *Message, rejected error)
}

// Tuning adjusts a stage's delivery limits and timing; zero fields keep
// the defaults.
type Tuning struct {
	// MaxDeliver is how often a message is tried before it is
	// dead-lettered (default 5).
	MaxDeliver int
	// AckWait is how long the server waits for an acknowledgement before
	// redelivering (default 30 s); the stage reports progress (InProgress)
	// every AckWait/3 while a handler runs, so long work is not redelivered.
	AckWait time.Duration
	// Backoff is the wait before each retry of a transient failure
	// (default 1 s, 2 s, 5 s, 10 s, 30 s); the last value repeats.
	Backoff []time.Duration
	// RetryFor is how long one delivery retries a transient failure in
	// place, holding the message (default 2 minutes; negative: not at
	// all). An unreachable object store or a bus that is restarting then
	// stalls the stage instead of spending the message's deliveries: only
	// a failure that outlasts MaxDeliver × RetryFor is dead-lettered.
	RetryFor time.Duration
	// DrainTimeout bounds how long Run waits for messages in flight when
	// its context ends (default 30 s).
	DrainTimeout time.Duration
}

func (c *StageConfig) defaults() {
	if c.Concurrency <= 0 {
		c.Concurrency = 16
	}
	if c.MaxDeliver <= 0 {
		c.MaxDeliver = 5
	}
	if c.AckWait <= 0 {
		c.AckWait = 30 * time.Second
	}
	if len(c.Backoff) == 0 {
		c.Backoff = []time.Duration{time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 30 * time.Second}
	}
	if c.RetryFor == 0 {
		c.RetryFor = 2 * time.Minute
	}
	if c.DrainTimeout <= 0 {
		c.DrainTimeout = 30 * time.Second
	}
}

// RunStage consumes the stage's input until ctx ends, then drains: it stops
// fetching, lets the messages in flight finish (up to DrainTimeout) and
// returns. Each message is settled exactly one way:
//
//   - success: every output is published and confirmed by JetStream, then
//     the input is acknowledged (and the acknowledgement confirmed). A crash
//     in between redelivers the input; outputs carry message ids, so the
//     repeat is dropped, and stages are idempotent by content hash.
//   - permanent failure, or the last allowed delivery of a transient one:
//     the message is copied to the stage's dead-letter subject with the
//     reason, and only then terminated. If the copy cannot be published the
//     message is left for redelivery: nothing is lost.
//   - transient failure: retried in place with backoff for RetryFor,
//     then negatively acknowledged with the backoff delay (a delivery).
func RunStage(ctx context.Context, js jetstream.JetStream, cfg StageConfig) error {
	cfg.defaults()
	handler := cfg.Handler
	for i := len(cfg.Middleware) - 1; i >= 0; i-- {
		handler = cfg.Middleware[i](handler)
	}
	handler = Recoverer(handler)

	cons, err := js.CreateOrUpdateConsumer(ctx, cfg.Stream,
		ConsumerConfig(cfg.Consumer, cfg.MaxDeliver, cfg.AckWait, cfg.Concurrency*2))
	if err != nil {
		return fmt.Errorf("%s: consumer %s on %s: %w", cfg.Name, cfg.Consumer, cfg.Stream, err)
	}
	reaper, err := startReaper(ctx, js, &cfg)
	if err != nil {
		return err
	}
	defer reaper.Unsubscribe()

	// A missed heartbeat (a busy server, a slow network) is not the end of
	// the subscription: the iterator pulls again by itself. Reported, it
	// would stop the stage.
	it, err := cons.Messages(jetstream.PullMaxMessages(cfg.Concurrency), jetstream.WithMessagesErrOnMissingHeartbeat(false))
	if err != nil {
		return fmt.Errorf("%s: %w", cfg.Name, err)
	}
	stopped := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
		case <-stopped:
		}
		it.Stop()
	}()
	defer close(stopped)

	// Handlers keep running on a context that outlives ctx by the drain
	// timeout, so that work in flight can finish after a SIGTERM.
	workCtx, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	slots := make(chan struct{}, cfg.Concurrency)
	var wg sync.WaitGroup
	var loopErr error
	for {
		msg, err := it.Next()
		if err != nil {
			if !errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				loopErr = fmt.Errorf("%s: fetching: %w", cfg.Name, err)
			}
			break
		}
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			settle(workCtx, js, &cfg, handler, msg)
		})
	}
	drained := make(chan struct{})
	go func() { wg.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(cfg.DrainTimeout):
		cfg.Log.Warn().Str("stage", cfg.Name).Msg("drain timeout: abandoning messages in flight (they will be redelivered)")
		cancelWork()
		<-drained
	}
	return loopErr
}

func settle(ctx context.Context, js jetstream.JetStream, cfg *StageConfig, handler Handler, msg jetstream.Msg) {
	m := &Message{Subject: msg.Subject(), Data: msg.Data(), Header: msg.Headers(), Deliveries: 1, Stream: cfg.Stream}
	if meta, err := msg.Metadata(); err == nil {
		m.Deliveries, m.Sequence = meta.NumDelivered, meta.Sequence.Stream
	}
	log := cfg.Log.With().Str("stage", cfg.Name).Str("subject", m.Subject).
		Str("content_hash", m.Header.Get(HdrContentHash)).Str("run_id", m.Header.Get(HdrRunID)).
		Uint64("delivery", m.Deliveries).Logger()

	// Keep the message ours while the handler works.
	hctx, stopHeartbeat := context.WithCancel(ctx)
	go func() {
		t := time.NewTicker(cfg.AckWait / 3)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				_ = msg.InProgress()
			case <-hctx.Done():
				return
			}
		}
	}()
	start := time.Now()
	var err error
	for attempt := 0; ; attempt++ {
		var outs []Output
		if outs, err = handler(hctx, m); err == nil {
			if err = publishAll(hctx, js, outs); err != nil {
				// Nothing was lost: the input stays, and outputs already
				// published carry message ids.
				err = fmt.Errorf("publishing the output: %w", err)
			}
		}
		if err == nil || IsPermanent(err) || hctx.Err() != nil || cfg.RetryFor < 0 || time.Since(start) >= cfg.RetryFor {
			break
		}
		d := backoff(cfg, uint64(attempt+1))
		log.Warn().Err(err).Dur("retry_in", d).Msg("transient failure; retrying")
		select {
		case <-time.After(d):
		case <-hctx.Done():
		}
	}
	stopHeartbeat()

	if err == nil {
		if aerr := msg.DoubleAck(ctx); aerr != nil {
			log.Warn().Err(aerr).Msg("acknowledgement not confirmed; the message may be redelivered (outputs are idempotent)")
		}
		log.Debug().Msg("processed")
		if cfg.OnProcessed != nil {
			cfg.OnProcessed(m, nil)
		}
		return
	}
	if ctx.Err() != nil && !IsPermanent(err) {
		// Draining: hand the message back at once for another instance.
		_ = msg.Nak()
		return
	}
	if !IsPermanent(err) && m.Deliveries < uint64(cfg.MaxDeliver) {
		d := backoff(cfg, m.Deliveries)
		log.Warn().Err(err).Dur("retry_in", d).Msg("transient failure")
		_ = msg.NakWithDelay(d)
		return
	}
	reason := err.Error()
	if !IsPermanent(err) {
		reason = fmt.Sprintf("gave up after %d deliveries: %s", m.Deliveries, reason)
	}
	if derr := DeadLetter(ctx, js, cfg.Name, m, reason); derr != nil {
		log.Error().Err(derr).Str("reason", reason).Msg("dead-lettering failed; leaving the message for redelivery")
		_ = msg.NakWithDelay(backoff(cfg, m.Deliveries))
		return
	}
	_ = msg.TermWithReason(truncate(reason, 256))
	log.Info().Str("reason", reason).Msg("rejected")
	if cfg.OnProcessed != nil {
		cfg.OnProcessed(m, errors.New(reason))
	}
}

func backoff(cfg *StageConfig, deliveries uint64) time.Duration {
	i := int(deliveries) - 1
	if i < 0 {
		i = 0
	}
	if i >= len(cfg.Backoff) {
		i = len(cfg.Backoff) - 1
	}
	return cfg.Backoff[i]
}

// publishAll publishes outputs in order, each confirmed by JetStream.
func publishAll(ctx context.Context, js jetstream.JetStream, outs []Output) error {
	for _, o := range outs {
		opts := []jetstream.PublishOpt{}
		if o.MsgID != "" {
			opts = append(opts, jetstream.WithMsgID(o.MsgID))
		}
		if o.OnceEver {
			opts = append(opts, jetstream.WithExpectLastSequencePerSubject(0))
		}
		_, err := js.PublishMsg(ctx, &nats.Msg{Subject: o.Subject, Header: o.Header, Data: o.Data}, opts...)
		if err != nil {
			var apiErr *jetstream.APIError
			if o.OnceEver && errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence {
				continue // published before: the subject already holds it
			}
			return fmt.Errorf("publishing to %s: %w", o.Subject, err)
		}
	}
	return nil
}

// DeadLetter publishes m, verbatim, to stage's dead-letter subject with the
// reason and the message's provenance in headers. Its message id names the
// stream and sequence the message came from, so that a dead letter repeated
// after a crash (copied, but not yet removed) is dropped.
func DeadLetter(ctx context.Context, js jetstream.JetStream, stage string, m *Message, reason string) error {
	h := nats.Header{}
	for k, v := range m.Header {
		// JetStream's own headers (Nats-Msg-Id, Nats-Expected-Stream, ...)
		// were instructions for the original publish; kept, they would
		// make this one fail or be dropped.
		if !strings.HasPrefix(k, "Nats-") {
			h[k] = v
		}
	}
	h.Set(HdrStage, stage)
	h.Set(HdrReason, truncate(reason, 4096))
	h.Set(HdrFromSubject, m.Subject)
	h.Set(HdrDeliveries, strconv.FormatUint(m.Deliveries, 10))
	h.Set(HdrRejectedAt, time.Now().UTC().Format(time.RFC3339Nano))
	var opts []jetstream.PublishOpt
	if m.Sequence != 0 {
		opts = append(opts, jetstream.WithMsgID(fmt.Sprintf("dead:%s:%d", m.Stream, m.Sequence)))
	}
	_, err := js.PublishMsg(ctx, &nats.Msg{Subject: RejectedSubject(stage), Header: h, Data: m.Data}, opts...)
	return err
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}
