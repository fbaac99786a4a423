package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/inferencebench/bench/pkg/envelope"
	"github.com/inferencebench/bench/services/runner"
)

// loadEnvelope reads an envelope from a file, or from standard input for
// "-". Every error it returns means exit status 2 and names the problem.
func loadEnvelope(path string) (*envelope.Envelope, error) {
	var (
		env *envelope.Envelope
		err error
	)
	if path == "-" {
		env, err = envelope.Read(os.Stdin)
	} else {
		env, err = envelope.ReadFile(path)
	}
	switch {
	case err == nil:
		return env, nil
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("envelope not found: %s", path)
	case errors.Is(err, envelope.ErrInvalid):
		return nil, fmt.Errorf("%s is not a valid envelope: %w", path, err)
	default:
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
}

// writeFileAtomic replaces path with data so that readers see the old file
// or the new one, never a mix: a crash mid-write leaves the original intact.
var writeFileAtomic = runner.WriteFileAtomic
