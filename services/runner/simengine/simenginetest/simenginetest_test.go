package simenginetest

import (
	"net/http"
	"testing"

	"github.com/inferencebench/bench/services/runner/simengine"
)

func TestStartServesUntilCleanup(t *testing.T) {
	var url string
	t.Run("engine", func(t *testing.T) {
		url = Start(t, simengine.Options{})
		resp, err := http.Get(url + "/health")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /health: %s", resp.Status)
		}
	})
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	if resp, err := (&http.Client{Transport: tr}).Get(url + "/health"); err == nil {
		resp.Body.Close()
		t.Fatal("the engine still serves after its test ended")
	}
}
