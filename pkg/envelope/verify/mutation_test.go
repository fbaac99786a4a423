package verify_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/inferencebench/bench/pkg/envelope"
	"github.com/inferencebench/bench/pkg/envelope/envelopetest"
	"github.com/inferencebench/bench/pkg/envelope/verify"
)

// mutationCounts tallies what happened to the mutations of one envelope.
type mutationCounts struct {
	tried, valid                int // mutations made; of those, valid JSON (encoding/json.Valid)
	rejectedLoad, rejectedCheck int // valid ones refused by Parse, by Verify
	acceptedSameHash            int // valid ones accepted: the normalised hash is unchanged
	acceptedInvalid             int // accepted although not valid JSON (must stay 0)
	acceptedChanged             int // accepted with a different hash (must stay 0)
}

func (c *mutationCounts) add(o mutationCounts) {
	c.tried += o.tried
	c.valid += o.valid
	c.rejectedLoad += o.rejectedLoad
	c.rejectedCheck += o.rejectedCheck
	c.acceptedSameHash += o.acceptedSameHash
	c.acceptedInvalid += o.acceptedInvalid
	c.acceptedChanged += o.acceptedChanged
}

// TestEverySingleByteMutationIsCaught changes a signed fixture one byte at a
// time, every position to every other byte value, and also deletes each byte
// and inserts a set of JSON-significant bytes at each position. Every
// mutation that is still valid JSON must be rejected (by Parse or by Verify)
// or leave the normalised content hash unchanged (white space between
// tokens, say, or the signature's rekor_log_index, which is not signed).
func TestEverySingleByteMutationIsCaught(t *testing.T) {
	fixtures := []string{"dot-bench/baseline.json"}
	if !testing.Short() && !raceEnabled {
		// One with strings in its metrics, escapes and a NUMA topology.
		fixtures = append(fixtures, "validation-runs/2026-05-25-voice-rtx4000ada/1cd8f74bac26.json")
	}
	for _, rel := range fixtures {
		t.Run(filepath.Base(rel), func(t *testing.T) {
			var fx envelopetest.Fixture
			for _, f := range envelopetest.All(t) {
				if f.Rel == rel {
					fx = f
				}
			}
			original, err := os.ReadFile(fx.Path)
			if err != nil {
				t.Fatal(err)
			}
			policy := fixturePolicy(t, fx)
			c := sweepMutations(t, original, fx.ContentHash, policy)
			t.Logf("%s (%d bytes): %d mutations, %d valid JSON: %d rejected at load, %d rejected by verification, %d accepted with the hash unchanged",
				rel, len(original), c.tried, c.valid, c.rejectedLoad, c.rejectedCheck, c.acceptedSameHash)
			if c.acceptedInvalid != 0 || c.acceptedChanged != 0 {
				t.Fatalf("%d invalid-JSON mutations accepted, %d accepted with a changed hash", c.acceptedInvalid, c.acceptedChanged)
			}
			if c.valid == 0 || c.rejectedCheck == 0 || c.acceptedSameHash == 0 {
				t.Fatalf("the sweep did not exercise every outcome: %+v", c)
			}
		})
	}
}

var insertions = []byte(" \t\n0123456789-.eE\"\\,:[]{}tfnu/x")

func sweepMutations(t *testing.T, original []byte, hash string, policy *verify.Policy) mutationCounts {
	step := 1
	if raceEnabled {
		step = 7 // the race detector makes the full sweep minutes long; sample positions
	}
	workers := runtime.GOMAXPROCS(0)
	var mu sync.Mutex
	var total mutationCounts
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			var c mutationCounts
			buf := make([]byte, len(original)+1)
			check := func(m []byte) {
				c.tried++
				valid := json.Valid(m)
				env, err := envelope.Parse(m)
				if err != nil {
					if valid {
						c.valid++
						c.rejectedLoad++
					}
					return
				}
				_, verr := policy.Verify(env)
				switch {
				case !valid:
					c.acceptedInvalid++
					t.Errorf("accepted invalid JSON: %q", m)
				case verr != nil:
					c.valid++
					c.rejectedCheck++
				case env.ContentHash() == hash:
					c.valid++
					c.acceptedSameHash++
				default:
					c.valid++
					c.acceptedChanged++
					t.Errorf("accepted with a changed hash: %q", m)
				}
			}
			for i := w * step; i < len(original); i += workers * step {
				// Substitutions.
				m := buf[:len(original)]
				copy(m, original)
				for b := range 256 {
					if byte(b) == original[i] {
						continue
					}
					m[i] = byte(b)
					check(m)
				}
				// Deletion.
				m = append(append(buf[:0], original[:i]...), original[i+1:]...)
				check(m)
				// Insertions.
				for _, b := range insertions {
					m = append(append(append(buf[:0], original[:i]...), b), original[i:]...)
					check(m)
				}
			}
			mu.Lock()
			total.add(c)
			mu.Unlock()
		})
	}
	wg.Wait()
	return total
}
