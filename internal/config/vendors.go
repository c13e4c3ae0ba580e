package config

import (
	"fmt"
	"time"
)

// VendorEndpoint is where one vendor's API is, per region. Empty maps
// mean the vendor's own production hosts (each channel package knows
// them); AuthURLs is for vendors whose token endpoint is a separate host
// (FCM's token_uri, Huawei and Honor OAuth).
type VendorEndpoint struct {
	BaseURLs map[string]string `yaml:"baseUrls"`
	AuthURLs map[string]string `yaml:"authUrls"`
	Timeout  time.Duration     `yaml:"timeout"`
}

// Vendor names, as deliveries, events and metrics spell them.
const (
	VendorMiPush = "mipush"
	VendorAPNs   = "apns"
	VendorFCM    = "fcm"
	VendorHMS    = "hms"
	VendorHonor  = "honor"
	VendorOPPO   = "oppo"
	VendorVivo   = "vivo"
	VendorSelf   = "self"
)

// VendorNames lists every vendor channel.
func VendorNames() []string {
	return []string{VendorMiPush, VendorAPNs, VendorFCM, VendorHMS, VendorHonor, VendorOPPO, VendorVivo, VendorSelf}
}

// endpoint returns the configured endpoint of a vendor other than MiPush.
func (v *VendorsConfig) endpoint(vendor string) VendorEndpoint {
	switch vendor {
	case VendorAPNs:
		return v.APNs
	case VendorFCM:
		return v.FCM
	case VendorHMS:
		return v.HMS
	case VendorHonor:
		return v.Honor
	case VendorOPPO:
		return v.OPPO
	case VendorVivo:
		return v.Vivo
	case VendorSelf:
		return v.Self
	}
	return VendorEndpoint{}
}

// VendorBaseURL is the base URL of a vendor's API in a region: the
// simulator's per-region prefix when Vendors.Simulator is set (APNs on
// the simulator's TLS address), else the configured URL, else "" (the
// channel's production default).
func (c *Config) VendorBaseURL(vendor, region string) string {
	if c.Vendors.Simulator {
		if vendor == VendorAPNs {
			return "https://" + c.Vendors.SimulatorTLSAddr + "/apns/" + region
		}
		return "http://" + c.Vendors.SimulatorAddr + "/" + vendor + "/" + region
	}
	if vendor == VendorMiPush {
		return c.Vendors.MiPush.BaseURLs[region]
	}
	return c.Vendors.endpoint(vendor).BaseURLs[region]
}

// VendorAuthURL is the token endpoint of a vendor in a region, or "" for
// the vendor's default. On the simulator: FCM's token URI is
// <base>/token, Honor's token URL <base>/auth/token; Huawei serves OAuth
// under its base URL.
func (c *Config) VendorAuthURL(vendor, region string) string {
	if c.Vendors.Simulator {
		base := c.VendorBaseURL(vendor, region)
		switch vendor {
		case VendorFCM:
			return base + "/token"
		case VendorHonor:
			return base + "/auth/token"
		}
		return base
	}
	return c.Vendors.endpoint(vendor).AuthURLs[region]
}

// VendorTimeout is the HTTP timeout of a vendor (0: the channel default).
func (c *Config) VendorTimeout(vendor string) time.Duration {
	if vendor == VendorMiPush {
		return c.Vendors.MiPush.Timeout
	}
	return c.Vendors.endpoint(vendor).Timeout
}

// validateVendorApps checks that each app's vendor sections are complete.
func (a AppConfig) validateVendorApps(i int) error {
	bad := func(vendor, what string) error {
		return fmt.Errorf("apps[%d] (%s).%s needs %s", i, a.AppID, vendor, what)
	}
	if a.APNs != nil && (a.APNs.TeamID == "" || a.APNs.KeyID == "" || a.APNs.PrivateKey.Reveal() == "" || a.APNs.BundleID == "") {
		return bad("apns", "teamId, keyId, privateKey and bundleId")
	}
	if a.FCM != nil && (a.FCM.ProjectID == "" || a.FCM.ClientEmail == "" || a.FCM.PrivateKey.Reveal() == "") {
		return bad("fcm", "projectId, clientEmail and privateKey")
	}
	if a.HMS != nil && (a.HMS.AppID == "" || a.HMS.AppSecret.Reveal() == "") {
		return bad("hms", "appId and appSecret")
	}
	if a.Honor != nil && (a.Honor.AppID == "" || a.Honor.ClientID == "" || a.Honor.ClientSecret.Reveal() == "") {
		return bad("honor", "appId, clientId and clientSecret")
	}
	if a.OPPO != nil && (a.OPPO.AppKey == "" || a.OPPO.MasterSecret.Reveal() == "") {
		return bad("oppo", "appKey and masterSecret")
	}
	if a.Vivo != nil && (a.Vivo.AppID == "" || a.Vivo.AppKey == "" || a.Vivo.AppSecret.Reveal() == "") {
		return bad("vivo", "appId, appKey and appSecret")
	}
	if a.Self != nil && a.Self.AppKey.Reveal() == "" {
		return bad("self", "appKey")
	}
	return nil
}
