package analyze

import (
	"slices"
	"testing"
)

// resetWordMemos forgets every kept sentence: words made next are made
// afresh.
func resetWordMemos() {
	refusedMemo = wordMemo[string, []string]{}
	wrongBannerMemo = wordMemo[bannerKey, []string]{}
	bannerCausesMemo = wordMemo[bannerKey, []string]{}
	dropMemo = wordMemo[DropFact, string]{}
	rstSentMemo = wordMemo[RSTFact, string]{}
}

// memoWords are the kept sentences' words of one attempt: its refused
// causes, its banner evidence and causes, its drop's and its RST's
// evidence.
func memoWords(at *Attempt) []string {
	w := newWordCtx(at, at.Facts)
	var out []string
	out = append(out, refusedCauses(w)...)
	out = append(out, wrongBannerWords(w)...)
	ws, _ := wordingOf(ReasonClientSilentToBanner)
	out = append(out, ws.causes(w)...)
	out = append(out, dropEvidence(at.Facts.KernelDrop), rstSentEvidence(at.Facts.RSTSent))
	return out
}

// Words kept by their inputs (wordMemo) are those made afresh, whatever
// came before: attempts differing in any one input the words read get
// their own words, also when they come in turns (sharing slots), and a
// kept list is not changed by an append to it.
func TestWordMemoSameWords(t *testing.T) {
	base := func() *Attempt {
		return &Attempt{Server: "10.2.0.5:3306", Facts: &Facts{
			Banner: "SSH-2.0-OpenSSH_9.2p1", Expected: "MySQL",
			KernelDrop: &DropFact{Reason: "NO_SOCKET", Packet: "SYN", Received: true, Location: "tcp_v4_rcv", Dir: DirC2S},
			RSTSent:    &RSTFact{From: "server", Reason: "NO_SOCKET", Answers: "SYN"},
		}}
	}
	variants := []func(at *Attempt){
		func(at *Attempt) {},
		func(at *Attempt) { at.Server = "10.2.0.6:3306" },
		func(at *Attempt) { at.Server = "10.2.0.5:3307" },
		func(at *Attempt) { at.Server = "10.12.0.5:3306" }, // the same last eight bytes
		func(at *Attempt) { at.Server = "[fd00:2::5]:3306" },
		func(at *Attempt) { at.Facts.Banner = "SSH-2.0-OpenSSH_9.3p1" },
		func(at *Attempt) { at.Facts.Banner = "HTTP/1.1 400 Bad Request" },
		func(at *Attempt) { at.Facts.Expected = "PostgreSQL" },
		func(at *Attempt) { at.Facts.Expected = "" },
		func(at *Attempt) { at.Facts.KernelDrop.Reason = "NETFILTER_DROP" },
		func(at *Attempt) { at.Facts.KernelDrop.Packet = "ACK" },
		func(at *Attempt) { at.Facts.KernelDrop.Received = false },
		func(at *Attempt) { at.Facts.KernelDrop.Location = "nft_do_chain" },
		func(at *Attempt) { at.Facts.KernelDrop.Location = "" },
		func(at *Attempt) { at.Facts.RSTSent.From = "client" },
		func(at *Attempt) { at.Facts.RSTSent.Reason = "" },
		func(at *Attempt) { at.Facts.RSTSent.Answers = "" },
		func(at *Attempt) { at.Facts.RSTSent.Answers = "ACK" },
	}
	attempts := make([]*Attempt, len(variants))
	fresh := make([][]string, len(variants))
	for i, v := range variants {
		attempts[i] = base()
		v(attempts[i])
		resetWordMemos()
		fresh[i] = memoWords(attempts[i])
	}
	for i := range fresh {
		for j := range i {
			if slices.Equal(fresh[i], fresh[j]) {
				t.Fatalf("variants %d and %d have the same words: the test does not tell them apart", j, i)
			}
		}
	}
	resetWordMemos()
	// In turns, each variant after every other one and again.
	for round := range 3 {
		for i := range attempts {
			for _, j := range []int{i, (i + round + 1) % len(attempts), i} {
				if got := memoWords(attempts[j]); !slices.Equal(got, fresh[j]) {
					t.Fatalf("round %d, variant %d: kept words\n%q\nwant\n%q", round, j, got, fresh[j])
				}
			}
		}
	}
	// An attempt's words append to its reason's (kept) evidence: the kept
	// list stays as it was.
	banner := base()
	banner.Reason = reasonIDs["app.not_mysql_banner"]
	banner.Facts.Expected = "MySQL"
	for range 2 {
		if got := attemptWords(banner).Evidence; len(got) != 3 || got[0] != fresh[0][2] || got[1] != fresh[0][4] || got[2] != fresh[0][5] {
			t.Errorf("a wrong banner's evidence with the kernel's: %q", got)
		}
	}
	if got := wrongBannerWords(newWordCtx(banner, banner.Facts)); !slices.Equal(got, fresh[0][2:3]) {
		t.Errorf("wrongBannerWords after an attempt's words: %q", got)
	}
	// A kept list shared, and clipped: an append copies it.
	w := newWordCtx(attempts[0], attempts[0].Facts)
	first := refusedCauses(w)
	if again := refusedCauses(w); &again[0] != &first[0] {
		t.Error("refusedCauses made its words again for the same server")
	}
	_ = append(first, "more")
	if got := refusedCauses(w); !slices.Equal(got, fresh[0][:2]) {
		t.Errorf("refusedCauses after an append to them: %q", got)
	}
}
