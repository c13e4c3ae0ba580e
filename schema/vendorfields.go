package schema

import (
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Vendor keys of thirdChannelCategory and notifyLevel (mPaaS §4.1.4),
// spelled as the guide spells them. Keys are matched without regard to
// case ("HONOR" and "honor" are the same key).
const (
	VendorKeyHMS       = "hms"
	VendorKeyHonor     = "HONOR"
	VendorKeyOPPO      = "oppo"
	VendorKeyVivo      = "vivo"
	VendorKeyHarmonyOS = "harmonyos"
)

// Category enumerations of thirdChannelCategory (mPaaS §4.1.4): the value
// n ("1"...) names the n-th entry. Never modified.
var (
	hmsCategories  = []string{"IM", "VOIP", "SUBSCRIPTION", "TRAVEL", "HEALTH", "WORK", "ACCOUNT", "EXPRESS", "FINANCE", "DEVICE_REMINDER", "SYSTEM_REMINDER", "MAIL", "PLAY_VOICE", "MARKETING"}
	oppoCategories = []string{"IM", "ACCOUNT", "DEVICE_REMINDER", "ORDER", "TODO", "SUBSCRIPTION", "NEWS", "CONTENT", "MARKETING", "SOCIAL"}
	vivoCategories = []string{"IM", "ACCOUNT", "TODO", "DEVICE_REMINDER", "ORDER", "SUBSCRIPTION", "NEWS", "CONTENT", "MARKETING", "SOCIAL"}
	// honorCategories: 1 service and communication, 2 information and
	// marketing; Honor calls them importance NORMAL and LOW.
	honorCategories = []string{"NORMAL", "LOW"}
	// harmonyCategories follow the Huawei enumeration; HarmonyOS has no
	// SYSTEM_REMINDER (11), and PLAY_VOICE (13) is not a notification.
	harmonyCategories = []string{"IM", "VOIP", "SUBSCRIPTION", "TRAVEL", "HEALTH", "WORK", "ACCOUNT", "EXPRESS", "FINANCE", "DEVICE_REMINDER", "", "MAIL", "", "MARKETING"}
)

// categoryKeys are the vendor keys thirdChannelCategory accepts, with the
// enumeration of each.
var categoryKeys = map[string][]string{
	VendorKeyHMS: hmsCategories, strings.ToLower(VendorKeyHonor): honorCategories,
	VendorKeyOPPO: oppoCategories, VendorKeyVivo: vivoCategories, VendorKeyHarmonyOS: harmonyCategories,
}

// VendorValue returns the value m holds for a vendor key, matching the
// key without regard to case.
func VendorValue(m StringMap, key string) string {
	if v, ok := m[key]; ok {
		return v
	}
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return v
		}
	}
	return ""
}

// Category returns the vendor's own name for the thirdChannelCategory
// value v of vendor key key ("9" for hms is FINANCE, "1" for HONOR is
// NORMAL), accepting the number of the mPaaS enumeration or the name
// itself, and whether v is valid for that vendor.
func Category(key, v string) (string, bool) {
	list, ok := categoryKeys[strings.ToLower(key)]
	if !ok {
		return "", false
	}
	v = strings.ToUpper(strings.TrimSpace(v))
	if n, err := strconv.Atoi(v); err == nil {
		if n >= 1 && n <= len(list) && list[n-1] != "" {
			return list[n-1], true
		}
		return "", false
	}
	return v, v != "" && slices.Contains(list, v)
}

// NotifyLevelOf returns the vendor's value for the notifyLevel value v of
// vendor key key: hms "1" LOW, "2" NORMAL; oppo "1" notification bar, "2"
// bar and lock screen, "16" (the guide's request table also says "3") bar,
// lock screen, banner, vibration and ringtone. ok is false when v is not
// one of them.
func NotifyLevelOf(key, v string) (string, bool) {
	v = strings.ToUpper(strings.TrimSpace(v))
	switch strings.ToLower(key) {
	case VendorKeyHMS:
		switch v {
		case "1", "LOW":
			return "LOW", true
		case "2", "NORMAL":
			return "NORMAL", true
		}
	case VendorKeyOPPO:
		switch v {
		case "1", "2", "16":
			return v, true
		case "3":
			return "16", true
		}
	}
	return "", false
}

// Image keys of imageUrls and iconUrls (mPaaS §7.2.3): defaultUrl applies
// to every channel that can show the picture; a vendor key overrides it
// for that vendor.
const (
	URLKeyDefault = "defaultUrl"
	URLKeyMIUI    = "miuiUrl"
	URLKeyFCM     = "fcmUrl"
	URLKeyIOS     = "iosUrl"
	URLKeyHMS     = "hmsUrl"
	URLKeyOPPO    = "oppoUrl"
)

