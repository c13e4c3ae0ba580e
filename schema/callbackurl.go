package schema

import "net/url"

// MaxCallbackURLLength bounds callbackUrl, in bytes.
const MaxCallbackURLLength = 1024

// ValidateCallbackURL checks a request's callbackUrl (mPaaS §6.9): an
// absolute http or https URL of at most MaxCallbackURLLength bytes, with a
// host and without user information (credentials would be stored with
// every event of the push). It returns a *ValidationError with 3028
// INVALID_PARAM for the first rule broken. Where a callback may go beyond
// this (https only, the app's host allowlist, no private addresses) is
// decided by the callbacks worker, which knows the app's configuration
// and the addresses the host resolves to.
func ValidateCallbackURL(raw string) error {
	shown := raw
	if len(shown) > 100 {
		shown = shown[:100] + "…"
	}
	if n := len(raw); n > MaxCallbackURLLength {
		return invalid(CodeInvalidParam, "callbackUrl has %d bytes, at most %d are allowed", n, MaxCallbackURLLength)
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return invalid(CodeInvalidParam, "callbackUrl %q is not a URL", shown)
	case u.Scheme != "http" && u.Scheme != "https":
		return invalid(CodeInvalidParam, "callbackUrl %q is not an http or https address", shown)
	case u.Opaque != "" || u.Hostname() == "":
		return invalid(CodeInvalidParam, "callbackUrl %q has no host", shown)
	case u.User != nil:
		return invalid(CodeInvalidParam, "callbackUrl carries user information (user:password@host): put no credentials in it; receivers verify the sign parameter instead")
	}
	return nil
}
