package keylesstest

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cyberphone/json-canonicalization/go/src/webpki.org/jsoncanonicalizer"
	"github.com/digitorus/timestamp"
	"github.com/go-openapi/runtime"
	"github.com/go-openapi/strfmt"
	prototrustroot "github.com/sigstore/protobuf-specs/gen/pb-go/trustroot/v1"
	"github.com/sigstore/rekor/pkg/generated/models"
	"github.com/sigstore/rekor/pkg/types"
	_ "github.com/sigstore/rekor/pkg/types/hashedrekord/v0.0.1" // the entry kind the stack accepts
	rekorutil "github.com/sigstore/rekor/pkg/util"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/testing/ca"
	"github.com/sigstore/sigstore-go/pkg/tlog"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/transparency-dev/merkle/rfc6962"
)

// Stack is a Fulcio, a Rekor v1 log and an RFC 3161 timestamp authority
// served over HTTP on loopback, good enough for sigstore-go's signing
// clients and verifier. Fulcio checks the tokens Token mints (HMAC) and the
// proof of possession; Rekor checks the hashedrekord signature. There is no
// CT log: certificates carry no SCT.
type Stack struct {
	FulcioURL string
	RekorURL  string
	TSAURL    string // full URL, with its path
	// TrustedRoot describes the stack for verification.
	TrustedRoot *root.TrustedRoot
	// Requests counts the requests each service answered ("fulcio", "rekor", "tsa").
	Requests map[string]*atomic.Int64

	secret    []byte
	caRoot    *x509.Certificate
	caInter   *x509.Certificate
	caKey     *ecdsa.PrivateKey
	tsaChain  []*x509.Certificate // leaf, intermediate
	tsaKey    *ecdsa.PrivateKey
	rekorKey  *ecdsa.PrivateKey
	logID     string
	nextIndex atomic.Int64
}

// NewStack starts the services; they stop when the test ends.
func NewStack(t testing.TB) *Stack {
	t.Helper()
	s := &Stack{secret: make([]byte, 32), Requests: map[string]*atomic.Int64{"fulcio": {}, "rekor": {}, "tsa": {}}}
	if _, err := rand.Read(s.secret); err != nil {
		t.Fatal(err)
	}
	s.nextIndex.Store(4200)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	var rootKey *ecdsa.PrivateKey
	var err error
	s.caRoot, rootKey, err = ca.GenerateRootCa()
	must(err)
	s.caInter, s.caKey, err = ca.GenerateFulcioIntermediate(s.caRoot, rootKey)
	must(err)
	tsaInter, tsaInterKey, err := ca.GenerateTSAIntermediate(s.caRoot, rootKey)
	must(err)
	s.tsaKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(err)
	tsaLeaf, err := tsaLeafCert(s.tsaKey, tsaInter, tsaInterKey)
	must(err)
	s.tsaChain = []*x509.Certificate{tsaLeaf, tsaInter}
	s.rekorKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(err)
	der, err := x509.MarshalPKIXPublicKey(&s.rekorKey.PublicKey)
	must(err)
	sum := sha256.Sum256(der)
	s.logID = hex.EncodeToString(sum[:])

	fulcio := httptest.NewServer(s.count("fulcio", http.HandlerFunc(s.serveFulcio)))
	t.Cleanup(fulcio.Close)
	rekor := httptest.NewServer(s.count("rekor", http.HandlerFunc(s.serveRekor)))
	t.Cleanup(rekor.Close)
	tsa := httptest.NewServer(s.count("tsa", http.HandlerFunc(s.serveTSA)))
	t.Cleanup(tsa.Close)
	s.FulcioURL, s.RekorURL, s.TSAURL = fulcio.URL, rekor.URL, tsa.URL+"/api/v1/timestamp"

	start := time.Now().Add(-time.Hour)
	s.TrustedRoot, err = root.NewTrustedRoot(root.TrustedRootMediaType01,
		[]root.CertificateAuthority{&root.FulcioCertificateAuthority{
			Root: s.caRoot, Intermediates: []*x509.Certificate{s.caInter}, ValidityPeriodStart: start, URI: s.FulcioURL,
		}},
		map[string]*root.TransparencyLog{},
		[]root.TimestampingAuthority{&root.SigstoreTimestampingAuthority{
			Root: s.caRoot, Intermediates: []*x509.Certificate{tsaInter}, Leaf: tsaLeaf, ValidityPeriodStart: start, URI: s.TSAURL,
		}},
		map[string]*root.TransparencyLog{s.logID: {
			BaseURL: s.RekorURL, ID: sum[:], ValidityPeriodStart: start,
			HashFunc: crypto.SHA256, PublicKey: &s.rekorKey.PublicKey, SignatureHashFunc: crypto.SHA256,
		}})
	must(err)
	return s
}

