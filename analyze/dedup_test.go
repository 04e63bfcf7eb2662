package analyze

import (
	"math/rand/v2"
	"testing"
	"time"
)

// refDedup is the duplicate cache without its tags: the answers dedup must
// give (its tags only spare reading the slot).
type refDedup struct{ slots [dedupSlots]dedupEntry }

func (d *refDedup) seenSig(sig uint64, now int64) bool {
	if sig == 0 {
		sig = 1
	}
	slot := &d.slots[sig&(dedupSlots-1)]
	if slot.sig == sig {
		dt := now - slot.when
		if dt < 0 {
			dt = -dt
		}
		if dt <= int64(dedupWindow) {
			return true
		}
	}
	slot.sig, slot.when = sig, now
	return false
}

// TestDedupTagsKeepAnswers feeds dedup and refDedup the same signatures:
// copies within and beyond the window, time going back, the signature 0,
// and signatures that share a slot — with the same tag (top byte) or not,
// the same low bytes of the tag's byte or not — evicting each other.
func TestDedupTagsKeepAnswers(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 7))
	var d dedup
	var ref refDedup
	const slot = 0x155
	sigs := []uint64{0, 1, slot, 0xab<<56 | slot, 0xab<<56 | 1<<40 | slot, 0xac<<56 | slot, 0xab<<56 | 1<<13 | slot}
	now := time.Date(2026, 12, 7, 15, 0, 0, 0, time.UTC).UnixNano()
	hits := 0
	for i := 0; i < 200000; i++ {
		var sig uint64
		switch rng.IntN(4) {
		case 0:
			sig = sigs[rng.IntN(len(sigs))]
		case 1:
			sig = rng.Uint64()
		default:
			sig = rng.Uint64()&(0xff<<56) | uint64(rng.IntN(4))<<13 | uint64(rng.IntN(8)) // crowded slots
		}
		switch rng.IntN(8) {
		case 0:
			now -= int64(rng.IntN(3 * int(dedupWindow)))
		case 1:
			now += int64(rng.IntN(3 * int(dedupWindow)))
		default:
			now += int64(rng.IntN(int(dedupWindow) / 50))
		}
		got, want := d.seenSig(sig, now), ref.seenSig(sig, now)
		if got != want {
			t.Fatalf("step %d: signature %#x at %d: seen %v, want %v", i, sig, now, got, want)
		}
		if want {
			hits++
		}
	}
	if hits < 1000 {
		t.Fatalf("only %d duplicates among the signatures: the test checks too little", hits)
	}
}
