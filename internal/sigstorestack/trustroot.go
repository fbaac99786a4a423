package sigstorestack

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	prototrustroot "github.com/sigstore/protobuf-specs/gen/pb-go/trustroot/v1"
	"github.com/sigstore/sigstore-go/pkg/root"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// operator names the local deployment in the trust files.
const operator = "sigstorestack.local"

// buildTrustedRoot describes the running stack as a trusted_root.json that
// sigstore-go v1.3.0 (and cosign v3.1.3, on sigstore-go v1.2.2) accepts:
//
//   - certificateAuthorities: Fulcio's chain from /api/v2/trustBundle
//     (intermediates first, root last), valid from the root's NotBefore.
//   - tlogs: the Rekor v2 log. sigstore-go finds the log by logId.keyId,
//     which must equal the logId rekor-tiles puts in every entry: for an
//     Ed25519 key, the full SHA-256(origin || "\n" || 0x01 || key) of the
//     C2SP signed-note spec, NOT the SHA-256 of the SPKI that Rekor v1 uses.
//     It verifies the checkpoint with the origin taken from baseUrl's host,
//     so baseUrl's host must be the server's --hostname. checkpointKeyId is
//     the 4-byte truncation (what newer clients match on).
//   - timestampAuthorities: the TSA's chain from /api/v1/timestamp/certchain
//     (leaf first).
//   - ctlogs: none; the local Fulcio has no CT log, so verification must not
//     require SCTs (cosign: --insecure-ignore-sct).
//
// The media type is the v0.1 one: sigstore-go v1.3.0 rejects any other.
func (s *Stack) buildTrustedRoot(ctx context.Context, rekorPub ed25519.PublicKey, logStart time.Time, tsaBase string) ([]byte, error) {
	fulcioChain, err := fetchFulcioChain(ctx, s.FulcioURL)
	if err != nil {
		return nil, err
	}
	tsaChain, err := fetchPEMChain(ctx, tsaBase+"/api/v1/timestamp/certchain")
	if err != nil {
		return nil, err
	}

	u, err := url.Parse(s.RekorURL)
	if err != nil {
		return nil, err
	}
	origin := u.Hostname()
	spki, err := x509.MarshalPKIXPublicKey(rekorPub)
	if err != nil {
		return nil, err
	}
	logID := ed25519LogID(origin, rekorPub)

	tr := &prototrustroot.TrustedRoot{
		MediaType: root.TrustedRootMediaType01,
		Tlogs: []*prototrustroot.TransparencyLogInstance{{
			BaseUrl:       s.RekorURL,
			HashAlgorithm: protocommon.HashAlgorithm_SHA2_256,
			PublicKey: &protocommon.PublicKey{
				RawBytes:   spki,
				KeyDetails: protocommon.PublicKeyDetails_PKIX_ED25519,
				ValidFor:   &protocommon.TimeRange{Start: timestamppb.New(logStart)},
			},
			LogId:           &protocommon.LogId{KeyId: logID},
			CheckpointKeyId: &protocommon.LogId{KeyId: logID[:4]},
			Operator:        operator,
		}},
		CertificateAuthorities: []*prototrustroot.CertificateAuthority{
			certAuthority(s.FulcioURL, fulcioChain, fulcioChain[len(fulcioChain)-1].NotBefore),
		},
		TimestampAuthorities: []*prototrustroot.CertificateAuthority{
			certAuthority(s.TSAURL, tsaChain, tsaChain[0].NotBefore),
		},
	}
	return marshalProto(tr)
}

// ed25519LogID is the Rekor v2 log ID of an Ed25519 checkpoint key (C2SP
// signed-note key hash, untruncated), as rekor-tiles' note.KeyHash computes.
func ed25519LogID(origin string, pub ed25519.PublicKey) []byte {
	h := sha256.New()
	h.Write([]byte(origin))
	h.Write([]byte{'\n', 0x01})
	h.Write(pub)
	return h.Sum(nil)
}

