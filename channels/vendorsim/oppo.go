package vendorsim

// VendorOPPO is the vendor name of OPPO Push (auth token).
const VendorOPPO = "oppo"

// OPPOConfig configures the simulated OPPO Push (auth token). The endpoints are
// not served yet; an app listed here only reserves its name.
type OPPOConfig struct {
	Apps []OPPOApp `json:"apps" yaml:"apps"`
}

// OPPOApp is one simulated app of the vendor.
type OPPOApp struct {
	AppID string `json:"appId" yaml:"appId"`
}

func (c OPPOConfig) withDefaults() OPPOConfig { return c }

func (c OPPOConfig) validate() []error { return nil }

func (c OPPOConfig) appCount() int { return len(c.Apps) }

// newOPPOSim returns the simulated vendor, or nil while it is not served.
func newOPPOSim(s *Simulator) simVendor { return nil }
