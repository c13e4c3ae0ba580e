package channels

// Secret is a credential (AppSecret, API key, private key...) loaded from
// configuration. Every way of printing or marshalling it shows Redacted
// instead of the value, so configs can be logged whole; Reveal returns the
// value for the one place that sends it to the vendor. Unmarshalling (JSON,
// YAML, flags) works as for a plain string.
type Secret string

// Redacted is what a non-empty Secret prints as.
const Redacted = "[redacted]"

// Reveal returns the secret value.
func (s Secret) Reveal() string { return string(s) }

// String returns Redacted, or "" for an empty secret so that a missing
// secret is visible in logs.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return Redacted
}

// GoString keeps %#v from printing the value.
func (s Secret) GoString() string { return `channels.Secret("` + s.String() + `")` }

// MarshalText keeps encoders (JSON, YAML, zerolog) from printing the value.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText sets the secret from its plain value.
func (s *Secret) UnmarshalText(b []byte) error {
	*s = Secret(b)
	return nil
}
