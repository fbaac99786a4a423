package dataset

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/inferencebench/bench/pkg/envelope/envelopetest"
)

func TestHashMatchesPython(t *testing.T) {
	sent := []string{"Explain TCP", "naïve café", "emoji 😀 and \"quotes\"\n", "", "tab\there"}
	script := `import hashlib, json, sys
print(hashlib.sha256(json.dumps(json.load(sys.stdin), sort_keys=True, separators=(",", ":")).encode()).hexdigest())`
	cmd := exec.Command(envelopetest.Python(t), "-c", script)
	var in strings.Builder
	in.WriteString("[")
	for i, s := range sent {
		if i > 0 {
			in.WriteString(",")
		}
		in.WriteString(strconvQuote(s))
	}
	in.WriteString("]")
	cmd.Stdin = strings.NewReader(in.String())
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := Hash(sent), strings.TrimSpace(string(out)); got != want {
		t.Fatalf("Hash = %s, python3 says %s", got, want)
	}
}

// strconvQuote writes s as a JSON string without relying on this package.
func strconvQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteString(`\` + string(r))
		case r < 0x20:
			b.WriteString(`\u00`)
			b.WriteByte("0123456789abcdef"[r>>4])
			b.WriteByte("0123456789abcdef"[r&15])
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func TestSeededAndDeterministic(t *testing.T) {
	a, b, c := Synthetic(50, 7, 64), Synthetic(50, 7, 64), Synthetic(50, 8, 64)
	if a.Prompts[0] != b.Prompts[0] || a.Prompts[49] != b.Prompts[49] {
		t.Fatal("same seed, different prompts")
	}
	same := 0
	for i := range a.Prompts {
		if a.Prompts[i] == c.Prompts[i] {
			same++
		}
	}
	if same == len(a.Prompts) {
		t.Fatal("a different seed gave the same order")
	}
	r1 := Random(20, 3, Lengths{Mean: 100, Range: 0.5}, Lengths{Mean: 50})
	r2 := Random(20, 3, Lengths{Mean: 100, Range: 0.5}, Lengths{Mean: 50})
	for i := range r1.Prompts {
		p := r1.Prompts[i]
		if p != r2.Prompts[i] {
			t.Fatal("random: same seed, different prompts")
		}
		if words := len(strings.Fields(p.Text)); words != p.InputTokens || words < 50 || words > 150 || p.OutputTokens != 50 {
			t.Fatalf("prompt %d: %d words, in %d out %d", i, words, p.InputTokens, p.OutputTokens)
		}
	}
}

func TestShareGPT(t *testing.T) {
	long := strings.Repeat("word ", 1200) // ~1500 estimated tokens: over 1024
	data := `[
	 {"id":"a","conversations":[{"from":"human","value":"What is the capital of France, and why?"},{"from":"gpt","value":"Paris. It has been the capital for centuries."}]},
	 {"id":"b","conversations":[{"from":"human","value":"hi"},{"from":"gpt","value":"Hello! How can I help you today?"}]},
	 {"id":"c","conversations":[{"from":"human","value":"` + long + `"},{"from":"gpt","value":"A summary of the long text."}]},
	 {"id":"d","conversations":[{"from":"human","value":"Only one turn here, nothing to learn from"}]},
	 {"id":"e","conversations":[{"from":"human","value":"Tell me a story about a robot who learns to paint."},{"from":"gpt","value":"Once upon a time there was a robot named Pixel who wanted to paint sunsets."}]}
	]`
	d, err := readShareGPT(strings.NewReader(data), "sg.json", 5, 1, DefaultShareGPTFilter)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, p := range d.Prompts {
		seen[p.Text] = true
		if p.OutputTokens < 4 {
			t.Fatalf("output %d under the minimum", p.OutputTokens)
		}
	}
	// "hi" is under 4 tokens, the long one over 1024, "d" has one turn.
	if len(seen) != 2 || len(d.Prompts) != 5 || !strings.Contains(strings.Join(d.Warnings, "\n"), "prompts repeat") {
		t.Fatalf("kept %d distinct prompts: %v; warnings %v", len(seen), seen, d.Warnings)
	}
	if _, err := readShareGPT(strings.NewReader(`{"not":"a list"}`), "x", 1, 1, DefaultShareGPTFilter); err == nil {
		t.Fatal("accepted a non-list")
	}
	if _, err := readShareGPT(strings.NewReader(`[]`), "x", 1, 1, DefaultShareGPTFilter); err == nil || !strings.Contains(err.Error(), "no conversation passes") {
		t.Fatalf("empty: %v", err)
	}
}
