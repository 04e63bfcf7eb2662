package analyze

import "testing"

// wordingOf finds what reasonWords holds for every reason (the engine's,
// the protocols', the kernel's added by init functions) and nothing for a
// reason without words or past the last one.
func TestWordingOf(t *testing.T) {
	found := 0
	for r := Reason(0); int(r) < len(reasonTable)+3; r++ {
		want, wantOK := reasonWords[r]
		got, ok := wordingOf(r)
		if ok != wantOK || (got.evidence == nil) != (want.evidence == nil) || (got.causes == nil) != (want.causes == nil) || got.wrongBanner != want.wrongBanner {
			t.Errorf("reason %d (%s): wordingOf has (ok %v, evidence %v, causes %v, wrongBanner %v), reasonWords (ok %v, evidence %v, causes %v, wrongBanner %v)",
				r, r, ok, got.evidence != nil, got.causes != nil, got.wrongBanner, wantOK, want.evidence != nil, want.causes != nil, want.wrongBanner)
		}
		if ok {
			found++
		}
	}
	if found != len(reasonWords) {
		t.Errorf("wordingOf found %d reasons' words, reasonWords has %d", found, len(reasonWords))
	}
}
