package pipeline

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/inferencebench/bench/internal/bus"
	"github.com/inferencebench/bench/internal/bus/bustest"
	"github.com/inferencebench/bench/pkg/envelope"
	"github.com/inferencebench/bench/pkg/envelope/keyless/keylesstest"
	"github.com/inferencebench/bench/pkg/envelope/verify"
	"github.com/inferencebench/bench/services/runner"
	"github.com/inferencebench/bench/services/signer"
)

// TestKeylessPipeline runs the pipeline with the signer role in keyless
// mode (an in-process Fulcio, Rekor and timestamp authority, the identity
// token read from a file for every envelope) and the verifier trusting the
// CI workflow's identity under the stack's pinned trusted_root.json. Runs
// are cataloged with the signer's identity and issuer; a run signed while
// the token names another workflow is dead-lettered with the reason.
func TestKeylessPipeline(t *testing.T) {
	const (
		issuer   = "https://token.actions.githubusercontent.com"
		workflow = "https://github.com/inferencebench/bench/.github/workflows/bench.yml@refs/heads/main"
		other    = "https://github.com/inferencebench/bench/.github/workflows/other.yml@refs/heads/main"
	)
	stack := keylesstest.NewStack(t)
	dir := t.TempDir()
	trustedRoot, signingConfig := stack.WriteFiles(t, dir)
	tokenFile := filepath.Join(dir, "token")
	writeToken := func(identity string) {
		t.Helper()
		if err := os.WriteFile(tokenFile, []byte(stack.Token(issuer, identity, 0)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeToken(workflow)
	ks, err := signer.NewKeyless(signer.KeylessConfig{IdentityTokenFile: tokenFile, SigningConfigPath: signingConfig, TrustedRootPath: trustedRoot})
	if err != nil {
		t.Fatal(err)
	}
	policy := &verify.Policy{SkipSCT: true} // no CT log in the stack
	if err := policy.SetTrustedRoot(trustedRoot); err != nil {
		t.Fatal(err)
	}
	if err := policy.AddIdentity(issuer, workflow, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := Start(context.Background(), Options{DataDir: t.TempDir(), Signer: ks, Log: testLog()}); err == nil ||
		!strings.Contains(err.Error(), "give the verifier a Policy") {
		t.Fatalf("a keyless signer with the default policy: %v", err)
	}
	p := startPipeline(t, Options{Signer: ks, Policy: policy})
	results := bustest.Collect(t, p.JetStream(), bus.StreamResults)
	rejected := bustest.Collect(t, p.JetStream(), bus.StreamRejected)
	engine := startSim(t)

	publish := func() runner.Result {
		cfg := runnerConfig(t, engine, 1)
		cfg.PublishTo(p.JetStream(), p.Store(), nil)
		res, err := runner.Run(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		return res[0]
	}
	good := publish()
	waitFor(t, 60*time.Second, "the keyless result", func() bool { return results.Len() >= 1 || rejected.Len() > 0 })
	if rejected.Len() > 0 {
		t.Fatalf("dead letter: %s", rejected.All()[0].Headers().Get(bus.HdrReason))
	}
	env, err := envelope.Parse(results.All()[0].Data())
	if err != nil {
		t.Fatal(err)
	}
	if env.ContentHash() != good.ContentHash || env.Signature.Method != envelope.MethodKeyless {
		t.Fatalf("result %s signed %s", env.ContentHash(), env.Signature.Method)
	}
	e, err := p.Catalog().Get(context.Background(), good.ContentHash)
	if err != nil {
		t.Fatal(err)
	}
	if e.SignerIdentity != workflow || e.SignerIssuer != issuer {
		t.Fatalf("catalog signer %q issuer %q", e.SignerIdentity, e.SignerIssuer)
	}

	// The token now names another workflow: the verifier rejects its run.
	writeToken(other)
	bad := publish()
	waitFor(t, 60*time.Second, "the dead letter", func() bool { return rejected.Len() > 0 })
	m := rejected.All()[0]
	if m.Headers().Get(bus.HdrContentHash) != bad.ContentHash || m.Headers().Get(bus.HdrStage) != bus.StageVerifier ||
		!strings.Contains(m.Headers().Get(bus.HdrReason), "signer identity does not match the policy") ||
		!strings.Contains(m.Headers().Get(bus.HdrReason), other) {
		t.Fatalf("dead letter %s at %s: %s", m.Headers().Get(bus.HdrContentHash), m.Headers().Get(bus.HdrStage), m.Headers().Get(bus.HdrReason))
	}
}
