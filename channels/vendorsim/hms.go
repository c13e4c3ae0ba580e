package vendorsim

// VendorHMS is the vendor name of Huawei Push Kit (OAuth client credentials).
const VendorHMS = "hms"

// HMSConfig configures the simulated Huawei Push Kit (OAuth client credentials). The endpoints are
// not served yet; an app listed here only reserves its name.
type HMSConfig struct {
	Apps []HMSApp `json:"apps" yaml:"apps"`
}

// HMSApp is one simulated app of the vendor.
type HMSApp struct {
	AppID string `json:"appId" yaml:"appId"`
}

func (c HMSConfig) withDefaults() HMSConfig { return c }

func (c HMSConfig) validate() []error { return nil }

func (c HMSConfig) appCount() int { return len(c.Apps) }

// newHMSSim returns the simulated vendor, or nil while it is not served.
func newHMSSim(s *Simulator) simVendor { return nil }