// imageKeys and iconKeys map each key accepted in imageUrls and iconUrls
// to "" (accepted) or the reason it is refused.
var (
	imageKeys = map[string]string{
		URLKeyDefault: "", URLKeyMIUI: "", URLKeyFCM: "", URLKeyIOS: "",
		URLKeyOPPO: "OPPO shows only pictures uploaded to its media service first, which pushpipe does not do",
		URLKeyHMS:  "Huawei has no big-picture style; its picture is the large icon, iconUrls.hmsUrl",
	}
	iconKeys = map[string]string{
		URLKeyDefault: "", URLKeyHMS: "", URLKeyMIUI: "",
		URLKeyOPPO: "OPPO shows only icons uploaded to its media service first, which pushpipe does not do",
		URLKeyFCM:  "FCM's icon is a drawable of the app, not a URL",
		URLKeyIOS:  "iOS shows the app icon; a picture goes in imageUrls.iosUrl",
	}
)

// MaxNotifyID is the largest notifyId: OPPO's notify ids are at most
// 2^31-1, as are Huawei's and MiPush's.
const MaxNotifyID = 1<<31 - 1

// MaxURLLength bounds uri, imageUrls and iconUrls values.
const MaxURLLength = 1024

// Extended parameter keys with a meaning of their own (mPaaS §7.2.11).
const (
	ExtSound          = "sound"
	ExtBadge          = "badge"
	ExtMutableContent = "mutable-content"
	ExtBadgeAddNum    = "badge_add_num"
	ExtBadgeClass     = "badge_class"
	ExtBigText        = "big_text"
)

// Push actions (pushAction): what a click on the notification opens.
const (
	PushActionWeb    = 0 // uri is a web address (http or https)
	PushActionIntent = 1 // uri is an in-app Intent / Activity
)

// validateVendorFields checks the fields that reach the vendors: the
// vendor classification and level maps, the channel type, pictures,
// click action and the extended parameters that have a meaning.
func (r *Request) validateVendorFields() error {
	switch r.Classification {
	case "", "0", "1":
	default:
		return invalid(CodeInvalidParam, "classification %q is not 0 (operation message) or 1 (system message)", r.Classification)
	}
	for _, k := range r.ThirdChannelCategory.SortedKeys() {
		if _, known := categoryKeys[strings.ToLower(k)]; !known {
			return invalid(CodeInvalidParam, "thirdChannelCategory key %q is not one of hms, HONOR, harmonyos, oppo, vivo", k)
		}
		if _, ok := Category(k, r.ThirdChannelCategory[k]); !ok {
			return invalid(CodeInvalidParam, "thirdChannelCategory.%s %q is not a category of that vendor (1..%d: %s)", k, r.ThirdChannelCategory[k], len(categoryKeys[strings.ToLower(k)]), strings.Join(categoryKeys[strings.ToLower(k)], ", "))
		}
	}
	for _, k := range r.NotifyLevel.SortedKeys() {
		switch strings.ToLower(k) {
		case VendorKeyHMS, VendorKeyOPPO:
		default:
			return invalid(CodeInvalidParam, "notifyLevel key %q is not one of hms, oppo", k)
		}
		if _, ok := NotifyLevelOf(k, r.NotifyLevel[k]); !ok {
			return invalid(CodeInvalidParam, "notifyLevel.%s %q is not valid (hms: 1 LOW, 2 NORMAL; oppo: 1, 2 or 16)", k, r.NotifyLevel[k])
		}
	}
	if VendorValue(r.NotifyLevel, VendorKeyOPPO) != "" && VendorValue(r.ThirdChannelCategory, VendorKeyOPPO) == "" {
		return invalid(CodeInvalidParam, "notifyLevel.oppo needs thirdChannelCategory.oppo: OPPO refuses a notify level without a category")
	}
	switch r.NotifyType {
	case "", "notify", "transparent":
	default:
		return invalid(CodeInvalidParam, "notifyType %q is not transparent (self-built channel) or notify (default channel)", r.NotifyType)
	}
	if r.Silent != 0 && r.Silent != 1 {
		return invalid(CodeInvalidParam, "silent %d is not 0 (notification) or 1 (silent, pass-through)", r.Silent)
	}
	if err := ValidateClick(r.PushAction, r.URI); err != nil {
		return err
	}
	if err := validateURLs("imageUrls", r.ImageURLs, imageKeys); err != nil {
		return err
	}
	if err := validateURLs("iconUrls", r.IconURLs, iconKeys); err != nil {
		return err
	}
	switch {
	case r.PushStyle == 2 && len(r.ImageURLs) == 0:
		return invalid(CodeInvalidParam, "pushStyle 2 (image-text) needs imageUrls")
	case r.PushStyle != 2 && len(r.ImageURLs) > 0:
		return invalid(CodeInvalidParam, "imageUrls are the pictures of pushStyle 2 (image-text); pushStyle is %d", r.PushStyle)
	}
	if r.NotifyID != nil && (*r.NotifyID < 0 || *r.NotifyID > MaxNotifyID) {
		return invalid(CodeInvalidParam, "notifyId %d is not in 0..%d", *r.NotifyID, MaxNotifyID)
	}
	if r.RemindType != nil && (*r.RemindType < -1 || *r.RemindType > 7) {
		return invalid(CodeInvalidParam, "remindType %d is not -1 (every way) or a sum of 1 sound, 2 vibration, 4 lights", *r.RemindType)
	}
	if n := utf8.RuneCountInString(r.ChannelID); n > 64 {
		return invalid(CodeInvalidParam, "channelId has %d characters, at most 64 are allowed", n)
	}
	if n := utf8.RuneCountInString(r.MiChannelID); n > 64 {
		return invalid(CodeInvalidParam, "miChannelId has %d characters, at most 64 are allowed", n)
	}
	return nil
}

