package schema

import "time"

// Device is what the registry knows about a device of an app: the
// registry builds it from binding records, store.Devices keeps it as one
// row of the devices table, and fanout turns it into deliveries. Vendor names the vendor channel (a name of
// channels/registry) whose token VendorToken is; SelfToken is the self-built
// channel token. TokenValid turns false when a vendor reports the token dead.
type Device struct {
	AppID       string
	DeviceID    string
	WorkspaceID string
	Platform    string
	Vendor      string
	VendorToken string
	SelfToken   string
	TokenValid  bool
	AppVersion  string
	Model       string
	UserID      string
	BoundAt     time.Time
	UnboundAt   time.Time
	UpdatedAt   time.Time
	Alias       string
	AliasAt     time.Time
	UserAccount string
	AccountAt   time.Time
}

// MaxAccountDevices is how many of a user account's most recent devices an
// account target reaches (store.Devices.ByAccount returns no more).
const MaxAccountDevices = 10

// AudienceEmptyDesc starts the status_desc of the accepted event of a
// broadcast whose audience was empty when fanout streamed it: no device
// passed its platform, pushStatus, bind-period, tags, appVersions and
// models filters, so it planned nothing. The rest of the description
// names the filters. (Accepted events are otherwise "SUCCESS".)
const AudienceEmptyDesc = "SUCCESS: audience empty"
