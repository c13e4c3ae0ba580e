package vendorsim

// VendorHonor is the vendor name of Honor Push (OAuth client credentials).
const VendorHonor = "honor"

// HonorConfig configures the simulated Honor Push (OAuth client credentials). The endpoints are
// not served yet; an app listed here only reserves its name.
type HonorConfig struct {
	Apps []HonorApp `json:"apps" yaml:"apps"`
}

// HonorApp is one simulated app of the vendor.
type HonorApp struct {
	AppID string `json:"appId" yaml:"appId"`
}

func (c HonorConfig) withDefaults() HonorConfig { return c }

func (c HonorConfig) validate() []error { return nil }

func (c HonorConfig) appCount() int { return len(c.Apps) }

// newHonorSim returns the simulated vendor, or nil while it is not served.
func newHonorSim(s *Simulator) simVendor { return nil }
