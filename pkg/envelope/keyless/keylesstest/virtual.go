// Package keylesstest makes keyless signatures for tests without a network:
//
//   - Virtual wraps sigstore-go's VirtualSigstore (an in-memory Fulcio CA,
//     Rekor log and timestamp authority) and turns what it signs into real
//     v0.3 bundles and signature blocks, including bundles that are wrong on
//     purpose (signed outside the certificate's validity, without a
//     transparency-log entry, ...);
//   - Stack serves a Fulcio, a Rekor v1 log and an RFC 3161 timestamp
//     authority over HTTP on loopback, so that keyless.Signer and the CLI
//     can be exercised end to end, and writes the trusted_root.json and
//     signing_config.json that describe them.
package keylesstest

import (
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"testing"
	"time"

	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/testing/ca"
	"github.com/sigstore/sigstore-go/pkg/tlog"

	"github.com/inferencebench/bench/pkg/envelope"
	"github.com/inferencebench/bench/pkg/envelope/keyless"
)

// Virtual is an in-memory Sigstore (sigstore-go's VirtualSigstore). It
// implements root.TrustedMaterial, so it can be a verify.Policy's trusted
// material directly; TrustedRootJSON writes it as a trusted_root.json.
//
// Its leaf certificates carry the identity as an email SAN and the issuer
// in the deprecated extension 1.3.6.1.4.1.57264.1.1, are valid for ten
// minutes from their creation, and have no SCT.
type Virtual struct {
	*ca.VirtualSigstore
}

// NewVirtual returns a fresh in-memory Sigstore.
func NewVirtual(t testing.TB) *Virtual {
	t.Helper()
	vs, err := ca.NewVirtualSigstore()
	if err != nil {
		t.Fatal(err)
	}
	return &Virtual{vs}
}

// SignOptions changes how Virtual signs.
type SignOptions struct {
	// IntegratedTime is the transparency log's integrated time (default:
	// five minutes from now, inside the certificate's ten-minute validity).
	IntegratedTime time.Time
	// LogIndex is the log entry's index (default 1000).
	LogIndex int64
	// NoTlogEntry leaves the transparency-log entry out of the bundle.
	NoTlogEntry bool
	// NoTimestamp leaves the RFC 3161 timestamp out of the bundle.
	NoTimestamp bool
}

// Bundle signs artifact as identity/issuer and returns a v0.3 bundle: a
// message signature, the leaf certificate, a hashedrekord entry with its
// inclusion promise and inclusion proof, and an RFC 3161 timestamp.
func (v *Virtual) Bundle(t testing.TB, artifact []byte, identity, issuer string, o SignOptions) *protobundle.Bundle {
	t.Helper()
	at := o.IntegratedTime
	if at.IsZero() {
		at = time.Now().Add(5 * time.Minute)
	}
	ent, err := v.SignAtTime(identity, issuer, artifact, at)
	if err != nil {
		t.Fatal(err)
	}
	vc, err := ent.VerificationContent()
	if err != nil {
		t.Fatal(err)
	}
	sc, err := ent.SignatureContent()
	if err != nil {
		t.Fatal(err)
	}
	ms := sc.MessageSignatureContent()
	pb := &protobundle.Bundle{
		MediaType: keyless.BundleMediaType,
		Content: &protobundle.Bundle_MessageSignature{MessageSignature: &protocommon.MessageSignature{
			MessageDigest: &protocommon.HashOutput{Algorithm: protocommon.HashAlgorithm_SHA2_256, Digest: ms.Digest()},
			Signature:     ms.Signature(),
		}},
		VerificationMaterial: &protobundle.VerificationMaterial{
			Content: &protobundle.VerificationMaterial_Certificate{Certificate: &protocommon.X509Certificate{RawBytes: vc.Certificate().Raw}},
		},
	}
	if !o.NoTimestamp {
		stamps, err := ent.Timestamps()
		if err != nil {
			t.Fatal(err)
		}
		tvd := &protobundle.TimestampVerificationData{}
		for _, s := range stamps {
			tvd.Rfc3161Timestamps = append(tvd.Rfc3161Timestamps, &protocommon.RFC3161SignedTimestamp{SignedTimestamp: s})
		}
		pb.VerificationMaterial.TimestampVerificationData = tvd
	}
	if !o.NoTlogEntry {
		entries, err := ent.TlogEntries()
		if err != nil || len(entries) != 1 {
			t.Fatalf("virtual sigstore: %d log entries, %v", len(entries), err)
		}
		pb.VerificationMaterial.TlogEntries = []*protorekor.TransparencyLogEntry{v.logEntry(t, entries[0], o.LogIndex)}
	}
	return pb
}

