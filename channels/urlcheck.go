package channels

import (
	"fmt"
	"net/url"
)

// CheckHTTPURL reports whether raw is an absolute http or https URL with a
// host, as the base and endpoint URLs of channel configurations must be.
// The error is url.Parse's, or says what is missing; it does not repeat
// the name of the setting, which the caller adds.
func CheckHTTPURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%q is not an http(s) URL", raw)
	}
	if u.Host == "" {
		return fmt.Errorf("%q has no host", raw)
	}
	return nil
}
