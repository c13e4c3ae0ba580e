package vendorsim

import "net/http"

// Vendor names used in records, stats, failure and latency rules and
// quotas. The vendor's simulation lives in the subpackage of the same
// name (channels/vendorsim/mipush, ...; VendorSelf in
// channels/vendorsim/selfchannel); its configuration in Config.
const (
	VendorMiPush    = "mipush"
	VendorAPNs      = "apns"
	VendorFCM       = "fcm"
	VendorHMS       = "hms"
	VendorHonor     = "honor"
	VendorHarmonyOS = "harmonyos"
	VendorOPPO      = "oppo"
	VendorVivo      = "vivo"
	VendorSelf      = "self"
	VendorSMS       = "sms"
)

// Vendor is one simulated vendor API, made by its package's New for the
// Simulator it serves in. Beside it, a Vendor may implement Resetter,
// CredentialExpirer and Recaller.
type Vendor interface {
	// Name is the vendor name (VendorMiPush, ...); the simulator serves
	// the vendor only when its Config section has an app.
	Name() string
	// Register adds the vendor's endpoints to mux, each under
	// /<vendor>/{region}/... so that one simulator serves every region.
	Register(mux *http.ServeMux)
}

// NewVendor makes a vendor's simulation for s; it reads its configuration
// from s.Config(), which has passed Validate.
type NewVendor func(s *Simulator) Vendor

// Resetter is a simulated vendor with state of its own that
// Simulator.Reset clears (the SMS flow-control windows).
type Resetter interface{ Reset() }

// CredentialExpirer is a simulated vendor that can make the credentials
// it issued or saw expire (ExpireFCMAccessTokens and the like).
type CredentialExpirer interface{ ExpireCredentials() }

// Recaller is a simulated vendor with a recall API: RecallPath is the
// path suffix of its recall endpoint (for RecallRequests).
type Recaller interface{ RecallPath() string }

// configuredVendors makes the vendors that have at least one app.
func (s *Simulator) configuredVendors(makers []NewVendor) []Vendor {
	var out []Vendor
	for _, mk := range makers {
		if v := mk(s); v != nil && len(s.cfg.appIDs(v.Name())) > 0 {
			out = append(out, v)
		}
	}
	return out
}

// vendorConfig is the part of Config one vendor reads.
type vendorConfig interface {
	appIDs() []string
	validate() []error
}

// vendorConfigs returns each vendor's section of c by vendor name.
func (c Config) vendorConfigs() map[string]vendorConfig {
	return map[string]vendorConfig{
		VendorMiPush: c.MiPush, VendorAPNs: c.APNs, VendorFCM: c.FCM, VendorHMS: c.HMS, VendorHonor: c.Honor,
		VendorHarmonyOS: c.HarmonyOS, VendorOPPO: c.OPPO, VendorVivo: c.Vivo, VendorSelf: c.Self, VendorSMS: c.SMS,
	}
}

// appIDs lists the app ids configured for vendor.
func (c Config) appIDs(vendor string) []string {
	if v := c.vendorConfigs()[vendor]; v != nil {
		return v.appIDs()
	}
	return nil
}

// hasApps reports whether any vendor has an app configured.
func (c Config) hasApps() bool {
	for _, v := range c.vendorConfigs() {
		if len(v.appIDs()) > 0 {
			return true
		}
	}
	return false
}

// withVendorDefaults applies each vendor's defaults and the receipt
// poster's.
func (c Config) withVendorDefaults() Config {
	c.MiPush, c.APNs, c.FCM, c.HMS = c.MiPush.withDefaults(), c.APNs.withDefaults(), c.FCM.withDefaults(), c.HMS.withDefaults()
	c.Honor, c.OPPO, c.Vivo, c.Self = c.Honor.withDefaults(), c.OPPO.withDefaults(), c.Vivo.withDefaults(), c.Self.withDefaults()
	c.HarmonyOS = c.HarmonyOS.withDefaults()
	c.SMS = c.SMS.withDefaults()
	c.Receipts = c.Receipts.withDefaults()
	return c
}

