package vendorsim

// VendorSelf is the vendor name of the self-built connection gateway.
const VendorSelf = "self"

// SelfConfig configures the simulated the self-built connection gateway. The endpoints are
// not served yet; an app listed here only reserves its name.
type SelfConfig struct {
	Apps []SelfApp `json:"apps" yaml:"apps"`
}

// SelfApp is one simulated app of the vendor.
type SelfApp struct {
	AppID string `json:"appId" yaml:"appId"`
}

func (c SelfConfig) withDefaults() SelfConfig { return c }

func (c SelfConfig) validate() []error { return nil }

func (c SelfConfig) appCount() int { return len(c.Apps) }

// newSelfSim returns the simulated vendor, or nil while it is not served.
func newSelfSim(s *Simulator) simVendor { return nil }
