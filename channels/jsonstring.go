package channels

import "encoding/json"

// AppendJSONString appends s to dst as a JSON string, byte for byte as
// encoding/json.Marshal encodes it (HTML characters escaped, invalid UTF-8
// replaced). Plain ASCII is copied without an allocation; safe for
// concurrent use.
func AppendJSONString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			b, _ := json.Marshal(s) // a string always encodes
			return append(dst, b...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}