// vendorErrors collects each vendor's configuration problems (in a fixed
// order) and the receipt poster's.
func (c Config) vendorErrors() []error {
	var errs []error
	for _, v := range []vendorConfig{c.MiPush, c.APNs, c.FCM, c.HMS, c.Honor, c.HarmonyOS, c.OPPO, c.Vivo, c.Self, c.SMS} {
		errs = append(errs, v.validate()...)
	}
	return append(errs, c.Receipts.validate()...)
}

// expireCredentials makes the credentials vendor issued or saw expire.
func (s *Simulator) expireCredentials(vendor string) {
	for _, v := range s.vendors {
		if e, ok := v.(CredentialExpirer); ok && v.Name() == vendor {
			e.ExpireCredentials()
		}
	}
}

// ExpireFCMAccessTokens makes every FCM access token issued so far invalid,
// as if it had expired: sends with one are answered 401 UNAUTHENTICATED.
func (s *Simulator) ExpireFCMAccessTokens() { s.expireCredentials(VendorFCM) }

// ExpireHMSAccessTokens makes every Huawei access token issued so far
// expired: sends with one are answered 80200003 (OAuth token expired).
func (s *Simulator) ExpireHMSAccessTokens() { s.expireCredentials(VendorHMS) }

// ExpireHarmonyOSJWTs makes every HarmonyOS JWT presented so far expired:
// calls with one are answered 80200005 (JWT expired); a newly signed JWT is
// accepted.
func (s *Simulator) ExpireHarmonyOSJWTs() { s.expireCredentials(VendorHarmonyOS) }

// Server URLs of each vendor's API on this simulator.

// MiPushBaseURL returns the MiPush base URL of region (the client appends
// "/v3/message/regid").
func (s *Server) MiPushBaseURL(region string) string { return s.URL() + "/mipush/" + region }

// APNsBaseURL returns the APNs base URL of region on this simulator's TLS
// listener (the client appends "/3/device/<token>").
func (s *Server) APNsBaseURL(region string) string { return s.TLSURL() + "/apns/" + region }

// FCMBaseURL returns the FCM base URL of region on this simulator's TLS
// listener, HTTP/2 as Google serves it (the client appends
// "/v1/projects/{project_id}/messages:send").
func (s *Server) FCMBaseURL(region string) string { return s.TLSURL() + "/fcm/" + region }

// FCMTokenURL returns the OAuth 2.0 token endpoint (token_uri) of region,
// on the TLS listener like FCMBaseURL; an assertion's audience must be
// this URL (or Google's token URI).
func (s *Server) FCMTokenURL(region string) string { return s.FCMBaseURL(region) + "/token" }

// HMSBaseURL returns the Push Kit base URL of region (the client appends
// "/v1/{appId}/messages:send").
func (s *Server) HMSBaseURL(region string) string { return s.URL() + "/hms/" + region }

// HMSAuthURL returns the Huawei OAuth base URL of region (the client
// appends "/oauth2/v3/token").
func (s *Server) HMSAuthURL(region string) string { return s.HMSBaseURL(region) }

// HonorBaseURL returns the Honor base URL of region: the push client
// appends "/api/v1/{appId}/sendMessage", the token endpoint is
// HonorBaseURL + "/auth/token".
func (s *Server) HonorBaseURL(region string) string { return s.URL() + "/honor/" + region }

// HarmonyOSBaseURL returns the HarmonyOS Push Kit base URL of region (the
// client appends "/v3/{projectId}/messages:send").
func (s *Server) HarmonyOSBaseURL(region string) string { return s.URL() + "/harmonyos/" + region }

// OPPOBaseURL returns the OPPO base URL of region (the client appends
// "/server/v1/...").
func (s *Server) OPPOBaseURL(region string) string { return s.URL() + "/oppo/" + region }

// VivoBaseURL returns the vivo base URL of region (the client appends
// "/message/...").
func (s *Server) VivoBaseURL(region string) string { return s.URL() + "/vivo/" + region }

// SelfBaseURL returns the self-built gateway's base URL of region (the
// client appends "/v1/push").
func (s *Server) SelfBaseURL(region string) string { return s.URL() + "/self/" + region }

// SMSBaseURL returns the Alibaba Cloud SMS endpoint of region (the client
// posts to it with a trailing "/").
func (s *Server) SMSBaseURL(region string) string { return s.URL() + "/sms/" + region }
