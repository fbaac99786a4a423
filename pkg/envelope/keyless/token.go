package keyless

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// TokenSource supplies the OIDC identity token that Fulcio exchanges for a
// signing certificate. Signer asks for a token on every signing, so sources
// whose tokens expire (a projected service-account token, GitHub's ambient
// token) stay fresh. Implementations never log the token, and their errors
// never contain it.
type TokenSource interface {
	Token(ctx context.Context) (string, error)
}

// TokenFunc adapts a function to TokenSource.
type TokenFunc func(ctx context.Context) (string, error)

// Token calls f.
func (f TokenFunc) Token(ctx context.Context) (string, error) { return f(ctx) }

// DefaultTokenEnv is the environment variable Sigstore clients read an
// identity token from.
const DefaultTokenEnv = "SIGSTORE_ID_TOKEN"

// EnvToken reads the token from an environment variable (DefaultTokenEnv
// when name is empty) each time one is needed.
func EnvToken(name string) TokenSource {
	if name == "" {
		name = DefaultTokenEnv
	}
	return TokenFunc(func(context.Context) (string, error) {
		tok := strings.TrimSpace(os.Getenv(name))
		if tok == "" {
			return "", fmt.Errorf("no OIDC token: $%s is empty", name)
		}
		return checkToken(tok, "$"+name)
	})
}

// TokenFile reads the token from a file each time one is needed, so that a
// token rotated on disk (a Kubernetes projected service-account token, a
// SPIFFE JWT-SVID written by an agent) is picked up without a restart.
func TokenFile(path string) TokenSource {
	return TokenFunc(func(context.Context) (string, error) {
		f, err := os.Open(path)
		if err != nil {
			return "", fmt.Errorf("OIDC token file: %w", err)
		}
		defer f.Close()
		data, err := io.ReadAll(io.LimitReader(f, 64<<10))
		if err != nil {
			return "", fmt.Errorf("OIDC token file %s: %w", path, err)
		}
		tok := strings.TrimSpace(string(data))
		if tok == "" {
			return "", fmt.Errorf("OIDC token file %s is empty", path)
		}
		return checkToken(tok, path)
	})
}

// GitHub Actions exposes an ambient OIDC token to jobs with the
// "id-token: write" permission through these two variables.
const (
	GitHubTokenRequestURL   = "ACTIONS_ID_TOKEN_REQUEST_URL"
	GitHubTokenRequestToken = "ACTIONS_ID_TOKEN_REQUEST_TOKEN"
)

// InGitHubActions reports whether the ambient GitHub Actions token can be
// requested (the job has "id-token: write").
func InGitHubActions() bool {
	return os.Getenv(GitHubTokenRequestURL) != "" && os.Getenv(GitHubTokenRequestToken) != ""
}

// GitHubActionsToken requests GitHub Actions' ambient OIDC token for the
// audience "sigstore" each time one is needed: GET
// $ACTIONS_ID_TOKEN_REQUEST_URL&audience=sigstore with the bearer
// $ACTIONS_ID_TOKEN_REQUEST_TOKEN. client may be nil.
func GitHubActionsToken(client *http.Client) TokenSource {
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	return TokenFunc(func(ctx context.Context) (string, error) {
		reqURL, bearer := os.Getenv(GitHubTokenRequestURL), os.Getenv(GitHubTokenRequestToken)
		if reqURL == "" || bearer == "" {
			return "", fmt.Errorf("no GitHub Actions OIDC token: $%s and $%s are not set (give the job \"permissions: id-token: write\")",
				GitHubTokenRequestURL, GitHubTokenRequestToken)
		}
		u, err := url.Parse(reqURL)
		if err != nil {
			return "", fmt.Errorf("$%s: %w", GitHubTokenRequestURL, err)
		}
		q := u.Query()
		q.Set("audience", "sigstore")
		u.RawQuery = q.Encode()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err != nil {
			return "", err
		}
		req.Header.Set("Authorization", "bearer "+bearer)
		req.Header.Set("Accept", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return "", fmt.Errorf("requesting the GitHub Actions OIDC token: %w", err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if err != nil {
			return "", fmt.Errorf("requesting the GitHub Actions OIDC token: %w", err)
		}
		if resp.StatusCode != http.StatusOK {
			// The body is an error message, never a token, but keep it short.
			return "", fmt.Errorf("requesting the GitHub Actions OIDC token: %s: %s", resp.Status, clipText(string(body), 200))
		}
		var out struct {
			Value string `json:"value"`
		}
		if err := json.Unmarshal(body, &out); err != nil || out.Value == "" {
			return "", errors.New("requesting the GitHub Actions OIDC token: the response has no \"value\"")
		}
		return checkToken(out.Value, "GitHub Actions")
	})
}

// FirstAvailable tries sources in order and returns the first token one of
// them gives; the error lists why each failed.
func FirstAvailable(sources ...TokenSource) TokenSource {
	return TokenFunc(func(ctx context.Context) (string, error) {
		var errs []error
		for _, s := range sources {
			tok, err := s.Token(ctx)
			if err == nil {
				return tok, nil
			}
			errs = append(errs, err)
		}
		if len(errs) == 0 {
			return "", errors.New("no OIDC token source configured")
		}
		return "", errors.Join(errs...)
	})
}

// TokenClaims are the unverified claims of an identity token that matter
// for messages: who it names and until when. Fulcio verifies the token; these
// are only read to say something useful before asking it.
type TokenClaims struct {
	Issuer  string `json:"iss"`
	Subject string `json:"sub"`
	Email   string `json:"email"`
	Expiry  int64  `json:"exp"`
}

// ParseTokenClaims reads a JWT's claims without verifying its signature.
func ParseTokenClaims(token string) (*TokenClaims, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, errors.New("not a JWT (want three dot-separated parts)")
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return nil, errors.New("not a JWT: the payload is not base64url")
	}
	var c TokenClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, errors.New("not a JWT: the payload is not a JSON object")
	}
	return &c, nil
}

// checkToken refuses a token that is not a JWT or has expired, naming where
// it came from (never the token itself).
func checkToken(tok, from string) (string, error) {
	c, err := ParseTokenClaims(tok)
	if err != nil {
		return "", fmt.Errorf("OIDC token from %s: %w", from, err)
	}
	if c.Expiry != 0 {
		if exp := time.Unix(c.Expiry, 0); time.Now().After(exp) {
			return "", fmt.Errorf("OIDC token from %s expired at %s (issuer %s): get a fresh one", from, exp.UTC().Format(time.RFC3339), c.Issuer)
		}
	}
	return tok, nil
}

func clipText(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
