package bus

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// startReaper catches the messages the server itself gives up on: a stage
// dead-letters a message on its last allowed delivery, but if the stage
// crashes (or times out) on a message every time, the server stops
// delivering it after MaxDeliver and says so in an advisory. On a work-queue
// stream the message is still stored: the reaper copies it to the dead
// letters with the reason and only then deletes it. Instances of a stage
// share the advisory through a queue group, and the copy carries a message
// id, so it is dead-lettered once.
func startReaper(ctx context.Context, js jetstream.JetStream, cfg *StageConfig) (*nats.Subscription, error) {
	subject := fmt.Sprintf("$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.%s.%s", cfg.Stream, cfg.Consumer)
	stream, err := js.Stream(ctx, cfg.Stream)
	if err != nil {
		return nil, fmt.Errorf("%s: stream %s: %w", cfg.Name, cfg.Stream, err)
	}
	return js.Conn().QueueSubscribe(subject, "reaper-"+cfg.Name, func(adv *nats.Msg) {
		var a struct {
			StreamSeq  uint64 `json:"stream_seq"`
			Deliveries uint64 `json:"deliveries"`
		}
		if err := json.Unmarshal(adv.Data, &a); err != nil || a.StreamSeq == 0 {
			cfg.Log.Error().Err(err).Str("advisory", string(adv.Data)).Msg("unreadable max-deliveries advisory")
			return
		}
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		raw, err := stream.GetMsg(rctx, a.StreamSeq)
		if err != nil {
			return // already dead-lettered by another instance, or acknowledged meanwhile
		}
		m := &Message{Subject: raw.Subject, Data: raw.Data, Header: raw.Header, Deliveries: a.Deliveries, Stream: cfg.Stream, Sequence: a.StreamSeq}
		reason := fmt.Sprintf("the %s stage never settled this message in %d deliveries (it crashed or timed out on it)", cfg.Name, a.Deliveries)
		if err := DeadLetter(rctx, js, cfg.Name, m, reason); err != nil {
			cfg.Log.Error().Err(err).Uint64("seq", a.StreamSeq).Msg("dead-lettering a message the server gave up on failed; it stays in the stream")
			return
		}
		if err := stream.DeleteMsg(rctx, a.StreamSeq); err != nil {
			cfg.Log.Warn().Err(err).Uint64("seq", a.StreamSeq).Msg("deleting a dead-lettered message failed")
		}
		cfg.Log.Info().Uint64("seq", a.StreamSeq).Str("reason", reason).Msg("rejected")
		if cfg.OnProcessed != nil {
			cfg.OnProcessed(m, fmt.Errorf("%s", reason))
		}
	})
}
