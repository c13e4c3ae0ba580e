package acsign

import "testing"

// TestDocumentedExample reproduces the signature example of Alibaba
// Cloud's RPC signature documentation.
func TestDocumentedExample(t *testing.T) {
	params := map[string]string{"Action": "DescribeRegions", "Format": "XML", "Version": "2014-05-26",
		"AccessKeyId": "testid", "SignatureMethod": "HMAC-SHA1", "SignatureNonce": "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf",
		"SignatureVersion": "1.0", "Timestamp": "2016-02-23T12:46:24Z"}
	want := "GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26Format%3DXML%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf%26SignatureVersion%3D1.0%26Timestamp%3D2016-02-23T12%253A46%253A24Z%26Version%3D2014-05-26"
	if got := StringToSign("GET", "/", params); got != want {
		t.Fatalf("StringToSign =\n%s\nwant\n%s", got, want)
	}
	if got := SignString(want, "testsecret"); got != "OLeaidS1JvxuMvnyHOwuJ+uX5qY=" {
		t.Fatalf("SignString = %s, want OLeaidS1JvxuMvnyHOwuJ+uX5qY=", got)
	}
	params[SignatureParam] = "ignored"
	if got := StringToSign("GET", "/", params); got != want {
		t.Fatal("the Signature parameter was signed")
	}
	for in, out := range map[string]string{"a b*c~d": "a%20b%2Ac~d", "é": "%C3%A9", "a+b/c": "a%2Bb%2Fc"} {
		if got := PercentEncode(in); got != out {
			t.Errorf("PercentEncode(%q) = %q, want %q", in, got, out)
		}
	}
}
