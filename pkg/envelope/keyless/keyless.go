// Package keyless signs envelopes with Sigstore keyless signatures and reads
// such signature blocks back.
//
// The artifact signed is the 64 ASCII characters of the envelope's content
// hash, as a Sigstore message signature (a hashedrekord entry in the
// transparency log, not DSSE), with an ephemeral ECDSA P-256 key certified
// by Fulcio for the signer's OIDC identity. The bundle (v0.3, protobuf JSON)
// travels in the envelope's signature block:
//
//	{"method":"sigstore-cosign","certificate":"<Fulcio leaf PEM>","rekor_log_index":<index>,"bundle":"<std base64 of the bundle JSON>"}
//
// Signer makes such blocks (see NewSigner); ParseSignature reads one back and
// checks that it is self-consistent. Whether a signature is valid and its
// signer trusted is decided by package verify, which checks the bundle
// against a Sigstore trusted root and the recomputed content hash.
package keyless

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/inferencebench/bench/pkg/envelope"
)

// BundleMediaType is the media type of the bundles this package writes and
// reads (Sigstore bundle v0.3).
const BundleMediaType = "application/vnd.dev.sigstore.bundle.v0.3+json"

// maxBundleBytes bounds the decoded bundle: a keyless bundle is a few KiB
// (one certificate, one log entry, a timestamp or two).
const maxBundleBytes = 1 << 20

// ErrMalformed means a sigstore-cosign signature block cannot be read, or
// contradicts itself (its certificate or log index is not the bundle's).
var ErrMalformed = errors.New("malformed sigstore-cosign signature block")

// Fulcio certificate extensions that carry the OIDC issuer.
var (
	oidIssuerV2 = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 8}
	oidIssuerV1 = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 1}
)

// Bundle is a parsed sigstore-cosign signature block. ParseSignature checks
// that it is well formed and self-consistent; nothing in it is verified.
type Bundle struct {
	// Bundle is the sigstore-go bundle, ready for verify.Verifier.
	*bundle.Bundle
	// Certificate is the leaf certificate the bundle carries.
	Certificate *x509.Certificate
	// Digest is the SHA-256 digest the message signature claims to cover:
	// for an honest bundle, ArtifactDigest of the envelope's content hash.
	Digest []byte
	// LogIndex is the index of the bundle's first transparency-log entry,
	// or envelope.NoRekorIndex when it has none.
	LogIndex int64
}

// ArtifactDigest returns the SHA-256 digest of the artifact a keyless
// signature covers: the 64 hex characters of the content hash.
func ArtifactDigest(contentHash string) []byte {
	sum := sha256.Sum256([]byte(contentHash))
	return sum[:]
}

// SignatureFromBundle builds the envelope's signature block from a freshly
// made bundle: a message signature with a Fulcio certificate.
func SignatureFromBundle(pb *protobundle.Bundle) (*envelope.Signature, error) {
	if pb.GetMessageSignature() == nil {
		return nil, errors.New("keyless: the bundle holds no message signature")
	}
	der := pb.GetVerificationMaterial().GetCertificate().GetRawBytes()
	if len(der) == 0 {
		return nil, errors.New("keyless: the bundle holds no Fulcio certificate")
	}
	if _, err := x509.ParseCertificate(der); err != nil {
		return nil, fmt.Errorf("keyless: the bundle's certificate: %w", err)
	}
	index := int64(envelope.NoRekorIndex)
	if entries := pb.GetVerificationMaterial().GetTlogEntries(); len(entries) > 0 {
		index = entries[0].GetLogIndex()
	}
	data, err := protojson.Marshal(pb)
	if err != nil {
		return nil, fmt.Errorf("keyless: serialising the bundle: %w", err)
	}
	return &envelope.Signature{
		Method:        envelope.MethodKeyless,
		Certificate:   CertificatePEM(der),
		RekorLogIndex: index,
		Bundle:        base64.StdEncoding.EncodeToString(data),
	}, nil
}

