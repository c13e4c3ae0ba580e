package channels

import "github.com/pushpipe/pushpipe/schema"

// AppendJSONString appends s to dst as a JSON string, byte for byte as
// encoding/json.Marshal encodes it (HTML characters escaped, invalid UTF-8
// replaced). Plain ASCII is copied without an allocation; safe for
// concurrent use.
func AppendJSONString(dst []byte, s string) []byte { return schema.AppendJSONString(dst, s) }
