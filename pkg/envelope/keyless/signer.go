package keyless

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	rekortilesclient "github.com/sigstore/rekor-tiles/v2/pkg/client"
	rekorv2write "github.com/sigstore/rekor-tiles/v2/pkg/client/write"
	rekorclient "github.com/sigstore/rekor/pkg/client"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/sign"
	"github.com/sigstore/sigstore-go/pkg/tuf"
	"github.com/sigstore/sigstore-go/pkg/util"

	"github.com/inferencebench/bench/pkg/envelope"
	"github.com/inferencebench/bench/pkg/envelope/devkey"
)

// SignerOptions configures a Signer, much as sign.BundleOptions configures
// sigstore-go's sign.Bundle.
//
// The services come from SigningConfig (a Sigstore signing_config.json, see
// root.NewSigningConfigFromPath) or from explicit URLs; an explicit URL
// replaces the signing config's choice for that service. With neither, the
// public-good instance's signing config is fetched through TUF.
type SignerOptions struct {
	// Tokens supplies the OIDC identity token, afresh for every signature.
	Tokens TokenSource

	// SigningConfig lists the Fulcio, Rekor and timestamp-authority services
	// to use; services are selected per signature, so validity windows in
	// the config are honoured by a long-running signer.
	SigningConfig *root.SigningConfig
	// FulcioURL is the base URL of a Fulcio instance.
	FulcioURL string
	// RekorURL is the base URL of a Rekor transparency log.
	RekorURL string
	// RekorVersion is RekorURL's major API version: 1 (the default) or 2.
	// Rekor v2 records no integrated time, so it needs a timestamp authority.
	RekorVersion uint32
	// TSAURL is the full URL of an RFC 3161 timestamp authority, with its
	// path (e.g. https://timestamp.sigstore.dev/api/v1/timestamp).
	TSAURL string

	// HTTPClient, if set, supplies the transport for Fulcio and the
	// timestamp authority, and (when it is an *http.Transport) the TLS
	// settings for Rekor, whose clients build their own transports.
	HTTPClient *http.Client
	// RootCAs, if set, are the CAs trusted for TLS to the services (a
	// private stack with its own CA); otherwise the system pool is used.
	RootCAs *x509.CertPool
	// Timeout bounds each request to a service (default 30 s).
	Timeout time.Duration
	// Retries is how many times a request that failed with a server error
	// is retried (default 0).
	Retries uint

	// TrustedMaterial, if set, is what every new bundle is verified against
	// before it is used (sign.BundleOptions.TrustedRoot): a misconfigured
	// signer fails at once instead of producing envelopes no one accepts.
	TrustedMaterial root.TrustedMaterial

	// Now returns the time used to select services (default time.Now).
	Now func() time.Time
}

// Signer signs envelopes keylessly: for each envelope it gets an OIDC token,
// makes an ephemeral ECDSA P-256 key, has Fulcio certify it for the token's
// identity, signs the content hash, records the signature in the
// transparency log and has it timestamped. It is safe for concurrent use.
type Signer struct {
	opts      SignerOptions
	tlsConfig *tls.Config
	transport http.RoundTripper

	mu      sync.Mutex
	fulcios map[string]*sign.Fulcio
	rekors  map[string]*sign.Rekor
	tsas    map[string]*sign.TimestampAuthority
}

var hexHash = regexp.MustCompile(`^[0-9a-f]{64}$`)