// CertificatePEM encodes a DER certificate as PEM without the final newline,
// the form of the signature block's certificate field.
func CertificatePEM(der []byte) string {
	return strings.TrimSpace(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
}

// ParseSignature reads a sigstore-cosign signature block: the bundle must be
// standard base64 of a v0.3 bundle's JSON holding a SHA-256 message
// signature and a certificate; the block's certificate must be that
// certificate and its rekor_log_index the index of the bundle's first
// transparency-log entry. Errors wrap ErrMalformed.
func ParseSignature(sig *envelope.Signature) (*Bundle, error) {
	if sig == nil || sig.Method != envelope.MethodKeyless {
		return nil, fmt.Errorf("%w: not a %s signature", ErrMalformed, envelope.MethodKeyless)
	}
	raw := sig.Bundle
	if raw == "" {
		return nil, fmt.Errorf("%w: bundle is empty", ErrMalformed)
	}
	if strings.ContainsAny(raw, "\r\n \t") {
		return nil, fmt.Errorf("%w: bundle: white space in base64", ErrMalformed)
	}
	if base64.StdEncoding.DecodedLen(len(raw)) > maxBundleBytes {
		return nil, fmt.Errorf("%w: bundle is larger than %d bytes", ErrMalformed, maxBundleBytes)
	}
	data, err := base64.StdEncoding.DecodeString(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: bundle: %v", ErrMalformed, err)
	}
	b := &bundle.Bundle{}
	if err := b.UnmarshalJSON(data); err != nil {
		return nil, fmt.Errorf("%w: bundle: %v", ErrMalformed, err)
	}
	if v, _ := b.Version(); v != "v0.3" {
		return nil, fmt.Errorf("%w: bundle media type %q: want %s", ErrMalformed, b.GetMediaType(), BundleMediaType)
	}
	ms := b.GetMessageSignature()
	if ms == nil {
		return nil, fmt.Errorf("%w: the bundle holds a DSSE envelope; a keyless envelope signature is a message signature over the content hash", ErrMalformed)
	}
	if ms.GetMessageDigest().GetAlgorithm() != protocommon.HashAlgorithm_SHA2_256 || len(ms.GetMessageDigest().GetDigest()) != sha256.Size {
		return nil, fmt.Errorf("%w: the message signature's digest is %s of %d bytes, want a SHA2_256 digest",
			ErrMalformed, ms.GetMessageDigest().GetAlgorithm(), len(ms.GetMessageDigest().GetDigest()))
	}
	if len(ms.GetSignature()) == 0 {
		return nil, fmt.Errorf("%w: the message signature is empty", ErrMalformed)
	}
	der := b.GetVerificationMaterial().GetCertificate().GetRawBytes()
	if len(der) == 0 {
		return nil, fmt.Errorf("%w: the bundle carries no Fulcio certificate (a public key or a certificate chain is not a keyless signature)", ErrMalformed)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("%w: the bundle's certificate does not parse: %v", ErrMalformed, err)
	}
	block, rest := pem.Decode([]byte(sig.Certificate))
	if block == nil || block.Type != "CERTIFICATE" || strings.TrimSpace(string(rest)) != "" {
		return nil, fmt.Errorf("%w: certificate: want one PEM \"CERTIFICATE\" block", ErrMalformed)
	}
	if !bytes.Equal(block.Bytes, der) {
		return nil, fmt.Errorf("%w: the certificate field is not the certificate in the bundle", ErrMalformed)
	}
	out := &Bundle{Bundle: b, Certificate: cert, Digest: ms.GetMessageDigest().GetDigest(), LogIndex: envelope.NoRekorIndex}
	if entries := b.GetVerificationMaterial().GetTlogEntries(); len(entries) > 0 {
		out.LogIndex = entries[0].GetLogIndex()
		if sig.RekorLogIndex != out.LogIndex {
			return nil, fmt.Errorf("%w: rekor_log_index is %d but the bundle's transparency-log entry has index %d",
				ErrMalformed, sig.RekorLogIndex, out.LogIndex)
		}
	}
	return out, nil
}

// CertificateIdentity returns the signer identity and OIDC issuer a Fulcio
// certificate names. The identity is the first subject alternative name, in
// the order Sigstore reads them: URI, then email, then Fulcio's OtherName
// (username). The issuer is extension 1.3.6.1.4.1.57264.1.8, or the
// deprecated 1.3.6.1.4.1.57264.1.1 when the former is absent.
//
// Not sigstore-go's certificate.SummarizeCertificate: there a v1 issuer
// extension that follows the v2 one overrides it.
func CertificateIdentity(cert *x509.Certificate) (identity, issuer string, err error) {
	switch {
	case len(cert.URIs) > 0:
		identity = cert.URIs[0].String()
	case len(cert.EmailAddresses) > 0:
		identity = cert.EmailAddresses[0]
	default:
		identity, _ = cryptoutils.UnmarshalOtherNameSAN(cert.Extensions)
	}
	if identity == "" {
		return "", "", errors.New("the certificate names no subject alternative name")
	}
	var v1 string
	for _, ext := range cert.Extensions {
		switch {
		case ext.Id.Equal(oidIssuerV2):
			var s string
			rest, err := asn1.Unmarshal(ext.Value, &s)
			if err != nil || len(rest) != 0 {
				return identity, "", fmt.Errorf("the certificate's issuer extension %s is not a DER string", oidIssuerV2)
			}
			issuer = s
		case ext.Id.Equal(oidIssuerV1):
			v1 = string(ext.Value)
		}
	}
	if issuer == "" {
		issuer = v1
	}
	if issuer == "" {
		return identity, "", errors.New("the certificate names no OIDC issuer (extension 1.3.6.1.4.1.57264.1.8 or .1.1)")
	}
	return identity, issuer, nil
}