func (s *Stack) count(name string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.Requests[name].Add(1)
		h.ServeHTTP(w, r)
	})
}

// TrustedRootJSON returns the stack's trusted_root.json.
func (s *Stack) TrustedRootJSON(t testing.TB) []byte {
	t.Helper()
	data, err := s.TrustedRoot.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// SigningConfig returns a signing config naming the stack's services.
func (s *Stack) SigningConfig(t testing.TB) *root.SigningConfig {
	t.Helper()
	start := time.Now().Add(-time.Hour)
	any1 := root.ServiceConfiguration{Selector: prototrustroot.ServiceSelector_ANY}
	sc, err := root.NewSigningConfig(root.SigningConfigMediaType02,
		[]root.Service{{URL: s.FulcioURL, MajorAPIVersion: 1, ValidityPeriodStart: start, Operator: "keylesstest"}},
		nil,
		[]root.Service{{URL: s.RekorURL, MajorAPIVersion: 1, ValidityPeriodStart: start, Operator: "keylesstest"}}, any1,
		[]root.Service{{URL: s.TSAURL, MajorAPIVersion: 1, ValidityPeriodStart: start, Operator: "keylesstest"}}, any1)
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

// WriteFiles writes trusted_root.json and signing_config.json into dir and
// returns their paths.
func (s *Stack) WriteFiles(t testing.TB, dir string) (trustedRoot, signingConfig string) {
	t.Helper()
	trustedRoot = filepath.Join(dir, "trusted_root.json")
	signingConfig = filepath.Join(dir, "signing_config.json")
	sc, err := s.SigningConfig(t).MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(trustedRoot, s.TrustedRootJSON(t), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(signingConfig, sc, 0o644); err != nil {
		t.Fatal(err)
	}
	return trustedRoot, signingConfig
}

// Token mints an identity token that the stack's Fulcio accepts. identity
// becomes the certificate's SAN: a URI when it is an http(s) URL (as for
// GitHub Actions workflows), an email address otherwise. The token expires
// after ttl (an hour when ttl is 0; a negative ttl mints an expired one).
func (s *Stack) Token(issuer, identity string, ttl time.Duration) string {
	if ttl == 0 {
		ttl = time.Hour
	}
	claims := map[string]any{"iss": issuer, "aud": "sigstore", "exp": time.Now().Add(ttl).Unix(), "iat": time.Now().Unix()}
	if strings.HasPrefix(identity, "https://") || strings.HasPrefix(identity, "http://") {
		claims["sub"] = identity
	} else {
		claims["sub"] = "user-" + identity
		claims["email"] = identity
		claims["email_verified"] = true
	}
	head := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
	body, _ := json.Marshal(claims)
	signing := head + "." + base64.RawURLEncoding.EncodeToString(body)
	mac := hmac.New(sha256.New, s.secret)
	mac.Write([]byte(signing))
	return signing + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// verifyToken checks a token minted by Token and returns its claims.
func (s *Stack) verifyToken(tok string) (map[string]any, error) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("not a JWT")
	}
	mac := hmac.New(sha256.New, s.secret)
	mac.Write([]byte(parts[0] + "." + parts[1]))
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || !hmac.Equal(sig, mac.Sum(nil)) {
		return nil, fmt.Errorf("bad token signature")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, err
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		return nil, err
	}
	if exp, _ := claims["exp"].(float64); time.Now().Unix() > int64(exp) {
		return nil, fmt.Errorf("token expired")
	}
	return claims, nil
}

var (
	oidIssuerV1 = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 1}
	oidIssuerV2 = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 8}
)

