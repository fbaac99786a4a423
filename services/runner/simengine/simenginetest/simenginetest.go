// Package simenginetest starts simulated engines for tests, as
// net/http/httptest starts servers: on a free loopback port, stopped when
// the test ends.
package simenginetest

import (
	"context"
	"net"
	"testing"

	"github.com/inferencebench/bench/services/runner/simengine"
)

// Start serves a simulated engine with opts on a free loopback port until
// the test and its subtests end, and returns its base URL
// ("http://127.0.0.1:PORT"). A failure to start fails the test.
func Start(t testing.TB, opts simengine.Options) string {
	t.Helper()
	eng, err := simengine.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- eng.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("simulated engine: %v", err)
		}
	})
	return "http://" + ln.Addr().String()
}
