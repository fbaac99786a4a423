package sigstorestack

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Audience is the token audience (Fulcio's ClientID) that Sigstore uses.
const Audience = "sigstore"

// oidcIssuer is a minimal OpenID Connect provider, enough for Fulcio: a
// discovery document and a JWKS per issuer, and ES256 ID tokens minted in
// process. It serves two issuers on one port, distinguished by path, because
// Fulcio maps one issuer URL to one identity type:
//
//   - /email: Fulcio type "email"; the certificate's SAN is the token's
//     email claim (email_verified must be true). The simplest identity.
//   - /github: Fulcio type "github-workflow"; the SAN is the URI
//     https://github.com/<job_workflow_ref> and the certificate carries the
//     GitHub extensions, as for a real GitHub Actions token. It also serves
//     the Actions token-request endpoint (ACTIONS_ID_TOKEN_REQUEST_URL).
//
// Fulcio fetches the discovery document with plain HTTP on loopback, which
// go-oidc allows; the issuer URL in the token must equal the configured one
// byte for byte.
type oidcIssuer struct {
	srv  *http.Server
	ln   net.Listener
	base string
	key  *ecdsa.PrivateKey
	pub  []byte // uncompressed public point
	kid  string

	mu       sync.Mutex
	requests map[string]GitHubWorkflow // Actions request token -> claims
}

func startOIDCIssuer() (*oidcIssuer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("oidc issuer: %w", err)
	}
	pub, err := key.PublicKey.ECDH()
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(pub.Bytes())
	o := &oidcIssuer{
		ln:       ln,
		base:     "http://" + ln.Addr().String(),
		key:      key,
		pub:      pub.Bytes(),
		kid:      hex.EncodeToString(sum[:8]),
		requests: map[string]GitHubWorkflow{},
	}
	mux := http.NewServeMux()
	for _, p := range []string{"/email", "/github"} {
		mux.HandleFunc("GET "+p+"/.well-known/openid-configuration", o.discovery(o.base+p))
	}
	mux.HandleFunc("GET /jwks", o.jwks)
	mux.HandleFunc("GET /github/actions-token", o.actionsToken)
	o.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = o.srv.Serve(ln) }()
	return o, nil
}

func (o *oidcIssuer) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = o.srv.Shutdown(ctx)
}

func (o *oidcIssuer) emailURL() string  { return o.base + "/email" }
func (o *oidcIssuer) githubURL() string { return o.base + "/github" }

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func (o *oidcIssuer) discovery(issuer string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, map[string]any{
			"issuer":                                issuer,
			"jwks_uri":                              o.base + "/jwks",
			"authorization_endpoint":                issuer + "/authorize", // not served: tokens are minted in process
			"response_types_supported":              []string{"id_token"},
			"subject_types_supported":               []string{"public"},
			"id_token_signing_alg_values_supported": []string{"ES256"},
			"claims_supported":                      []string{"sub", "aud", "exp", "iat", "iss", "email", "email_verified"},
		})
	}
}

func (o *oidcIssuer) jwks(w http.ResponseWriter, _ *http.Request) {
	// The uncompressed point is 0x04 || X || Y, 32 bytes each for P-256.
	pt := o.pub
	writeJSON(w, map[string]any{"keys": []map[string]string{{
		"kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": o.kid,
		"x": base64.RawURLEncoding.EncodeToString(pt[1:33]),
		"y": base64.RawURLEncoding.EncodeToString(pt[33:65]),
	}}})
}

