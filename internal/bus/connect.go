package bus

import (
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
)

// ServiceOptions are the NATS client options of a long-running stage: it
// reconnects forever (with jittered backoff) and buffers publishes while it
// does, so a stage keeps its state across a server restart or a cluster
// node's loss instead of exiting, and it logs each disconnection and
// reconnection. name identifies the client in the server's monitoring.
func ServiceOptions(name string, log zerolog.Logger) []nats.Option {
	return []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.ReconnectJitter(100*time.Millisecond, time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn().Err(err).Msg("disconnected from NATS; reconnecting")
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info().Str("server", nc.ConnectedUrlRedacted()).Msg("reconnected to NATS")
		}),
	}
}
