package vendorsim

// VendorFCM is the vendor name of FCM HTTP v1 (OAuth2 service-account JWT grant).
const VendorFCM = "fcm"

// FCMConfig configures the simulated FCM HTTP v1 (OAuth2 service-account JWT grant). The endpoints are
// not served yet; an app listed here only reserves its name.
type FCMConfig struct {
	Apps []FCMApp `json:"apps" yaml:"apps"`
}

// FCMApp is one simulated app of the vendor.
type FCMApp struct {
	AppID string `json:"appId" yaml:"appId"`
}

func (c FCMConfig) withDefaults() FCMConfig { return c }

func (c FCMConfig) validate() []error { return nil }

func (c FCMConfig) appCount() int { return len(c.Apps) }

// newFCMSim returns the simulated vendor, or nil while it is not served.
func newFCMSim(s *Simulator) simVendor { return nil }
