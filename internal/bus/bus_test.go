package bus

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/inferencebench/bench/internal/natsserver"
)

func startJS(t *testing.T) jetstream.JetStream {
	t.Helper()
	srv, err := natsserver.Start(natsserver.Options{Dir: t.TempDir(), Port: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := Setup(ctx, js, Options{}); err != nil {
		t.Fatal(err)
	}
	if err := Setup(ctx, js, Options{}); err != nil { // idempotent
		t.Fatal(err)
	}
	return js
}

func publish(t *testing.T, js jetstream.JetStream, subject, data string) {
	t.Helper()
	h := nats.Header{}
	h.Set(HdrContentHash, "h-"+data)
	if _, err := js.PublishMsg(context.Background(), &nats.Msg{Subject: subject, Data: []byte(data), Header: h}); err != nil {
		t.Fatal(err)
	}
}

// storedMsg is a message read back from a stream.
type storedMsg struct {
	subject string
	header  nats.Header
	data    []byte
}

func (m storedMsg) Subject() string      { return m.subject }
func (m storedMsg) Headers() nats.Header { return m.header }
func (m storedMsg) Data() []byte         { return m.data }

// collect reads every message stored in a stream by sequence (work-queue
// streams allow no second consumer).
func collect(t *testing.T, js jetstream.JetStream, stream string) []storedMsg {
	t.Helper()
	ctx := context.Background()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []storedMsg
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		raw, err := s.GetMsg(ctx, seq)
		if err != nil {
			continue // deleted
		}
		out = append(out, storedMsg{raw.Subject, raw.Header, raw.Data})
	}
	return out
}

func streamCount(t *testing.T, js jetstream.JetStream, stream string) uint64 {
	t.Helper()
	s, err := js.Stream(context.Background(), stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

// runStage runs a stage until the test ends and counts settled messages.
func runStage(t *testing.T, js jetstream.JetStream, cfg StageConfig) (settled *atomic.Int64, rejected *sync.Map) {
	t.Helper()
	settled, rejected = &atomic.Int64{}, &sync.Map{}
	cfg.Stream, cfg.Consumer, cfg.Log = StreamUnsigned, ConsumerSigner, zerolog.Nop()
	if cfg.Name == "" {
		cfg.Name = StageSigner
	}
	if cfg.Backoff == nil {
		cfg.Backoff = []time.Duration{10 * time.Millisecond}
	}
	if cfg.RetryFor == 0 {
		cfg.RetryFor = -1 // each failure costs a delivery, unless a test says otherwise
	}
	cfg.OnProcessed = func(m *Message, err error) {
		if err != nil {
			rejected.Store(string(m.Data), err.Error())
		}
		settled.Add(1)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- RunStage(ctx, js, cfg) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return settled, rejected
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestStageSettlesEveryMessageOneWay(t *testing.T) {
	js := startJS(t)
	var attempts sync.Map
	handler := func(ctx context.Context, m *Message) ([]Output, error) {
		n, _ := attempts.LoadOrStore(string(m.Data), new(atomic.Int32))
		try := n.(*atomic.Int32).Add(1)
		switch {
		case strings.HasPrefix(string(m.Data), "bad"):
			return nil, Permanentf("invalid: %s", m.Data)
		case strings.HasPrefix(string(m.Data), "flaky") && try < 3:
			return nil, errors.New("S3 unreachable")
		case strings.HasPrefix(string(m.Data), "down"):
			return nil, errors.New("S3 unreachable")
		case strings.HasPrefix(string(m.Data), "panic"):
			panic("boom")
		}
		return []Output{{Subject: SubjectSigned + ".s." + string(m.Data), MsgID: MsgID(StageSigner, string(m.Data)), Data: m.Data}}, nil
	}
	settled, rejected := runStage(t, js, StageConfig{Handler: handler, Tuning: Tuning{MaxDeliver: 4}, Middleware: []Middleware{MaxSize(1000)}})
	inputs := []string{"ok1", "ok2", "bad1", "flaky1", "down1", "panic1", strings.Repeat("x", 2000)}
	for _, in := range inputs {
		publish(t, js, SubjectUnsigned+".s."+fmt.Sprint(len(in)), in)
	}
	waitFor(t, "every message settled", func() bool { return settled.Load() == int64(len(inputs)) })
	waitFor(t, "the input stream empty", func() bool { return streamCount(t, js, StreamUnsigned) == 0 })

	signed := collect(t, js, StreamSigned)
	var got []string
	for _, m := range signed {
		got = append(got, string(m.Data()))
	}
	slices.Sort(got) // flaky1 is retried, and ok1 and ok2 race
	if strings.Join(got, ",") != "flaky1,ok1,ok2" {
		t.Fatalf("signed %v, want flaky1, ok1 and ok2", got)
	}
	wantReasons := map[string]string{
		"bad1":                    "invalid: bad1",
		"down1":                   "gave up after 4 deliveries: S3 unreachable",
		"panic1":                  "the handler panicked: boom",
		strings.Repeat("x", 2000): "oversized message: 2000 bytes",
	}
	dead := collect(t, js, StreamRejected)
	if len(dead) != len(wantReasons) {
		t.Fatalf("%d dead letters, want %d", len(dead), len(wantReasons))
	}
	for _, m := range dead {
		want := wantReasons[string(m.Data())]
		reason := m.Headers().Get(HdrReason)
		if want == "" || !strings.Contains(reason, want) {
			t.Errorf("dead letter %.20q: reason %q, want %q", m.Data(), reason, want)
		}
		if m.Subject() != RejectedSubject(StageSigner) || m.Headers().Get(HdrContentHash) != "h-"+string(m.Data()) ||
			!strings.HasPrefix(m.Headers().Get(HdrFromSubject), SubjectUnsigned) {
			t.Errorf("dead letter headers %v on %s", m.Headers(), m.Subject())
		}
		if _, ok := rejected.Load(string(m.Data())); !ok {
			t.Errorf("OnProcessed did not see the rejection of %.20q", m.Data())
		}
	}
}

// TestOutageHoldsMessages fails every message transiently for a second (an
// object store that is down) with a stage that allows only two deliveries:
// the stage holds the messages and retries in place, so nothing is
// dead-lettered and every message is processed on its first delivery.
func TestOutageHoldsMessages(t *testing.T) {
	js := startJS(t)
	var down atomic.Bool
	down.Store(true)
	time.AfterFunc(time.Second, func() { down.Store(false) })
	var firstDelivery atomic.Int64
	handler := func(ctx context.Context, m *Message) ([]Output, error) {
		if down.Load() {
			return nil, errors.New("connection refused")
		}
		if m.Deliveries == 1 {
			firstDelivery.Add(1)
		}
		return []Output{{Subject: SubjectSigned + ".s." + string(m.Data), MsgID: MsgID(StageSigner, string(m.Data)), Data: m.Data}}, nil
	}
	settled, rejected := runStage(t, js, StageConfig{Handler: handler, Concurrency: 2,
		Tuning: Tuning{MaxDeliver: 2, RetryFor: 10 * time.Second, Backoff: []time.Duration{50 * time.Millisecond, 200 * time.Millisecond}}})
	for i := range 10 {
		publish(t, js, SubjectUnsigned+".s.m", fmt.Sprint("m", i))
	}
	waitFor(t, "every message settled", func() bool { return settled.Load() == 10 })
	n := 0
	rejected.Range(func(any, any) bool { n++; return true })
	if n != 0 || firstDelivery.Load() != 10 || streamCount(t, js, StreamSigned) != 10 {
		t.Fatalf("%d rejected, %d of 10 processed on their first delivery, %d signed", n, firstDelivery.Load(), streamCount(t, js, StreamSigned))
	}
}

func TestOnceEverAndMessageIDs(t *testing.T) {
	js := startJS(t)
	ctx := context.Background()
	out := []Output{{Subject: SubjectResults + ".s.abc", MsgID: MsgID(StageIndexer, "abc"), Data: []byte("x"), OnceEver: true}}
	for range 3 {
		if err := publishAll(ctx, js, out); err != nil {
			t.Fatal(err)
		}
	}
	// A different message id (outside the duplicate window, say) on the
	// same subject is still refused, silently.
	out[0].MsgID = "other"
	if err := publishAll(ctx, js, out); err != nil {
		t.Fatal(err)
	}
	if n := streamCount(t, js, StreamResults); n != 1 {
		t.Fatalf("%d results for one envelope", n)
	}
}

func TestLongWorkIsNotRedelivered(t *testing.T) {
	js := startJS(t)
	var calls atomic.Int32
	handler := func(ctx context.Context, m *Message) ([]Output, error) {
		calls.Add(1)
		time.Sleep(2500 * time.Millisecond) // longer than AckWait: InProgress keeps it ours
		return nil, nil
	}
	settled, _ := runStage(t, js, StageConfig{Handler: handler, Tuning: Tuning{AckWait: time.Second}})
	publish(t, js, SubjectUnsigned+".s.1", "slow")
	waitFor(t, "the slow message settled", func() bool { return settled.Load() == 1 })
	if calls.Load() != 1 {
		t.Fatalf("handled %d times", calls.Load())
	}
}

func TestDrainFinishesWorkInFlight(t *testing.T) {
	js := startJS(t)
	started := make(chan struct{})
	var finished atomic.Bool
	handler := func(ctx context.Context, m *Message) ([]Output, error) {
		close(started)
		time.Sleep(300 * time.Millisecond)
		finished.Store(true)
		return []Output{{Subject: SubjectSigned + ".s.1", Data: m.Data}}, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		done <- RunStage(ctx, js, StageConfig{Name: StageSigner, Stream: StreamUnsigned, Consumer: ConsumerSigner, Handler: handler, Log: zerolog.Nop()})
	}()
	publish(t, js, SubjectUnsigned+".s.1", "in-flight")
	<-started
	cancel() // SIGTERM while the handler works
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !finished.Load() || streamCount(t, js, StreamSigned) != 1 || streamCount(t, js, StreamUnsigned) != 0 {
		t.Fatal("drain did not finish and acknowledge the message in flight")
	}
}

// TestReaperDeadLettersWhatTheServerGaveUpOn simulates a stage that crashes
// on a message every time: the message is fetched and never settled until
// the server stops delivering it; the reaper then moves it to the dead
// letters.
func TestReaperDeadLettersWhatTheServerGaveUpOn(t *testing.T) {
	js := startJS(t)
	ctx := context.Background()
	cfg := StageConfig{Name: StageSigner, Stream: StreamUnsigned, Consumer: ConsumerSigner, Tuning: Tuning{MaxDeliver: 1}, Log: zerolog.Nop()}
	cons, err := js.CreateOrUpdateConsumer(ctx, StreamUnsigned, ConsumerConfig(ConsumerSigner, 1, 200*time.Millisecond, 10))
	if err != nil {
		t.Fatal(err)
	}
	var reaped atomic.Int32
	cfg.OnProcessed = func(*Message, error) { reaped.Add(1) }
	sub, err := startReaper(ctx, js, &cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	publish(t, js, SubjectUnsigned+".s.1", "poison")
	// Server MaxDeliver is 2: fetch and "crash" twice; the third pull is
	// when the server notices and emits the advisory (a running stage
	// always has a pull outstanding).
	for range 3 {
		batch, err := cons.Fetch(1, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		for range batch.Messages() {
		}
		time.Sleep(300 * time.Millisecond) // past AckWait: redelivered, then given up
	}
	waitFor(t, "the reaper", func() bool { return reaped.Load() == 1 })
	dead := collect(t, js, StreamRejected)
	if len(dead) != 1 || string(dead[0].Data()) != "poison" || !strings.Contains(dead[0].Headers().Get(HdrReason), "never settled") {
		t.Fatalf("dead letters %v", dead)
	}
	if streamCount(t, js, StreamUnsigned) != 0 {
		t.Fatal("the given-up message is still in the work queue")
	}
}

func TestSubjects(t *testing.T) {
	if got := EnvelopeSubject(SubjectResults, "llm.inference sharegpt>*", "ab12"); got != "bench.results.llm_inference_sharegpt__.ab12" {
		t.Fatal(got)
	}
	if Token("") != "_" || MsgID(StageVerifier, "h") != "verifier:h" || RejectedSubject(StageIndexer) != "bench.rejected.indexer" {
		t.Fatal("subject helpers")
	}
}
