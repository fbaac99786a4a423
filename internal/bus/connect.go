package bus

import (
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// ConnectOptions says how to reach an external NATS server or cluster.
// Only URL is required; the credentials are whichever the server's
// accounts use.
type ConnectOptions struct {
	// URL is one server or a comma-separated list of a cluster's servers
	// (nats://host:4222, tls://host:4222).
	URL string
	// Name identifies this client in the server's monitoring (e.g. "bench signer").
	Name string

	CredsFile string // a .creds file (JWT and NKey seed)
	NKeyFile  string // an NKey seed file
	User      string
	Password  string
	Token     string

	TLSCA   string // CA certificate(s) to trust, PEM
	TLSCert string // client certificate for mutual TLS, PEM
	TLSKey  string

	Log zerolog.Logger
}

// Connect connects to NATS and returns the connection and its JetStream
// context. The connection reconnects forever (with jittered backoff) and
// buffers publishes while it does: a stage keeps its state across a server
// restart instead of exiting. Close the connection (Drain) when done.
func Connect(opts ConnectOptions) (*nats.Conn, jetstream.JetStream, error) {
	if opts.URL == "" {
		return nil, nil, errors.New("bus: no NATS URL given")
	}
	log := opts.Log
	o := []nats.Option{
		nats.Name(opts.Name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.ReconnectJitter(100*time.Millisecond, time.Second),
		nats.RetryOnFailedConnect(false),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn().Err(err).Msg("disconnected from NATS; reconnecting")
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info().Str("server", nc.ConnectedUrlRedacted()).Msg("reconnected to NATS")
		}),
	}
	if opts.CredsFile != "" {
		o = append(o, nats.UserCredentials(opts.CredsFile))
	}
	if opts.NKeyFile != "" {
		nk, err := nats.NkeyOptionFromSeed(opts.NKeyFile)
		if err != nil {
			return nil, nil, fmt.Errorf("bus: NKey seed %s: %w", opts.NKeyFile, err)
		}
		o = append(o, nk)
	}
	if opts.User != "" {
		o = append(o, nats.UserInfo(opts.User, opts.Password))
	}
	if opts.Token != "" {
		o = append(o, nats.Token(opts.Token))
	}
	if opts.TLSCA != "" {
		o = append(o, nats.RootCAs(opts.TLSCA))
	}
	if opts.TLSCert != "" || opts.TLSKey != "" {
		if opts.TLSCert == "" || opts.TLSKey == "" {
			return nil, nil, errors.New("bus: mutual TLS needs both a client certificate and its key")
		}
		o = append(o, nats.ClientCert(opts.TLSCert, opts.TLSKey))
	}
	nc, err := nats.Connect(opts.URL, o...)
	if err != nil {
		return nil, nil, fmt.Errorf("bus: connecting to NATS at %s: %w", opts.URL, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("bus: JetStream at %s: %w", opts.URL, err)
	}
	return nc, js, nil
}
