package fleet

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/inferencebench/bench/internal/bus"
	"github.com/inferencebench/bench/pkg/envelope"
)

// Advert is a live runner as the runners bucket holds it.
type Advert struct {
	ID      string            `json:"id"`
	Pool    string            `json:"pool"`
	Labels  map[string]string `json:"labels"`
	Started time.Time         `json:"started"`
	Job     string            `json:"job,omitempty"` // the job it is running
}

// HardwareLabels are the labels a runner advertises from its hardware
// fingerprint: gpu_model and gpu_count (the first GPU's model; "none" and
// 0 without one), cpu_model, and host.
func HardwareLabels(hw *envelope.HardwareFingerprint) map[string]string {
	l := map[string]string{"gpu_count": strconv.Itoa(len(hw.GPUs)), "gpu_model": "none"}
	if len(hw.GPUs) > 0 {
		l["gpu_model"] = hw.GPUs[0].Model
	}
	if hw.CPU.Model != "" {
		l["cpu_model"] = hw.CPU.Model
	}
	if h, err := os.Hostname(); err == nil {
		l["host"] = h
	}
	return l
}

// Satisfies reports whether a runner with labels can run a job that
// requires want: every required label present with the same value.
func Satisfies(labels, want map[string]string) bool {
	for k, v := range want {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// advertise keeps the runner's advert fresh until ctx ends, then removes
// it.
func advertise(ctx context.Context, kv jetstream.KeyValue, ad *Advert, job func() string) {
	key := ad.Pool + "." + ad.ID
	put := func() {
		a := *ad
		a.Job = job()
		b, _ := json.Marshal(&a)
		kv.Put(ctx, key, b)
	}
	put()
	t := time.NewTicker(bus.RunnerTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			dctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			kv.Delete(dctx, key)
			cancel()
			return
		case <-t.C:
			put()
		}
	}
}

// Runners lists the live runners, by pool then id.
func Runners(ctx context.Context, js jetstream.JetStream) ([]Advert, error) {
	kv, err := js.KeyValue(ctx, bus.BucketRunners)
	if err != nil {
		return nil, fmt.Errorf("fleet: runners bucket %s: %w (run bus.Setup)", bus.BucketRunners, err)
	}
	lister, err := kv.ListKeys(ctx)
	if err != nil {
		return nil, err
	}
	var out []Advert
	for k := range lister.Keys() {
		e, err := kv.Get(ctx, k)
		if err != nil {
			continue // expired between the listing and now
		}
		var a Advert
		if json.Unmarshal(e.Value(), &a) == nil {
			out = append(out, a)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Pool != out[j].Pool {
			return out[i].Pool < out[j].Pool
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// checkPools refuses jobs for a pool no live runner serves, or whose
// labels no live runner of the pool has: a job nobody can take would wait
// forever.
func checkPools(jobs []Job, runners []Advert) error {
	byPool := map[string][]Advert{}
	for _, r := range runners {
		byPool[r.Pool] = append(byPool[r.Pool], r)
	}
	known := make([]string, 0, len(byPool))
	for p := range byPool {
		known = append(known, p)
	}
	sort.Strings(known)
	knownList := "none"
	if len(known) > 0 {
		knownList = strings.Join(known, ", ")
	}
	var problems []string
	seen := map[string]bool{}
	for _, j := range jobs {
		rs, ok := byPool[j.Spec.Pool]
		if !ok {
			msg := fmt.Sprintf("pool %q is unknown: no runner serves it (live pools: %s)", j.Spec.Pool, knownList)
			if !seen[msg] {
				seen[msg] = true
				problems = append(problems, msg)
			}
			continue
		}
		fits := false
		for _, r := range rs {
			if Satisfies(r.Labels, j.Spec.Labels) {
				fits = true
				break
			}
		}
		if !fits {
			msg := fmt.Sprintf("no runner of pool %q has the labels %v", j.Spec.Pool, j.Spec.Labels)
			if !seen[msg] {
				seen[msg] = true
				problems = append(problems, msg)
			}
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s", ErrUnknownPool, strings.Join(problems, "; "))
	}
	return nil
}
