// Package bustest starts the message bus for tests: an embedded NATS server
// with JetStream on a free loopback port, its store in the test's temporary
// directory, a connection to it, and (Start) the contract's streams and
// key-value buckets. Everything is closed when the test ends.
//
// Package bus's own tests cannot use it (it imports bus).
package bustest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/inferencebench/bench/internal/bus"
	"github.com/inferencebench/bench/internal/natsserver"
)

// Bus is a running test server and a connection to it.
type Bus struct {
	URL  string // the server's client URL, for other processes and clients
	Conn *nats.Conn
	JS   jetstream.JetStream
}

// StartServer starts the server and connects to it. No stream exists yet:
// for tests of what clients do without the pipeline's streams.
func StartServer(t testing.TB) *Bus {
	t.Helper()
	srv, err := natsserver.Start(natsserver.Options{Dir: t.TempDir(), Port: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	b := &Bus{URL: srv.ClientURL()}
	b.Conn, b.JS = b.Connect(t)
	return b
}

// Start starts the server, connects to it and runs bus.Setup with opts, so
// that every stream and key-value bucket of the contract exists.
func Start(t testing.TB, opts bus.Options) *Bus {
	t.Helper()
	b := StartServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := bus.Setup(ctx, b.JS, opts); err != nil {
		t.Fatal(err)
	}
	return b
}

// Connect opens another connection to the server (a second process, say),
// closed when the test ends.
func (b *Bus) Connect(t testing.TB) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(b.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

// Count returns how many messages stream holds now.
func Count(t testing.TB, js jetstream.JetStream, stream string) uint64 {
	t.Helper()
	s, err := js.Stream(context.Background(), stream)
	if err != nil {
		t.Fatalf("stream %s: %v", stream, err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatalf("stream %s: %v", stream, err)
	}
	return info.State.Msgs
}

// Collector gathers a stream's messages as they arrive, through an
// ordered consumer from the stream's start.
type Collector struct {
	mu   sync.Mutex
	msgs []jetstream.Msg
}

// Collect starts a Collector on stream, stopped when the test ends.
func Collect(t testing.TB, js jetstream.JetStream, stream string) *Collector {
	t.Helper()
	c := &Collector{}
	cons, err := js.OrderedConsumer(context.Background(), stream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		c.mu.Lock()
		c.msgs = append(c.msgs, m)
		c.mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cc.Stop)
	return c
}

// Len returns how many messages have arrived.
func (c *Collector) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.msgs)
}

// All returns the messages that have arrived, in stream order.
func (c *Collector) All() []jetstream.Msg {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]jetstream.Msg(nil), c.msgs...)
}
