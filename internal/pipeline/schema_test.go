package pipeline

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/inferencebench/bench/internal/bus"
	"github.com/inferencebench/bench/pkg/envelope"
	"github.com/inferencebench/bench/pkg/envelope/envelopetest"
	"github.com/inferencebench/bench/schemas"
)

// wiretap records the first messages published on each stream, as every
// subscriber sees them on the wire.
type wiretap struct {
	mu   sync.Mutex
	msgs map[string][]*nats.Msg
	sub  *nats.Subscription
}

func tap(t testing.TB, nc *nats.Conn) *wiretap {
	t.Helper()
	w := &wiretap{msgs: map[string][]*nats.Msg{}}
	sub, err := nc.Subscribe("bench.>", func(m *nats.Msg) {
		stream := streamOf(m.Subject)
		w.mu.Lock()
		if stream != "" && len(w.msgs[stream]) < 3 {
			w.msgs[stream] = append(w.msgs[stream], m)
		}
		w.mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	w.sub = sub
	t.Cleanup(func() { sub.Unsubscribe() })
	return w
}

func streamOf(subject string) string {
	for _, s := range bus.Streams {
		if strings.HasPrefix(subject, strings.TrimSuffix(s.Subjects[0], ">")) {
			return s.Name
		}
	}
	return ""
}

// checkAgainstSchema validates the tapped messages against
// schemas/bus-message.v1.schema.json with python3's jsonschema, an
// implementation independent of the code that generated the schema, and
// fails unless every stream in want was seen.
func (w *wiretap) checkAgainstSchema(t *testing.T, want ...string) {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	dir := t.TempDir()
	var docs []string
	for _, stream := range want {
		msgs := w.msgs[stream]
		if len(msgs) == 0 {
			t.Fatalf("no message seen on %s", stream)
		}
		for i, m := range msgs {
			doc := map[string]any{"stream": stream, "subject": m.Subject, "headers": map[string][]string(m.Header)}
			var body any
			if json.Unmarshal(m.Data, &body) == nil {
				doc["body"] = body
			}
			b, _ := json.Marshal(doc)
			p := filepath.Join(dir, stream+"-"+string(rune('0'+i))+".json")
			os.WriteFile(p, b, 0o644)
			docs = append(docs, p)
		}
	}
	// The checked-in files (embedded: versitygw changes the working
	// directory while it runs).
	root := t.TempDir()
	for _, name := range []string{"bus-message.v1.schema.json", "envelope.v1.schema.json", "job.v1.schema.json"} {
		b, err := schemas.Files.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(root, name), b, 0o644)
	}
	const script = `
import json, sys
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
bus = json.load(open(sys.argv[1] + "/bus-message.v1.schema.json"))
env = json.load(open(sys.argv[1] + "/envelope.v1.schema.json"))
job = json.load(open(sys.argv[1] + "/job.v1.schema.json"))
Draft202012Validator.check_schema(bus)
reg = Registry().with_resources([(s["$id"], Resource.from_contents(s)) for s in (env, job)])
v = Draft202012Validator(bus, registry=reg)
bad = 0
for p in sys.argv[2:]:
    doc = json.load(open(p))
    errs = list(v.iter_errors(doc))
    if errs:
        bad += 1
        best = min(errs, key=lambda e: len(list(e.context)) if e.context else 0)
        print(p, doc["stream"], best.message[:300])
        for sub in (best.context or [])[:4]:
            print("   ", list(sub.absolute_path), sub.message[:200])
sys.exit(1 if bad else 0)
`
	out, err := exec.Command(envelopetest.Python(t), append([]string{"-c", script, root}, docs...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("messages do not match the bus schema: %v\n%s", err, out)
	}
	// The bodies of envelope streams are envelopes we can decode, too.
	for _, stream := range want {
		if stream == bus.StreamRejected {
			continue
		}
		if _, err := envelope.Parse(w.msgs[stream][0].Data); err != nil {
			t.Errorf("%s: body is not an envelope: %v", stream, err)
		}
	}
}