// NewSigner checks opts and returns a Signer. Without SigningConfig or
// explicit URLs it fetches the public-good signing config through TUF
// (network access).
func NewSigner(opts SignerOptions) (*Signer, error) {
	if opts.Tokens == nil {
		return nil, errors.New("keyless: no OIDC token source")
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.RekorVersion == 0 {
		opts.RekorVersion = 1
	}
	if opts.RekorVersion != 1 && opts.RekorVersion != 2 {
		return nil, fmt.Errorf("keyless: Rekor API version %d: want 1 or 2", opts.RekorVersion)
	}
	for name, u := range map[string]string{"Fulcio": opts.FulcioURL, "Rekor": opts.RekorURL, "timestamp authority": opts.TSAURL} {
		if u == "" {
			continue
		}
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return nil, fmt.Errorf("keyless: %s URL %q: want an http(s) URL", name, u)
		}
	}
	explicit := opts.FulcioURL != "" || opts.RekorURL != "" || opts.TSAURL != ""
	if opts.SigningConfig == nil && explicit {
		if opts.FulcioURL == "" || opts.RekorURL == "" {
			return nil, errors.New("keyless: without a signing config, give both the Fulcio and the Rekor URL (and a timestamp authority's)")
		}
	}
	if opts.SigningConfig == nil && !explicit {
		sc, err := root.FetchSigningConfigWithOptions(tuf.DefaultOptions())
		if err != nil {
			return nil, fmt.Errorf("keyless: fetching the public-good Sigstore signing config through TUF: %w "+
				"(offline or private? give a signing config or the Fulcio, Rekor and timestamp authority URLs)", err)
		}
		opts.SigningConfig = sc
	}
	s := &Signer{
		opts:    opts,
		fulcios: map[string]*sign.Fulcio{},
		rekors:  map[string]*sign.Rekor{},
		tsas:    map[string]*sign.TimestampAuthority{},
	}
	if opts.HTTPClient != nil && opts.HTTPClient.Transport != nil {
		s.transport = opts.HTTPClient.Transport
		if t, ok := opts.HTTPClient.Transport.(*http.Transport); ok && t.TLSClientConfig != nil {
			s.tlsConfig = t.TLSClientConfig.Clone()
		}
	}
	if opts.RootCAs != nil {
		if s.tlsConfig == nil {
			s.tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		s.tlsConfig.RootCAs = opts.RootCAs
		if s.transport == nil {
			t := http.DefaultTransport.(*http.Transport).Clone()
			t.TLSClientConfig = s.tlsConfig
			s.transport = t
		}
	}
	// Fail now, not at the first envelope, if the services cannot be chosen.
	if _, _, _, err := s.services(); err != nil {
		return nil, err
	}
	return s, nil
}

// service is one selected endpoint.
type service struct {
	url     string
	version uint32
}

// selected returns the services to use now: explicit URLs, else the signing
// config's choice.
func (s *Signer) selected() (fulcio service, rekors, tsas []service, err error) {
	now := s.opts.Now()
	sc := s.opts.SigningConfig
	if s.opts.FulcioURL != "" {
		fulcio = service{url: s.opts.FulcioURL, version: 1}
	} else {
		f, err := root.SelectService(sc.FulcioCertificateAuthorityURLs(), sign.FulcioAPIVersions, now)
		if err != nil {
			return fulcio, nil, nil, fmt.Errorf("keyless: choosing a Fulcio from the signing config: %w", err)
		}
		fulcio = service{url: f.URL, version: f.MajorAPIVersion}
	}
	if s.opts.RekorURL != "" {
		rekors = []service{{url: s.opts.RekorURL, version: s.opts.RekorVersion}}
	} else {
		if len(sc.RekorLogURLs()) == 0 {
			return fulcio, nil, nil, errors.New("keyless: the signing config lists no Rekor log: a transparency-log entry is required")
		}
		rs, err := root.SelectServices(sc.RekorLogURLs(), sc.RekorLogURLsConfig(), sign.RekorAPIVersions, now)
		if err != nil {
			return fulcio, nil, nil, fmt.Errorf("keyless: choosing a Rekor log from the signing config: %w", err)
		}
		for _, r := range rs {
			rekors = append(rekors, service{url: r.URL, version: r.MajorAPIVersion})
		}
	}
	switch {
	case s.opts.TSAURL != "":
		tsas = []service{{url: s.opts.TSAURL, version: 1}}
	case sc != nil && len(sc.TimestampAuthorityURLs()) > 0:
		ts, err := root.SelectServices(sc.TimestampAuthorityURLs(), sc.TimestampAuthorityURLsConfig(), sign.TimestampAuthorityAPIVersions, now)
		if err != nil {
			return fulcio, nil, nil, fmt.Errorf("keyless: choosing a timestamp authority from the signing config: %w", err)
		}
		for _, t := range ts {
			tsas = append(tsas, service{url: t.URL, version: t.MajorAPIVersion})
		}
	}
	for _, r := range rekors {
		if r.version == 2 && len(tsas) == 0 {
			return fulcio, nil, nil, fmt.Errorf("keyless: Rekor v2 log %s records no integrated time: a timestamp authority is required", r.url)
		}
	}
	return fulcio, rekors, tsas, nil
}

// services returns (and caches) the sigstore-go clients for the services
// selected now. The clients are built here, not lazily by sigstore-go, so
// that concurrent signatures do not race to initialise them.
func (s *Signer) services() (sign.CertificateProvider, []sign.Transparency, []*sign.TimestampAuthority, error) {
	f, rs, ts, err := s.selected()
	if err != nil {
		return nil, nil, nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	fulcio, ok := s.fulcios[f.url]
	if !ok {
		fulcio = sign.NewFulcio(&sign.FulcioOptions{BaseURL: strings.TrimSuffix(f.url, "/"), Timeout: s.opts.Timeout, Retries: s.opts.Retries, Transport: s.transport})
		s.fulcios[f.url] = fulcio
	}
	var logs []sign.Transparency
	for _, r := range rs {
		key := fmt.Sprintf("v%d %s", r.version, r.url)
		rekor, ok := s.rekors[key]
		if !ok {
			rekor, err = s.newRekor(r)
			if err != nil {
				return nil, nil, nil, err
			}
			s.rekors[key] = rekor
		}
		logs = append(logs, rekor)
	}
	var tsas []*sign.TimestampAuthority
	for _, t := range ts {
		tsa, ok := s.tsas[t.url]
		if !ok {
			tsa = sign.NewTimestampAuthority(&sign.TimestampAuthorityOptions{URL: t.url, Timeout: s.opts.Timeout, Retries: s.opts.Retries, Transport: s.transport})
			s.tsas[t.url] = tsa
		}
		tsas = append(tsas, tsa)
	}
	return fulcio, logs, tsas, nil
}

func (s *Signer) newRekor(r service) (*sign.Rekor, error) {
	base := strings.TrimSuffix(r.url, "/")
	opts := &sign.RekorOptions{BaseURL: base, Timeout: s.opts.Timeout, Retries: s.opts.Retries, Version: r.version}
	switch r.version {
	case 1:
		copts := []rekorclient.Option{rekorclient.WithUserAgent(util.ConstructUserAgent()), rekorclient.WithRetryCount(s.opts.Retries)}
		if s.tlsConfig != nil {
			copts = append(copts, rekorclient.WithTLSConfig(s.tlsConfig))
		}
		c, err := rekorclient.GetRekorClient(base, copts...)
		if err != nil {
			return nil, fmt.Errorf("keyless: Rekor client for %s: %w", base, err)
		}
		opts.Client = c.Entries
	case 2:
		copts := []rekortilesclient.Option{rekortilesclient.WithUserAgent(util.ConstructUserAgent()), rekortilesclient.WithTimeout(s.opts.Timeout)}
		if s.tlsConfig != nil {
			copts = append(copts, rekortilesclient.WithTLSConfig(s.tlsConfig))
		}
		c, err := rekorv2write.NewWriter(base, copts...)
		if err != nil {
			return nil, fmt.Errorf("keyless: Rekor v2 client for %s: %w", base, err)
		}
		opts.ClientV2 = c
	default:
		return nil, fmt.Errorf("keyless: Rekor %s: API version %d is not supported (1 or 2)", base, r.version)
	}
	return sign.NewRekor(opts), nil
}

// String names the services the signer uses now (never a token).
func (s *Signer) String() string {
	f, rs, ts, err := s.selected()
	if err != nil {
		return "keyless signer (" + err.Error() + ")"
	}
	parts := []string{"fulcio " + f.url}
	for _, r := range rs {
		parts = append(parts, fmt.Sprintf("rekor v%d %s", r.version, r.url))
	}
	for _, t := range ts {
		parts = append(parts, "tsa "+t.url)
	}
	return strings.Join(parts, ", ")
}

// Sign signs an unsigned envelope, fills env.Signature with a
// sigstore-cosign block and returns the content hash. An envelope that is
// already signed is refused with devkey.ErrAlreadySigned.
func (s *Signer) Sign(ctx context.Context, env *envelope.Envelope) (string, error) {
	if env.Signature != nil {
		return "", devkey.ErrAlreadySigned
	}
	hash := env.ContentHash()
	sig, err := s.SignContentHash(ctx, hash)
	if err != nil {
		return "", err
	}
	env.Signature = sig
	return hash, nil
}

// SignContentHash signs a content hash (64 lowercase hex characters) and
// returns the signature block.
func (s *Signer) SignContentHash(ctx context.Context, contentHash string) (*envelope.Signature, error) {
	if !hexHash.MatchString(contentHash) {
		return nil, errors.New("keyless: a content hash is 64 lowercase hex characters")
	}
	fulcio, logs, tsas, err := s.services()
	if err != nil {
		return nil, err
	}
	token, err := s.opts.Tokens.Token(ctx)
	if err != nil {
		return nil, fmt.Errorf("keyless: %w", err)
	}
	keypair, err := sign.NewEphemeralKeypair(nil) // ECDSA P-256, SHA-256
	if err != nil {
		return nil, fmt.Errorf("keyless: ephemeral key: %w", err)
	}
	pb, err := sign.Bundle(&sign.PlainData{Data: []byte(contentHash)}, keypair, sign.BundleOptions{
		CertificateProvider:        fulcio,
		CertificateProviderOptions: &sign.CertificateProviderOptions{IDToken: token},
		TransparencyLogs:           logs,
		TimestampAuthorities:       tsas,
		Context:                    ctx,
		TrustedRoot:                s.opts.TrustedMaterial,
	})
	if err != nil {
		return nil, fmt.Errorf("keyless signing: %w", err)
	}
	return SignatureFromBundle(pb)
}
