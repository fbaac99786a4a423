package sigstorestack

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"testing"

	"github.com/sigstore/rekor-tiles/v2/pkg/note"
)

// The trusted root's log ID must be the one rekor-tiles writes into every
// entry, or sigstore-go silently skips the entry ("not enough verified log
// entries"). Runs without the stack.
func TestEd25519LogIDMatchesRekorTiles(t *testing.T) {
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, origin := range []string{"127.0.0.1", "log2025-1.rekor.sigstore.dev"} {
		keyID, logID, err := note.KeyHash(origin, pub)
		if err != nil {
			t.Fatal(err)
		}
		got := ed25519LogID(origin, pub)
		if !bytes.Equal(got, logID) {
			t.Errorf("%s: log ID %x, rekor-tiles %x", origin, got, logID)
		}
		if binary.BigEndian.Uint32(got[:4]) != keyID {
			t.Errorf("%s: checkpoint key ID %x, rekor-tiles %08x", origin, got[:4], keyID)
		}
	}
}
