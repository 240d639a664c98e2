package convo

import (
	"testing"
	"unicode"
)

func TestParsePhone(t *testing.T) {
	for in, want := range map[string]string{
		"+15557770000":         "+15557770000",
		" +1 (555) 777-0000 ":  "+15557770000",
		"+1.555.777.0000":      "+15557770000",
		"+1555777000０":         "+15557770000", // the last digit fullwidth
		"＋１５５５７７７００００":         "+15557770000",
		"+1 555 ٧٧٧ ٠٠٠٠":      "+15557770000", // Arabic-Indic digits
		"+1 555 ७७७ ००००":      "+15557770000", // Devanagari
		"+1 555 𝟕𝟕𝟕 𝟶𝟶𝟶𝟶":      "+15557770000", // mathematical bold and monospace digits
		"15557770000":          "15557770000",
		"+1\u00a0555\t7770000": "+15557770000",
	} {
		if got, err := ParsePhone(in); err != nil || got != want {
			t.Errorf("ParsePhone(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "+", " - ", "+1555777000x", "+1555777+000", "1+5557770000", "tel:+15557770000",
		"+1555\u200b7770000", "+1555777000²", "+1555777000½", "whatsapp:+15557770000"} {
		if got, err := ParsePhone(in); err == nil {
			t.Errorf("ParsePhone(%q) = %q, want an error", in, got)
		}
	}
}

// Every Unicode decimal digit reads as the digit it is: each script's run
// of ten starts at its zero, whichever range of the table holds it.
func TestDecimalDigitRuns(t *testing.T) {
	n := 0
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if !unicode.Is(unicode.Nd, r) {
			continue
		}
		d, ok := decimalDigit(r)
		if !ok {
			t.Fatalf("%U is a decimal digit but not read as one", r)
		}
		// A run of ten: the digit d sits d places after its zero.
		zero := r - rune(d)
		for k := rune(0); k < 10; k++ {
			if !unicode.Is(unicode.Nd, zero+k) {
				t.Fatalf("%U read as %d, but %U is no digit", r, d, zero+k)
			}
		}
		n++
	}
	if n < 600 {
		t.Errorf("only %d decimal digits found", n)
	}
}
