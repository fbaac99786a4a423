package envelope

import "github.com/google/uuid"

// NewRunID mints a run_id: a UUIDv7, which sorts by creation time.
func NewRunID() (string, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return "", err
	}
	return id.String(), nil
}
