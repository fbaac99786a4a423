package bus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// PublishUnsigned publishes a runner's envelope (its canonical bytes) to
// the unsigned stream and waits for JetStream to confirm it. The message id
// is the content hash, so publishing the same envelope again (a retry after
// a lost acknowledgement, a runner restarted on the same results) is
// dropped by the server instead of signed twice.
//
// Errors that a reconnecting client or a restarting server gives are
// retried with backoff until ctx ends; header may carry job and batch ids.
func PublishUnsigned(ctx context.Context, js jetstream.JetStream, data []byte, suiteID, runID, contentHash string, header nats.Header) error {
	h := ForwardHeaders(header, StageRunner, runID, contentHash)
	msg := &nats.Msg{Subject: EnvelopeSubject(SubjectUnsigned, suiteID, contentHash), Header: h, Data: data}
	delay := 50 * time.Millisecond
	for {
		attempt, cancel := context.WithTimeout(ctx, publishAttemptTimeout)
		_, err := js.PublishMsg(attempt, msg, jetstream.WithMsgID(MsgID(StageRunner, contentHash)),
			jetstream.WithExpectStream(StreamUnsigned))
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() == nil && (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout)) {
			// This attempt timed out, the caller's time has not: try again.
		} else if !retryablePublish(err) {
			return fmt.Errorf("publishing %s: %w", msg.Subject, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("publishing %s: %w (last error: %v)", msg.Subject, ctx.Err(), err)
		case <-time.After(delay):
		}
		delay = min(2*delay, 2*time.Second)
	}
}

// publishAttemptTimeout bounds one wait for JetStream's acknowledgement.
const publishAttemptTimeout = 5 * time.Second

// retryablePublish tells errors that end when the server comes back from
// those that a retry cannot fix (a missing stream, a message over the
// server's size limit, a wrong subject).
func retryablePublish(err error) bool {
	switch {
	case errors.Is(err, nats.ErrMaxPayload), errors.Is(err, nats.ErrBadSubject),
		errors.Is(err, jetstream.ErrStreamNotFound), errors.Is(err, nats.ErrConnectionClosed):
		return false
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return false
	}
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		// 503 is "JetStream not ready" (a server starting or electing a leader).
		return apiErr.Code == 503
	}
	return true // timeouts, no responders, a connection being re-established
}