// serveFulcio answers POST /api/v2/signingCert as Fulcio does.
func (s *Stack) serveFulcio(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/api/v2/signingCert" {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	claims, err := s.verifyToken(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
	if err != nil {
		http.Error(w, `{"message":"invalid identity token: `+err.Error()+`"}`, http.StatusUnauthorized)
		return
	}
	var req struct {
		PublicKeyRequest struct {
			PublicKey struct {
				Content string `json:"content"`
			} `json:"publicKey"`
			ProofOfPossession string `json:"proofOfPossession"`
		} `json:"publicKeyRequest"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	block, _ := pem.Decode([]byte(req.PublicKeyRequest.PublicKey.Content))
	if block == nil {
		http.Error(w, "public key is not PEM", http.StatusBadRequest)
		return
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	ecPub, ok := pub.(*ecdsa.PublicKey)
	if !ok {
		http.Error(w, "want an ECDSA key", http.StatusBadRequest)
		return
	}
	subject, _ := claims["email"].(string)
	if subject == "" {
		subject, _ = claims["sub"].(string)
	}
	pop, err := base64.StdEncoding.DecodeString(req.PublicKeyRequest.ProofOfPossession)
	digest := sha256.Sum256([]byte(subject))
	if err != nil || !ecdsa.VerifyASN1(ecPub, digest[:], pop) {
		http.Error(w, `{"message":"proof of possession failed"}`, http.StatusBadRequest)
		return
	}
	issuer, _ := claims["iss"].(string)
	issuerV2, _ := asn1.MarshalWithParams(issuer, "utf8")
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		NotBefore:    now.Add(-time.Second),
		NotAfter:     now.Add(10 * time.Minute),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		ExtraExtensions: []pkix.Extension{
			{Id: oidIssuerV1, Value: []byte(issuer)},
			{Id: oidIssuerV2, Value: issuerV2},
		},
	}
	if email, _ := claims["email"].(string); email != "" {
		tmpl.EmailAddresses = []string{email}
	} else if u, err := url.Parse(subject); err == nil && u.Scheme != "" {
		tmpl.URIs = []*url.URL{u}
	} else {
		http.Error(w, `{"message":"token names no usable identity"}`, http.StatusBadRequest)
		return
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, s.caInter, ecPub, s.caKey)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	chain := []string{pemText(der), pemText(s.caInter.Raw), pemText(s.caRoot.Raw)}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"signedCertificateEmbeddedSct": map[string]any{"chain": map[string]any{"certificates": chain}},
	})
}

func pemText(der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// serveRekor answers POST /api/v1/log/entries as Rekor v1 does: each entry
// is the only leaf of its own tree, which keeps inclusion proofs trivial
// but real (a signed checkpoint, a root hash the leaf hashes to).
func (s *Stack) serveRekor(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/api/v1/log/entries" {
		http.Error(w, `{"code":404,"message":"not found"}`, http.StatusNotFound)
		return
	}
	pe, err := models.UnmarshalProposedEntry(io.LimitReader(r.Body, 1<<20), runtime.JSONConsumer())
	if err != nil {
		rekorError(w, http.StatusBadRequest, err)
		return
	}
	impl, err := types.CreateVersionedEntry(pe)
	if err != nil {
		rekorError(w, http.StatusBadRequest, err)
		return
	}
	body, err := types.CanonicalizeEntry(r.Context(), impl)
	if err != nil {
		rekorError(w, http.StatusBadRequest, err)
		return
	}
	index := s.nextIndex.Add(1)
	now := time.Now().Unix()
	payload, err := json.Marshal(tlog.RekorPayload{Body: base64.StdEncoding.EncodeToString(body), IntegratedTime: now, LogIndex: index, LogID: s.logID})
	if err != nil {
		rekorError(w, http.StatusInternalServerError, err)
		return
	}
	canonical, err := jsoncanonicalizer.Transform(payload)
	if err != nil {
		rekorError(w, http.StatusInternalServerError, err)
		return
	}
	digest := sha256.Sum256(canonical)
	set, err := ecdsa.SignASN1(rand.Reader, s.rekorKey, digest[:])
	if err != nil {
		rekorError(w, http.StatusInternalServerError, err)
		return
	}
	leaf := rfc6962.DefaultHasher.HashLeaf(body)
	signer, err := signature.LoadECDSASignerVerifier(s.rekorKey, crypto.SHA256)
	if err != nil {
		rekorError(w, http.StatusInternalServerError, err)
		return
	}
	host := strings.TrimPrefix(s.RekorURL, "http://")
	checkpoint, err := rekorutil.CreateAndSignCheckpoint(context.Background(), host, index, 1, leaf, signer)
	if err != nil {
		rekorError(w, http.StatusInternalServerError, err)
		return
	}
	uuid := hex.EncodeToString(leaf)
	rootHash := hex.EncodeToString(leaf)
	zero, one := int64(0), int64(1)
	cp := string(checkpoint)
	logID := s.logID
	entry := models.LogEntryAnon{
		Body:           base64.StdEncoding.EncodeToString(body),
		IntegratedTime: &now,
		LogID:          &logID,
		LogIndex:       &index,
		Verification: &models.LogEntryAnonVerification{
			InclusionProof:       &models.InclusionProof{Checkpoint: &cp, Hashes: []string{}, LogIndex: &zero, RootHash: &rootHash, TreeSize: &one},
			SignedEntryTimestamp: strfmt.Base64(set),
		},
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("ETag", uuid)
	w.Header().Set("Location", "/api/v1/log/entries/"+uuid)
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(map[string]models.LogEntryAnon{uuid: entry})
}

func rekorError(w http.ResponseWriter, code int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{"code": code, "message": err.Error()})
}

// serveTSA answers RFC 3161 timestamp requests.
func (s *Stack) serveTSA(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/api/v1/timestamp" {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, 1<<16))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	req, err := timestamp.ParseRequest(data)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	ts := timestamp.Timestamp{
		HashAlgorithm:   req.HashAlgorithm,
		HashedMessage:   req.HashedMessage,
		Time:            time.Now(),
		Nonce:           req.Nonce,
		Policy:          asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 2},
		ExtraExtensions: req.Extensions,
	}
	resp, err := ts.CreateResponseWithOpts(s.tsaChain[0], s.tsaKey, crypto.SHA256)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/timestamp-reply")
	_, _ = io.Copy(w, bytes.NewReader(resp))
}

// tsaLeafCert makes a timestamping leaf valid for two hours, with the
// critical timeStamping extended key usage timestamp authorities need.
func tsaLeafCert(key *ecdsa.PrivateKey, parent *x509.Certificate, parentKey crypto.Signer) (*x509.Certificate, error) {
	eku, err := asn1.Marshal([]asn1.ObjectIdentifier{{1, 3, 6, 1, 5, 5, 7, 3, 8}})
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:    big.NewInt(2),
		Subject:         pkix.Name{CommonName: "keylesstest TSA"},
		NotBefore:       time.Now().Add(-time.Minute),
		NotAfter:        time.Now().Add(2 * time.Hour),
		KeyUsage:        x509.KeyUsageDigitalSignature,
		ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 37}, Critical: true, Value: eku}},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}
