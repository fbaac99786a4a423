package runner

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/inferencebench/bench/internal/bus"
	"github.com/inferencebench/bench/internal/objstore"
	"github.com/inferencebench/bench/pkg/envelope"
)

// TracePrefix is where runners upload traces: content-addressed keys
// traces/sha256/<hex>.parquet, so a trace is stored once however often it
// is uploaded, and its key names the hash the envelope binds.
const TracePrefix = "traces"

// TraceContentType is the media type of a trace object.
const TraceContentType = "application/vnd.apache.parquet"

// PublishTo sets cfg's hooks to deliver into the pipeline: each trace is
// uploaded to store (its sha256 checked by the server on the way in), and
// each envelope, which then points at the trace's s3:// URI, is published
// unsigned on the bus. Header travels with every envelope (job and batch
// ids, for fleet runs); it may be nil.
func (cfg *Config) PublishTo(js jetstream.JetStream, store *objstore.Store, header nats.Header) {
	cfg.StoreTrace = func(ctx context.Context, path, sha string) (string, error) {
		data, err := os.ReadFile(path)
		if err != nil {
			return "", err
		}
		key, got, err := putRetrying(ctx, store, data)
		if err != nil {
			return "", err
		}
		if got != sha {
			return "", fmt.Errorf("%s changed since it was written: sha256 %s, written as %s", path, got, sha)
		}
		return store.URI(key), nil
	}
	cfg.Publish = func(ctx context.Context, env *envelope.Envelope, hash string) error {
		data, err := env.MarshalJSON()
		if err != nil {
			return err
		}
		return bus.PublishUnsigned(ctx, js, data, env.SuiteID, env.RunID, hash, header)
	}
}

// putRetrying uploads a trace, waiting out an object store that is
// unreachable or overloaded (until ctx ends) rather than losing the run.
func putRetrying(ctx context.Context, store *objstore.Store, data []byte) (key, sha string, err error) {
	delay := 250 * time.Millisecond
	for {
		key, sha, err = store.PutContent(ctx, TracePrefix, data, TraceContentType)
		if err == nil || !objstore.IsTransient(err) || ctx.Err() != nil {
			return key, sha, err
		}
		select {
		case <-ctx.Done():
			return "", "", fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		case <-time.After(delay):
		}
		delay = min(2*delay, 5*time.Second)
	}
}
