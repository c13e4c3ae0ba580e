package receipts

import (
	"net/url"
	"strings"
)

// The receipt samples of §7.2.10 of the mPaaS MPS guide, verbatim (MiPush's
// "data" object is the value of the form field data).
const (
	sampleHMS = `{
  "statuses": [
    {
      "clientId": "103961659",
      "biTag": "0#5#1.1#console_1730792931023&b89351344a8e1f3b",
      "requestId": "173079293285270303027401",
      "appid": "103961659",
      "status": 0,
      "timestamp": 1730792933696,
      "token": "IQAAAAACy0f7tAABvr6Xzid061rECNx-1-eog1VNUSyZcIo-1Pc9ehqnEfIyuIsxxx"
    }
  ]
}`
	sampleHonor = `{  
  "statuses": [{  
    "appId": "104420205",  
    "biTag": "0#9#1.1#console_1730794397675&61db03efcf7fc862",  
    "requestId": "104420205-4fe376129032981e38b60cf15ea77154",  
    "status": 40000002,  
    "timestamp": 1730794400089,  
    "token": "BAEAAAAAB.jlTbs5YD0dhYQKfqri5606iN7CbY5xxx"  
  }]  
}`
	sampleHarmonyOS = `{  
  "statuses": [{  
    "biTag": "0#11#null#console_1730776169529&6e8afeebfc8a45a0",  
    "requestId": "173077617124367218031101",  
    "appPackageName": "com.alipay.demo",  
    "deliveryStatus": {  
      "result": 5,  
      "timestamp": 1730776171647  
    },  
    "pushType": 0,  
    "token": "MAMzLgIkEUIGTTuAstOIywAAAGQAAAAAAHmQeccAFJF5u8WsIrXbQOuxxxxxx"  
  }]  
}`
	sampleMiPushData = `{
    "smm67747730775367865gS": {
      "param": "0#4#1.1#console_1730775366036&671135c53a89dde2",
      "barStatus": "Enable",
      "type": 1,
      "targets": "oUU0LhUv9qgw2HEtgtWmxEqX91dkWesBHQxxx",
      "timestamp": 1730775368258
    }
  }`
	sampleOPPO = `[{
  "appId": "30186722",
  "eventTime": "1730776852465",
  "eventType": "push_arrive",
  "messageId": "30186722-1-1-67298eb8f8686b014e6d1a83",
  "param": "0#7#1.1#console_1730776758644&282216e3998ff0d0",
  "registrationIds": "OPPO_CN_5e33c42e910xxx"
}]`
	sampleVivo = `{
    "1303318675076815015": {
        "param": "0#8#1.1#console_1730776984809&8903e8823304c0bf",
        "targets": "v2-CRi5wSCKrfIr7yWs_BKTpim6RbPAnEMVah6xxx",
        "ackTime": 1730776986789,
        "ackType": "0"
    }
}`
	sampleClient = `{"events":[{"deliveryId":"d0123456789abcdef01234567","event":"arrival","ts":1730776986789,"appVersion":"2.1"},` +
		`{"msgId":"msg-1","deviceId":"dev-1","event":"open","ts":1730776990000}]}`
)

// sampleMiPush is the MiPush sample as MiPush posts it: form-encoded.
var sampleMiPush = "data=" + url.QueryEscape(sampleMiPushData)

// withCorrelation replaces the mPaaS correlation value (biTag or param) of
// a sample with ours.
func withCorrelation(sample, value string) string {
	for _, old := range []string{
		"0#5#1.1#console_1730792931023&b89351344a8e1f3b", "0#9#1.1#console_1730794397675&61db03efcf7fc862",
		"0#11#null#console_1730776169529&6e8afeebfc8a45a0", "0#4#1.1#console_1730775366036&671135c53a89dde2",
		"0#7#1.1#console_1730776758644&282216e3998ff0d0", "0#8#1.1#console_1730776984809&8903e8823304c0bf",
	} {
		sample = strings.ReplaceAll(sample, old, value)
		sample = strings.ReplaceAll(sample, url.QueryEscape(old), url.QueryEscape(value))
	}
	return sample
}
