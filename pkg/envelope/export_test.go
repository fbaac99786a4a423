package envelope

// CanonicalBodyByPlan is what CanonicalBody returns, written by the
// plan-driven appendStruct rather than by the generated code, so that
// FuzzDecode can compare the two.
func CanonicalBodyByPlan(e *Envelope) []byte {
	return appendStruct(nil, e, envelopePlan, true, "signature")
}

// ParseWithoutGeneratedCode is Parse with the code of codec_gen.go left
// out, as if it were missing or stale, so that tests can compare the two.
// It is not safe to call concurrently with anything that decodes.
func ParseWithoutGeneratedCode(data []byte) (*Envelope, error) {
	useGenerated = false
	defer func() { useGenerated = true }()
	return Parse(data)
}
