package vendorsim

// VendorVivo is the vendor name of vivo Push (auth token).
const VendorVivo = "vivo"

// VivoConfig configures the simulated vivo Push (auth token). The endpoints are
// not served yet; an app listed here only reserves its name.
type VivoConfig struct {
	Apps []VivoApp `json:"apps" yaml:"apps"`
}

// VivoApp is one simulated app of the vendor.
type VivoApp struct {
	AppID string `json:"appId" yaml:"appId"`
}

func (c VivoConfig) withDefaults() VivoConfig { return c }

func (c VivoConfig) validate() []error { return nil }

func (c VivoConfig) appCount() int { return len(c.Apps) }

// newVivoSim returns the simulated vendor, or nil while it is not served.
func newVivoSim(s *Simulator) simVendor { return nil }
