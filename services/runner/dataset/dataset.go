// Package dataset provides the prompts a benchmark sends: a built-in
// synthetic set, a ShareGPT-format file with vLLM's length filters, and
// random prompts with input and output length distributions. The same seed
// gives the same prompts in the same order.
//
// Token counts here are estimates (no tokenizer is loaded): a word of the
// random vocabulary is one token in common tokenizers, and text from files is
// estimated at four bytes per token. The server's usage figures, recorded
// per request in the trace, are the real counts.
package dataset

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"unicode/utf8"

	"github.com/inferencebench/bench/pkg/envelope/canonjson"
)

// Prompt is one request's input.
type Prompt struct {
	Text string
	// InputTokens estimates the prompt's length.
	InputTokens int
	// OutputTokens is the max_tokens to request.
	OutputTokens int
}

// Dataset is an ordered list of prompts with an identity.
type Dataset struct {
	ID      string // the envelope's dataset.id
	Prompts []Prompt
	// Warnings says where the dataset is approximate or was cut short.
	Warnings []string
}

// Hash is the reference implementation's dataset hash: the sha256 of the
// compact, key-sorted JSON (Python's json.dumps(sort_keys=True,
// separators=(",", ":"))) of the list of prompts actually sent, in the order
// they were sent.
func Hash(sent []string) string {
	elems := make([]canonjson.Value, len(sent))
	for i, s := range sent {
		elems[i] = canonjson.StringValue(s)
	}
	sum := sha256.Sum256(canonjson.Canonical(canonjson.ArrayValue(elems)))
	return hex.EncodeToString(sum[:])
}

// EstimateTokens approximates a text's token count at four bytes a token.
func EstimateTokens(text string) int {
	return max(1, int(math.Round(float64(len(text))/4)))
}

var syntheticTopics = []string{
	"the difference between TCP and UDP", "how a CPU cache hierarchy works", "the plot of Hamlet",
	"why merge sort runs in O(n log n)", "how public-key signatures work", "what a transformer's attention computes",
	"how garbage collection works in Go", "the causes of the French Revolution", "how vaccines train the immune system",
	"what makes a good unit test", "how DNS resolution works", "the water cycle",
	"how a compiler turns code into machine instructions", "the trade-offs of microservices", "how photosynthesis works",
	"why the sky is blue",
}

var syntheticForms = []string{
	"Explain %s in two sentences.", "Write a short paragraph about %s.", "Summarise %s for a ten-year-old.",
	"List three key facts about %s.", "Describe %s as if to a new engineer.",
}

// Synthetic returns n prompts built from fixed topics and phrasings,
// shuffled by seed, each asking for outputTokens tokens.
func Synthetic(n int, seed uint64, outputTokens int) Dataset {
	var all []string
	for _, f := range syntheticForms {
		for _, t := range syntheticTopics {
			all = append(all, fmt.Sprintf(f, t))
		}
	}
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	r.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	d := Dataset{ID: "builtin:synthetic-v1"}
	for i := range n {
		text := all[i%len(all)]
		d.Prompts = append(d.Prompts, Prompt{Text: text, InputTokens: EstimateTokens(text), OutputTokens: outputTokens})
	}
	return d
}

// Lengths is a distribution of token counts.
type Lengths struct {
	Mean  int     // the mean length
	Range float64 // uniform spread: lengths are uniform in [Mean*(1-Range), Mean*(1+Range)]; 0 = always Mean
}

func (l Lengths) draw(r *rand.Rand) int {
	if l.Range <= 0 {
		return max(1, l.Mean)
	}
	lo := int(math.Floor(float64(l.Mean) * (1 - l.Range)))
	hi := int(math.Ceil(float64(l.Mean) * (1 + l.Range)))
	return max(1, lo+r.IntN(hi-lo+1))
}

// vocabulary holds words that common tokenizers (Llama, Qwen, GPT) encode as
// one token each, with their leading space.
var vocabulary = strings.Fields("the of and to in is that for it as with was on be by at this are from or have an they which one you had not but what all were when we there can more if no out so said time up other about into than them these some her would make like him has two see way could people my first been who its now find long down day did get come made may part over new sound take only little work know place year live me back give most very after thing our just name good sentence man think say great where help through much before line right too mean old any same tell boy follow came want show also around form three small set put end does another well large must big even such because turn here why ask went men read need land different home us move try kind hand picture again change off play spell air away animal house point page letter mother answer found study still learn should world high every near add food between own below country plant last school father keep tree never start city earth eye light thought head under story saw left few while along might close something seem next hard open example begin life always those both paper together got group often run important until children side feet car mile night walk white sea began grow took river four carry state once book hear stop without second later miss idea enough eat face watch far really almost let above girl sometimes mountain cut young talk soon list song being leave family")