// logEntry rebuilds VirtualSigstore's hashedrekord entry with the given
// index, its inclusion promise (SET) and an inclusion proof, which bundles
// from v0.2 on must carry.
func (v *Virtual) logEntry(t testing.TB, e *tlog.Entry, index int64) *protorekor.TransparencyLogEntry {
	t.Helper()
	if index == 0 {
		index = 1000
	}
	body := e.TransparencyLogEntry().GetCanonicalizedBody()
	logID, err := v.RekorLogID()
	if err != nil {
		t.Fatal(err)
	}
	rawID, err := hex.DecodeString(logID)
	if err != nil {
		t.Fatal(err)
	}
	set, err := v.RekorSignPayload(tlog.RekorPayload{
		Body:           base64.StdEncoding.EncodeToString(body),
		IntegratedTime: e.IntegratedTime().Unix(),
		LogIndex:       index,
		LogID:          logID,
	})
	if err != nil {
		t.Fatal(err)
	}
	proof, err := v.GetInclusionProof(body)
	if err != nil {
		t.Fatal(err)
	}
	rootHash, err := hex.DecodeString(*proof.RootHash)
	if err != nil {
		t.Fatal(err)
	}
	var hashes [][]byte
	for _, h := range proof.Hashes {
		b, err := hex.DecodeString(h)
		if err != nil {
			t.Fatal(err)
		}
		hashes = append(hashes, b)
	}
	return &protorekor.TransparencyLogEntry{
		LogIndex:          index,
		LogId:             &protocommon.LogId{KeyId: rawID},
		KindVersion:       &protorekor.KindVersion{Kind: "hashedrekord", Version: "0.0.1"},
		IntegratedTime:    e.IntegratedTime().Unix(),
		InclusionPromise:  &protorekor.InclusionPromise{SignedEntryTimestamp: set},
		CanonicalizedBody: body,
		InclusionProof: &protorekor.InclusionProof{
			LogIndex:   *proof.LogIndex,
			RootHash:   rootHash,
			TreeSize:   *proof.TreeSize,
			Hashes:     hashes,
			Checkpoint: &protorekor.Checkpoint{Envelope: *proof.Checkpoint},
		},
	}
}

// Signature signs contentHash as identity/issuer and returns the envelope's
// signature block.
func (v *Virtual) Signature(t testing.TB, contentHash, identity, issuer string, o SignOptions) *envelope.Signature {
	t.Helper()
	sig, err := keyless.SignatureFromBundle(v.Bundle(t, []byte(contentHash), identity, issuer, o))
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

// Sign signs an unsigned envelope as identity/issuer and returns its content
// hash.
func (v *Virtual) Sign(t testing.TB, env *envelope.Envelope, identity, issuer string, o SignOptions) string {
	t.Helper()
	if env.Signature != nil {
		t.Fatal("keylesstest: the envelope is already signed")
	}
	hash := env.ContentHash()
	env.Signature = v.Signature(t, hash, identity, issuer, o)
	return hash
}

// TrustedRootJSON returns the virtual Sigstore as a trusted_root.json.
func (v *Virtual) TrustedRootJSON(t testing.TB) []byte {
	t.Helper()
	tr, err := root.NewTrustedRoot(root.TrustedRootMediaType01,
		v.FulcioCertificateAuthorities(), rawLogIDs(t, v.CTLogs()), v.TimestampingAuthorities(), rawLogIDs(t, v.RekorLogs()))
	if err != nil {
		t.Fatal(err)
	}
	data, err := tr.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// rawLogIDs fixes VirtualSigstore's log descriptions for serialisation: it
// keeps a log's ID as the hex text of the key hash, where a trusted root
// holds the raw hash.
func rawLogIDs(t testing.TB, logs map[string]*root.TransparencyLog) map[string]*root.TransparencyLog {
	t.Helper()
	out := make(map[string]*root.TransparencyLog, len(logs))
	for id, l := range logs {
		c := *l
		raw, err := hex.DecodeString(id)
		if err != nil {
			t.Fatal(err)
		}
		c.ID = raw
		if c.SignatureHashFunc == 0 {
			c.SignatureHashFunc = crypto.SHA256
		}
		out[id] = &c
	}
	return out
}

// LeafCertificate returns the leaf certificate in a signature block.
func LeafCertificate(t testing.TB, sig *envelope.Signature) *x509.Certificate {
	t.Helper()
	b, err := keyless.ParseSignature(sig)
	if err != nil {
		t.Fatal(err)
	}
	return b.Certificate
}