// mint signs claims as a compact JWS (ES256).
func (o *oidcIssuer) mint(claims map[string]any) (string, error) {
	header, err := json.Marshal(map[string]string{"alg": "ES256", "typ": "JWT", "kid": o.kid})
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	signingInput := base64.RawURLEncoding.EncodeToString(header) + "." + base64.RawURLEncoding.EncodeToString(payload)
	digest := sha256.Sum256([]byte(signingInput))
	r, s, err := ecdsa.Sign(rand.Reader, o.key, digest[:])
	if err != nil {
		return "", err
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return signingInput + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

func baseClaims(issuer, subject string, ttl time.Duration) map[string]any {
	now := time.Now()
	return map[string]any{
		"iss": issuer,
		"sub": subject,
		"aud": Audience,
		"iat": now.Unix(),
		"nbf": now.Add(-time.Minute).Unix(),
		"exp": now.Add(ttl).Unix(),
	}
}

func (o *oidcIssuer) emailToken(email string, ttl time.Duration) (string, error) {
	if !strings.Contains(email, "@") {
		return "", fmt.Errorf("oidc issuer: the email issuer's subject must be an email address, got %q", email)
	}
	c := baseClaims(o.emailURL(), email, ttl)
	c["email"] = email
	c["email_verified"] = true
	return o.mint(c)
}

// GitHubWorkflow describes the GitHub Actions run a token claims to come
// from. Empty fields get plausible defaults (see withDefaults).
type GitHubWorkflow struct {
	// Repository is "owner/name".
	Repository string
	// Ref is the git ref being built, e.g. "refs/heads/main".
	Ref string
	// WorkflowPath is the workflow file, e.g. ".github/workflows/release.yml".
	WorkflowPath string
	// SHA is the commit (40 hex digits).
	SHA string
	// EventName is the trigger, e.g. "push".
	EventName string
	// RunID and RunAttempt identify the run.
	RunID, RunAttempt string
}

func (w GitHubWorkflow) withDefaults() GitHubWorkflow {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&w.Repository, "inferencebench/bench")
	def(&w.Ref, "refs/heads/main")
	def(&w.WorkflowPath, ".github/workflows/release.yml")
	def(&w.SHA, strings.Repeat("0123456789", 4))
	def(&w.EventName, "push")
	def(&w.RunID, "1")
	def(&w.RunAttempt, "1")
	return w
}

// Identity is the certificate SAN Fulcio issues for this workflow:
// https://github.com/<owner/name>/<workflow path>@<ref>.
func (w GitHubWorkflow) Identity() string {
	w = w.withDefaults()
	return "https://github.com/" + w.Repository + "/" + w.WorkflowPath + "@" + w.Ref
}

func (o *oidcIssuer) githubToken(w GitHubWorkflow, ttl time.Duration) (string, error) {
	w = w.withDefaults()
	owner, _, ok := strings.Cut(w.Repository, "/")
	if !ok {
		return "", fmt.Errorf("oidc issuer: GitHubWorkflow.Repository must be owner/name, got %q", w.Repository)
	}
	ref := w.Repository + "/" + w.WorkflowPath + "@" + w.Ref
	c := baseClaims(o.githubURL(), "repo:"+w.Repository+":ref:"+w.Ref, ttl)
	for k, v := range map[string]string{
		"job_workflow_ref":      ref,
		"job_workflow_sha":      w.SHA,
		"workflow_ref":          ref,
		"workflow_sha":          w.SHA,
		"sha":                   w.SHA,
		"event_name":            w.EventName,
		"repository":            w.Repository,
		"repository_id":         "1000",
		"repository_owner":      owner,
		"repository_owner_id":   "2000",
		"repository_visibility": "public",
		"workflow":              strings.TrimSuffix(w.WorkflowPath[strings.LastIndex(w.WorkflowPath, "/")+1:], ".yml"),
		"ref":                   w.Ref,
		"ref_type":              "branch",
		"runner_environment":    "github-hosted",
		"run_id":                w.RunID,
		"run_attempt":           w.RunAttempt,
		"run_number":            w.RunID,
		"actor":                 owner,
	} {
		c[k] = v
	}
	return o.mint(c)
}

// actionsRequest registers w and returns the pair a GitHub Actions job
// sees as ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN.
func (o *oidcIssuer) actionsRequest(w GitHubWorkflow) (url, token string) {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	token = hex.EncodeToString(b)
	o.mu.Lock()
	o.requests[token] = w
	o.mu.Unlock()
	// Real request URLs already carry a query; clients append "&audience=".
	return o.githubURL() + "/actions-token?api-version=2.0", token
}

// actionsToken emulates the Actions token service: bearer request token
// in, {"value": "<JWT>"} out, with the requested audience.
func (o *oidcIssuer) actionsToken(w http.ResponseWriter, r *http.Request) {
	auth := r.Header.Get("Authorization")
	scheme, tok, _ := strings.Cut(auth, " ")
	o.mu.Lock()
	wf, ok := o.requests[tok]
	o.mu.Unlock()
	if !strings.EqualFold(scheme, "bearer") || !ok {
		http.Error(w, `{"message":"bad credentials"}`, http.StatusUnauthorized)
		return
	}
	jwt, err := o.githubTokenAudience(wf, r.URL.Query().Get("audience"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	writeJSON(w, map[string]any{"value": jwt, "count": 1})
}

func (o *oidcIssuer) githubTokenAudience(w GitHubWorkflow, aud string) (string, error) {
	if aud == "" {
		return "", errors.New("audience query parameter missing")
	}
	tok, err := o.githubToken(w, 10*time.Minute)
	if err != nil || aud == Audience {
		return tok, err
	}
	// Another audience: re-mint with it (Fulcio will reject the token,
	// which is what a test of a wrong audience wants to see).
	parts := strings.Split(tok, ".")
	raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var c map[string]any
	if err := json.Unmarshal(raw, &c); err != nil {
		return "", err
	}
	c["aud"] = aud
	return o.mint(c)
}
