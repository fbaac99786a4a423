// Package natsserver runs an embedded NATS server with JetStream, the
// message bus of `bench up` and of tests: file storage under a directory,
// so that what was published survives a restart.
package natsserver

import (
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Options configures an embedded server. The zero value is not usable: Dir
// is required.
type Options struct {
	// Dir holds JetStream's file store (the server appends "/jetstream").
	Dir string
	// Host and Port to listen on; Port -1 picks a free port, 0 means 4222.
	// InProcessOnly listens on no port at all: clients connect with
	// Server.Connect.
	Host          string
	Port          int
	InProcessOnly bool
	// MaxPayload bounds a message; 0 means NATS's default of 1 MiB.
	MaxPayload int32
	// Name identifies the server (clusters, logs); default "bench".
	Name string
}

// Server is a running embedded NATS server.
type Server struct {
	s *server.Server
}

// Start starts a server and waits until it accepts connections.
func Start(opts Options) (*Server, error) {
	if opts.Dir == "" {
		return nil, errors.New("natsserver: Options.Dir is required")
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, err
	}
	if opts.Name == "" {
		opts.Name = "bench"
	}
	if opts.Host == "" {
		opts.Host = "127.0.0.1"
	}
	so := &server.Options{
		ServerName: opts.Name,
		Host:       opts.Host,
		Port:       opts.Port,
		DontListen: opts.InProcessOnly,
		JetStream:  true,
		StoreDir:   dir,
		MaxPayload: opts.MaxPayload,
		NoSigs:     true, // the caller owns signal handling
		NoLog:      true,
	}
	s, err := server.NewServer(so)
	if err != nil {
		return nil, fmt.Errorf("natsserver: %w", err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		return nil, errors.New("natsserver: not ready after 10 s")
	}
	return &Server{s: s}, nil
}

// ClientURL is the URL clients connect to ("" when InProcessOnly).
func (s *Server) ClientURL() string {
	if s.s.Addr() == nil {
		return ""
	}
	return s.s.ClientURL()
}

// Connect returns a client connection that does not go through the network.
func (s *Server) Connect(opts ...nats.Option) (*nats.Conn, error) {
	return nats.Connect("", append([]nats.Option{nats.InProcessServer(s.s)}, opts...)...)
}

// Shutdown stops the server and waits until it has.
func (s *Server) Shutdown() {
	s.s.Shutdown()
	s.s.WaitForShutdown()
}
