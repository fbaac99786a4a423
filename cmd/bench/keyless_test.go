package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/inferencebench/bench/pkg/envelope/keyless/keylesstest"
)

const (
	ghIssuer   = "https://token.actions.githubusercontent.com"
	ghWorkflow = "https://github.com/inferencebench/bench/.github/workflows/bench.yml@refs/heads/main"
	// ghEvil is another owner's workflow on a branch named after the
	// trusted repository.
	ghEvil           = "https://github.com/evil/fork/.github/workflows/x.yml@refs/heads/github.com/inferencebench/bench/x"
	anchoredWorkflow = `^https://github\.com/inferencebench/bench/\.github/workflows/bench\.yml@refs/heads/main$`
)

// TestKeylessSignVerifyAudit signs with 'bench sign --keyless' against an
// in-process Fulcio, Rekor and timestamp authority (services from a
// signing_config.json, the token from $SIGSTORE_ID_TOKEN or a token file),
// then verifies offline with --trusted-root and the identity rules, as a
// user would.
func TestKeylessSignVerifyAudit(t *testing.T) {
	stack := keylesstest.NewStack(t)
	dir := t.TempDir()
	trustedRoot, signingConfig := stack.WriteFiles(t, dir)
	env := unsignedCopy(t, dir)

	t.Setenv("SIGSTORE_ID_TOKEN", stack.Token(ghIssuer, ghWorkflow, 0))
	t.Setenv("ACTIONS_ID_TOKEN_REQUEST_URL", "")
	r := runBench(t, nil, "sign", "--keyless", "--signing-config", signingConfig, "--trusted-root", trustedRoot, env)
	if r.code != 0 {
		t.Fatalf("sign --keyless: exit %d\n%s", r.code, r.stderr)
	}
	for _, want := range []string{"method:           sigstore-cosign", "signer_identity:  " + ghWorkflow, "signer_issuer:    " + ghIssuer, "rekor_log_index:  "} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("sign output lacks %q:\n%s", want, r.stderr)
		}
	}

	trust := []string{"--trusted-root", trustedRoot, "--require-sct=false"}
	verifyArgs := func(extra ...string) []string {
		return append(append([]string{"verify", env}, trust...), extra...)
	}
	r = runBench(t, nil, verifyArgs("--require-issuer", ghIssuer, "--require-identity-pattern", anchoredWorkflow)...)
	if r.code != 0 {
		t.Fatalf("verify: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"OK  " + env, "  method:           sigstore-cosign", "  rekor_log_index:  ", "  signer_identity:  " + ghWorkflow,
		"  signer_issuer:    " + ghIssuer, "  integrated_time:  ", "  rfc3161_timestamp: ", "  trusted_by:       "} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("verify output lacks %q:\n%s", want, r.stdout)
		}
	}
	t.Logf("bench verify (keyless):\n%s", r.stdout)
	if strings.Contains(r.stderr, "not anchored") {
		t.Errorf("an anchored pattern drew a warning: %s", r.stderr)
	}

	// Policy is always enforced: a trusted root alone trusts nobody.
	r = runBench(t, nil, verifyArgs()...)
	if r.code != 1 || !strings.Contains(r.stderr, "reason:  no trust material") || !strings.Contains(r.stderr, "--require-issuer URL") ||
		!strings.Contains(r.stderr, "docs/keyless.md") {
		t.Fatalf("verify with no identity rule: exit %d\n%s", r.code, r.stderr)
	}
	// --require-issuer alone would accept anyone that issuer vouches for.
	r = runBench(t, nil, verifyArgs("--require-issuer", ghIssuer)...)
	if r.code != 1 || !strings.Contains(r.stderr, "give both --require-issuer and --require-identity-pattern") {
		t.Fatalf("verify with --require-issuer alone: exit %d\n%s", r.code, r.stderr)
	}
	// No trusted root: nothing to check the certificate against.
	r = runBench(t, nil, "verify", env, "--require-issuer", ghIssuer, "--require-identity-pattern", anchoredWorkflow)
	if r.code != 1 || !strings.Contains(r.stderr, "no Sigstore trusted root configured") || !strings.Contains(r.stderr, "--trusted-root FILE") {
		t.Fatalf("verify without a trusted root: exit %d\n%s", r.code, r.stderr)
	}
	// The wrong issuer and the wrong identity, each named.
	r = runBench(t, nil, verifyArgs("--require-issuer", "https://gitlab.com", "--require-identity-pattern", anchoredWorkflow)...)
	if r.code != 1 || !strings.Contains(r.stderr, "signer issuer does not match the policy") || !strings.Contains(r.stderr, "signer:  "+ghWorkflow) {
		t.Fatalf("wrong issuer: exit %d\n%s", r.code, r.stderr)
	}
	r = runBench(t, nil, verifyArgs("--require-issuer", ghIssuer, "--require-identity-pattern", `^https://github\.com/other/`)...)
	if r.code != 1 || !strings.Contains(r.stderr, "signer identity does not match the policy") {
		t.Fatalf("wrong identity: exit %d\n%s", r.code, r.stderr)
	}
	// The default demands an SCT, which a Fulcio without a CT log cannot give.
	r = runBench(t, nil, "verify", env, "--trusted-root", trustedRoot, "--require-issuer", ghIssuer, "--require-identity-pattern", anchoredWorkflow)
	if r.code != 1 || !strings.Contains(r.stderr, "certificate transparency (SCT) check failed") || !strings.Contains(r.stderr, "--require-sct=false") {
		t.Fatalf("SCT required: exit %d\n%s", r.code, r.stderr)
	}
	// A broken trusted root is unusable input.
	junk := filepath.Join(dir, "junk.json")
	os.WriteFile(junk, []byte("{"), 0o644)
	r = runBench(t, nil, "verify", env, "--trusted-root", junk, "--require-issuer", ghIssuer, "--require-identity-pattern", anchoredWorkflow)
	if r.code != 2 || !strings.Contains(r.stderr, "--trusted-root: trusted root") {
		t.Fatalf("junk trusted root: exit %d\n%s", r.code, r.stderr)
	}

	// Another envelope signed by another owner's workflow on a branch named
	// after this repository: the reference's unanchored pattern matches it
	// (with a warning); the same pattern in a policy file does not.
	evil := filepath.Join(dir, "evil.json")
	data, _ := os.ReadFile(unsignedCopy(t, t.TempDir()))
	os.WriteFile(evil, data, 0o644)
	t.Setenv("SIGSTORE_ID_TOKEN", "")
	tokenFile := filepath.Join(dir, "token")
	os.WriteFile(tokenFile, []byte(stack.Token(ghIssuer, ghEvil, 0)), 0o600)
	r = runBench(t, nil, "sign", "--keyless", "--identity-token-file", tokenFile, "--interactive=false",
		"--fulcio-url", stack.FulcioURL, "--rekor-url", stack.RekorURL, "--tsa-url", stack.TSAURL, evil)
	if r.code != 0 {
		t.Fatalf("sign --keyless --identity-token-file: exit %d\n%s", r.code, r.stderr)
	}
	r = runBench(t, nil, "verify", evil, "--trusted-root", trustedRoot, "--require-sct=false",
		"--require-issuer", ghIssuer, "--require-identity-pattern", `github\.com/inferencebench/bench/`)
	if r.code != 0 || !strings.Contains(r.stderr, "not anchored") {
		t.Fatalf("unanchored flag: exit %d (want 0 with a warning)\n%s", r.code, r.stderr)
	}
	policy := filepath.Join(dir, "policy.json")
	doc, _ := json.Marshal(map[string]any{
		"keyless":      []map[string]string{{"issuer": ghIssuer, "identity_pattern": `https://github\.com/inferencebench/bench/.+`}},
		"trusted_root": filepath.Base(trustedRoot),
		"require_sct":  false,
	})
	os.WriteFile(policy, doc, 0o644)
	r = runBench(t, nil, "verify", evil, "--policy", policy)
	if r.code != 1 || !strings.Contains(r.stderr, "signer identity does not match the policy") || !strings.Contains(r.stderr, ghEvil) {
		t.Fatalf("policy file against the branch-name trick: exit %d\n%s", r.code, r.stderr)
	}

	// audit: keyless rows carry the signer, the log index and the times.
	r = runBench(t, nil, "audit", "--policy", policy, "--json", env, evil)
	if r.code != 1 {
		t.Fatalf("audit: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	var out struct {
		NOK  int `json:"n_ok"`
		Rows []auditRow
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatal(err)
	}
	if out.NOK != 1 || len(out.Rows) != 2 {
		t.Fatalf("audit: %s", r.stdout)
	}
	for _, row := range out.Rows {
		switch row.Path {
		case env:
			if !row.OK || row.SignerIdentity != ghWorkflow || row.SignerIssuer != ghIssuer || row.RekorLogIndex == nil ||
				row.IntegratedTime == "" || len(row.Timestamps) == 0 {
				t.Errorf("audit row %+v", row)
			}
		case evil:
			if row.OK || !strings.Contains(row.Reason, "signer identity does not match the policy") {
				t.Errorf("audit row %+v", row)
			}
		}
	}
}

// TestSignUsage: keyless flags without --keyless, both modes at once, and
// no mode at all are usage errors that say what to do.
func TestSignUsage(t *testing.T) {
	env := unsignedCopy(t, t.TempDir())
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"sign", env}, "give --key KEY"},
		{[]string{"sign", "--key", "k", "--keyless", env}, "not both"},
		{[]string{"sign", "--identity-token-file", "t", env}, "--identity-token-file configures keyless signing: add --keyless"},
	}
	for _, c := range cases {
		r := runBench(t, nil, c.args...)
		if r.code != 2 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("bench %v: exit %d, want 2 saying %q:\n%s", c.args, r.code, c.want, r.stderr)
		}
	}
	// --help explains the token sources and the services.
	r := runBench(t, nil, "sign", "--help")
	for _, want := range []string{"SIGSTORE_ID_TOKEN", "--identity-token-file", "id-token: write", "--signing-config", "public-good"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("sign --help lacks %q", want)
		}
	}
}