// Random returns n prompts of random words with lengths drawn from in
// (prompt tokens) and out (max_tokens), as vLLM's random dataset does with
// token ids.
func Random(n int, seed uint64, in, out Lengths) Dataset {
	r := rand.New(rand.NewPCG(seed, 0x7a2d))
	d := Dataset{ID: fmt.Sprintf("random:in%d±%g-out%d±%g", in.Mean, in.Range, out.Mean, out.Range)}
	var b strings.Builder
	for range n {
		k := in.draw(r)
		b.Reset()
		for j := range k {
			if j > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(vocabulary[r.IntN(len(vocabulary))])
		}
		d.Prompts = append(d.Prompts, Prompt{Text: b.String(), InputTokens: k, OutputTokens: out.draw(r)})
	}
	return d
}

// ShareGPTFilter holds vLLM's length filters for ShareGPT (in estimated
// tokens): a pair is skipped when its prompt or completion is shorter than
// MinLen, its prompt longer than MaxPrompt, or both together longer than
// MaxTotal.
type ShareGPTFilter struct {
	MinLen, MaxPrompt, MaxTotal int
	// OutputTokens, when > 0, replaces the completion's length as max_tokens.
	OutputTokens int
}

// DefaultShareGPTFilter is vLLM's: 4, 1024 and 2048.
var DefaultShareGPTFilter = ShareGPTFilter{MinLen: 4, MaxPrompt: 1024, MaxTotal: 2048}

// ShareGPT reads a ShareGPT-format JSON file (a list of {"conversations":
// [{"from": "human", "value": ...}, {"from": "gpt", "value": ...}, ...]}),
// takes the first turn as the prompt and the second's length as max_tokens,
// shuffles the pairs by seed, drops those the filter rejects, and returns n
// (cycling through the survivors if there are fewer).
func ShareGPT(path string, n int, seed uint64, filter ShareGPTFilter) (Dataset, error) {
	f, err := os.Open(path)
	if err != nil {
		return Dataset{}, fmt.Errorf("ShareGPT dataset: %w", err)
	}
	defer f.Close()
	return readShareGPT(f, path, n, seed, filter)
}

func readShareGPT(r io.Reader, name string, n int, seed uint64, filter ShareGPTFilter) (Dataset, error) {
	var convs []struct {
		Conversations []struct {
			From  string `json:"from"`
			Value string `json:"value"`
		} `json:"conversations"`
	}
	if err := json.NewDecoder(r).Decode(&convs); err != nil {
		return Dataset{}, fmt.Errorf("ShareGPT dataset %s: not a JSON list of conversations: %w", name, err)
	}
	type pair struct {
		prompt  string
		in, out int
	}
	var pairs []pair
	for _, c := range convs {
		if len(c.Conversations) < 2 || !utf8.ValidString(c.Conversations[0].Value) {
			continue
		}
		p := pair{prompt: c.Conversations[0].Value}
		p.in, p.out = EstimateTokens(p.prompt), EstimateTokens(c.Conversations[1].Value)
		pairs = append(pairs, p)
	}
	rng := rand.New(rand.NewPCG(seed, 0x54a3))
	rng.Shuffle(len(pairs), func(i, j int) { pairs[i], pairs[j] = pairs[j], pairs[i] })
	d := Dataset{ID: "sharegpt:" + baseName(name)}
	var kept []pair
	for _, p := range pairs {
		out := p.out
		if filter.OutputTokens > 0 {
			out = filter.OutputTokens
		}
		if p.in < filter.MinLen || out < filter.MinLen || (filter.MaxPrompt > 0 && p.in > filter.MaxPrompt) ||
			(filter.MaxTotal > 0 && p.in+out > filter.MaxTotal) {
			continue
		}
		p.out = out
		kept = append(kept, p)
	}
	if len(kept) == 0 {
		return Dataset{}, errors.New("ShareGPT dataset " + name + ": no conversation passes the length filters")
	}
	if len(kept) < n {
		d.Warnings = append(d.Warnings, fmt.Sprintf("ShareGPT dataset %s: %d conversations pass the filters, fewer than the %d requests; prompts repeat", name, len(kept), n))
	}
	for i := range n {
		p := kept[i%len(kept)]
		d.Prompts = append(d.Prompts, Prompt{Text: p.prompt, InputTokens: p.in, OutputTokens: p.out})
	}
	d.Warnings = append(d.Warnings, "token lengths of the ShareGPT filters are estimated at 4 bytes per token (no tokenizer); the trace holds the server's counts")
	return d, nil
}

func baseName(p string) string {
	if i := strings.LastIndexAny(p, `/\`); i >= 0 {
		return p[i+1:]
	}
	return p
}