// ValidateClick checks a click action: pushAction 0 (the default) opens
// uri as a web page and needs an http or https address; 1 opens an in-app
// Intent or Activity, which is not a web address. An empty uri opens the
// app whatever pushAction says.
func ValidateClick(pushAction int, uri string) error {
	if pushAction != PushActionWeb && pushAction != PushActionIntent {
		return invalid(CodeInvalidParam, "pushAction %d is not 0 (web URL) or 1 (Intent / Activity)", pushAction)
	}
	if uri == "" {
		return nil
	}
	if n := len(uri); n > MaxURLLength {
		return invalid(CodeInvalidParam, "uri has %d bytes, at most %d are allowed", n, MaxURLLength)
	}
	web := isWebURL(uri)
	switch {
	case pushAction == PushActionWeb && !web:
		return invalid(CodeInvalidParam, "uri %q is not an http(s) address, but pushAction 0 opens a web page; use pushAction 1 for an Intent", uri)
	case pushAction == PushActionIntent && web:
		return invalid(CodeInvalidParam, "uri %q is a web address, but pushAction 1 opens an Intent; use pushAction 0 for a web page", uri)
	}
	return nil
}

func isWebURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// validateURLs checks an imageUrls or iconUrls map: known keys, https
// addresses.
func validateURLs(field string, m StringMap, keys map[string]string) error {
	for _, k := range m.SortedKeys() {
		why, known := keys[k]
		if !known {
			accepted := []string{}
			for key, refused := range keys {
				if refused == "" {
					accepted = append(accepted, key)
				}
			}
			slices.Sort(accepted)
			return invalid(CodeInvalidParam, "%s key %q is not one of %s", field, k, strings.Join(accepted, ", "))
		}
		if why != "" {
			return invalid(CodeInvalidParam, "%s.%s is not supported: %s", field, k, why)
		}
		v := m[k]
		u, err := url.Parse(v)
		if err != nil || u.Scheme != "https" || u.Host == "" || len(v) > MaxURLLength {
			return invalid(CodeInvalidParam, "%s.%s %q is not an https address of at most %d bytes", field, k, v, MaxURLLength)
		}
	}
	return nil
}

// PictureURL returns the URL of m for a vendor key, else its defaultUrl.
func PictureURL(m StringMap, vendorKey string) string {
	if v := m[vendorKey]; v != "" {
		return v
	}
	return m[URLKeyDefault]
}

// validateSpecialExtended checks the extended parameters that have a
// meaning (mPaaS §7.2.11): badge and badge_add_num numbers (3058),
// badge_add_num with badge_class (3059), big_text and mutable-content
// "1", a non-empty sound (3044).
func validateSpecialExtended(m StringMap) error {
	if v, ok := m[ExtBadge]; ok {
		if n, err := strconv.Atoi(strings.TrimSpace(v)); err != nil || n < 0 || n > 99999 {
			return invalid(CodeBadgeAddNumInvalid, "extendedParams badge %q is not a number 0..99999", v)
		}
	}
	if v, ok := m[ExtBadgeAddNum]; ok {
		if n, err := strconv.Atoi(strings.TrimSpace(v)); err != nil || n < 1 || n > 99 {
			return invalid(CodeBadgeAddNumInvalid, "extendedParams badge_add_num %q is not a number 1..99", v)
		}
		if strings.TrimSpace(m[ExtBadgeClass]) == "" {
			return invalid(CodeBadgeAddNumNeedClass, "extendedParams badge_add_num needs badge_class, the app's entry Activity class")
		}
	}
	if v, ok := m[ExtBadgeClass]; ok && strings.TrimSpace(v) == "" {
		return invalid(CodeInvalidExtendParam, "extendedParams badge_class is empty")
	}
	if v, ok := m[ExtBigText]; ok && v != "1" {
		return invalid(CodeInvalidExtendParam, "extendedParams big_text %q: the only value is 1", v)
	}
	if v, ok := m[ExtMutableContent]; ok && v != "1" {
		return invalid(CodeInvalidExtendParam, "extendedParams mutable-content %q: the only value is 1", v)
	}
	if v, ok := m[ExtSound]; ok && strings.TrimSpace(v) == "" {
		return invalid(CodeInvalidExtendParam, "extendedParams sound is empty")
	}
	return nil
}
