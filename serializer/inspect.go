package serializer

// EnvelopeInfo is what an envelope's header says about the value it holds,
// read without decoding the payload; see [InspectEnvelope].
type EnvelopeInfo struct {
	// Meta is the metadata the value was written with.
	Meta Meta
	// Compressed reports whether the payload is an s2 block (before
	// sealing, when Sealed is also true).
	Compressed bool
	// Sealed reports whether the payload is encrypted (see [Keyring]); its
	// key ID, nonce and tag are then counted in PayloadSize.
	Sealed bool
	// Size is the length of the whole envelope, in bytes: what the backend
	// stores.
	Size int
	// PayloadSize is the length of the payload as stored (compressed, when
	// Compressed is true), in bytes.
	PayloadSize int
}

// InspectEnvelope returns what the header of the envelope in data says,
// without decoding its payload or verifying its checksum. It is for
// operations tools (the corral command's inspect); a cache reads values
// with [Codec.Decode]. Errors wrap [ErrDecode]: bytes that are not a corral
// envelope, are truncated within the header, or have an unknown version or
// flags.
func InspectEnvelope(data []byte) (EnvelopeInfo, error) {
	m, flags, payload, err := parseHeader(data)
	if err != nil {
		return EnvelopeInfo{}, err
	}
	return EnvelopeInfo{Meta: m, Compressed: flags&flagS2 != 0, Sealed: flags&flagSealed != 0, Size: len(data), PayloadSize: len(payload)}, nil
}
