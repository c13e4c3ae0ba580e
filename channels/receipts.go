package channels

import "net/url"

// ReceiptSigner tags receipt correlation values. MiPush, OPPO and vivo
// echo the callback parameter of a call in their receipts unsigned; the
// receipts worker takes a receipt only when the parameter carries the tag
// of the app and vendor, which only the holder of the server's id secret
// can compute (schema.IDKey implements it). Implementations are safe for
// concurrent use.
type ReceiptSigner interface {
	// ReceiptParam returns the callback parameter carrying value (a
	// delivery id, or the msg id of a call for many tokens) for a call of
	// app appID to vendor: value, ".", and a tag (longer than value by
	// schema.ReceiptTagOverhead, 17 bytes).
	ReceiptParam(vendor, appID, value string) string
}

// ReceiptParam is the callback parameter a channel of vendor sends for a
// call of app appID correlated by value: s.ReceiptParam, or value itself
// when s is nil (a channel built without a signer, whose receipts an
// authenticating receipts worker refuses). An empty value stays empty.
func ReceiptParam(s ReceiptSigner, vendor, appID, value string) string {
	if s == nil || value == "" {
		return value
	}
	return s.ReceiptParam(vendor, appID, value)
}

// AppReceiptURL is the receipt address base with the app's id added to
// its query (?app=<appID>), which the receipts worker reads to know whose
// receipts a request carries. An empty base stays empty; a base that is
// not a URL (Config.Validate refuses one) is returned as it is.
func AppReceiptURL(base, appID string) string {
	if base == "" {
		return ""
	}
	u, err := url.Parse(base)
	if err != nil {
		return base
	}
	q := u.Query()
	q.Set("app", appID)
	u.RawQuery = q.Encode()
	return u.String()
}
