package convo

import "testing"

func TestSMSConsentKeyword(t *testing.T) {
	for text, want := range map[string]string{
		"STOP": ConsentStop, " stop\n": ConsentStop, "StopAll": ConsentStop, "unsubscribe": ConsentStop,
		"CANCEL": ConsentStop, "end": ConsentStop, "Quit": ConsentStop,
		"START": ConsentStart, "yes": ConsentStart, " Unstop ": ConsentStart,
		"stop it": "", "STOP ALL": "", "please stop": "", "": "", "HELP": "", "yes please": "", "ＳＴＯＰ": "",
	} {
		if got := SMSConsentKeyword(text); got != want {
			t.Errorf("SMSConsentKeyword(%q) = %q, want %q", text, got, want)
		}
	}
}
