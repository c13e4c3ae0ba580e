package vendorsim

// VendorAPNs is the vendor name of APNs (HTTP/2 over TLS, ES256 provider tokens).
const VendorAPNs = "apns"

// APNsConfig configures the simulated APNs (HTTP/2 over TLS, ES256 provider tokens). The endpoints are
// not served yet; an app listed here only reserves its name.
type APNsConfig struct {
	Apps []APNsApp `json:"apps" yaml:"apps"`
}

// APNsApp is one simulated app of the vendor.
type APNsApp struct {
	AppID string `json:"appId" yaml:"appId"`
}

func (c APNsConfig) withDefaults() APNsConfig { return c }

func (c APNsConfig) validate() []error { return nil }

func (c APNsConfig) appCount() int { return len(c.Apps) }

// newAPNsSim returns the simulated vendor, or nil while it is not served.
func newAPNsSim(s *Simulator) simVendor { return nil }