func certAuthority(uri string, chain []*x509.Certificate, start time.Time) *prototrustroot.CertificateAuthority {
	last := chain[len(chain)-1]
	ca := &prototrustroot.CertificateAuthority{
		Subject:   &protocommon.DistinguishedName{CommonName: last.Subject.CommonName},
		Uri:       uri,
		CertChain: &protocommon.X509CertificateChain{},
		ValidFor:  &protocommon.TimeRange{Start: timestamppb.New(start)},
		Operator:  operator,
	}
	if len(last.Subject.Organization) > 0 {
		ca.Subject.Organization = last.Subject.Organization[0]
	}
	for _, c := range chain {
		ca.CertChain.Certificates = append(ca.CertChain.Certificates, &protocommon.X509Certificate{RawBytes: c.Raw})
	}
	return ca
}

// buildSigningConfig lists the services in the v0.2 signing config format
// (root.NewSigningConfigFromPath): Fulcio and the TSA speak API v1, the
// log API v2; one of each is selected.
func (s *Stack) buildSigningConfig(start time.Time) ([]byte, error) {
	svc := func(u string, major uint32) *prototrustroot.Service {
		return &prototrustroot.Service{
			Url:             u,
			MajorApiVersion: major,
			ValidFor:        &protocommon.TimeRange{Start: timestamppb.New(start)},
			Operator:        operator,
		}
	}
	sc := &prototrustroot.SigningConfig{
		MediaType:       root.SigningConfigMediaType02,
		CaUrls:          []*prototrustroot.Service{svc(s.FulcioURL, 1)},
		OidcUrls:        []*prototrustroot.Service{svc(s.IssuerURL, 1)},
		RekorTlogUrls:   []*prototrustroot.Service{svc(s.RekorURL, 2)},
		RekorTlogConfig: &prototrustroot.ServiceConfiguration{Selector: prototrustroot.ServiceSelector_ANY},
		TsaUrls:         []*prototrustroot.Service{svc(s.TSAURL, 1)},
		TsaConfig:       &prototrustroot.ServiceConfiguration{Selector: prototrustroot.ServiceSelector_ANY},
	}
	return marshalProto(sc)
}

func marshalProto(m proto.Message) ([]byte, error) {
	b, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(m)
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// checkTrustFiles loads both files the way clients will, so a format
// mistake fails at start-up with a clear cause rather than deep in a test.
func checkTrustFiles(trustedRoot, signingConfig string) error {
	if _, err := root.NewTrustedRootFromPath(trustedRoot); err != nil {
		return fmt.Errorf("sigstorestack: generated %s does not load: %w", trustedRoot, err)
	}
	if _, err := root.NewSigningConfigFromPath(signingConfig); err != nil {
		return fmt.Errorf("sigstorestack: generated %s does not load: %w", signingConfig, err)
	}
	return nil
}

func httpGet(ctx context.Context, u string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("sigstorestack: GET %s: %w", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("sigstorestack: GET %s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("sigstorestack: GET %s: HTTP %d: %s", u, resp.StatusCode, body)
	}
	return body, nil
}

// fetchFulcioChain reads Fulcio's trust bundle; the ephemeral CA has one
// chain.
func fetchFulcioChain(ctx context.Context, fulcioURL string) ([]*x509.Certificate, error) {
	body, err := httpGet(ctx, fulcioURL+"/api/v2/trustBundle")
	if err != nil {
		return nil, err
	}
	var tb struct {
		Chains []struct {
			Certificates []string `json:"certificates"`
		} `json:"chains"`
	}
	if err := json.Unmarshal(body, &tb); err != nil {
		return nil, fmt.Errorf("sigstorestack: fulcio trust bundle: %w", err)
	}
	if len(tb.Chains) == 0 || len(tb.Chains[0].Certificates) == 0 {
		return nil, fmt.Errorf("sigstorestack: fulcio trust bundle has no chain: %s", body)
	}
	var pemData []byte
	for _, c := range tb.Chains[0].Certificates {
		pemData = append(pemData, c...)
		pemData = append(pemData, '\n')
	}
	return parsePEMChain(pemData, "fulcio trust bundle")
}

func fetchPEMChain(ctx context.Context, u string) ([]*x509.Certificate, error) {
	body, err := httpGet(ctx, u)
	if err != nil {
		return nil, err
	}
	return parsePEMChain(body, u)
}

func parsePEMChain(data []byte, what string) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("sigstorestack: %s: %w", what, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("sigstorestack: %s: no certificates", what)
	}
	return certs, nil
}
