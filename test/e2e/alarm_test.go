package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etcd-rejoin/etcd-rejoin/internal/testetcd"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// netCorrupt is the loopback base of the CORRUPT test.
const netCorrupt = 113

// etcd raises CORRUPT against a member whose data differs from the
// cluster's (here raised by hand, as etcd's corruption check would). That
// member's service stops etcd, moves its data aside and rejoins under a new
// member ID; the removed member's alarm is disarmed, so the cluster takes
// writes again; every key is readable through the rejoined member.
func TestCorruptMemberRejoins(t *testing.T) {
	forEachVersion(t, netCorrupt, func(t *testing.T, v testetcd.Version, prefix string) {
		l := newLab(t, v, prefix, 3)
		l.startAll()
		l.put(10, "k")
		old := l.memberID(2, l.members())
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cli := l.cli(0, 1)
		if _, err := pb.NewMaintenanceClient(cli.ActiveConnection()).Alarm(ctx, &pb.AlarmRequest{
			Action: pb.AlarmRequest_ACTIVATE, MemberID: old, Alarm: pb.AlarmType_CORRUPT}); err != nil {
			t.Fatalf("raise CORRUPT against %x: %v", old, err)
		}
		h := l.hosts[2]
		h.waitLog(t, "etcd raised its CORRUPT alarm against this member", 60*time.Second)
		h.waitLog(t, "action=rejoin", 60*time.Second)
		// Ready after the rejoin: the first start's ready line can be logged
		// again before it (a member back from a slow check).
		deadline := time.Now().Add(readyTimeout)
		for out := h.out.String(); !strings.Contains(out[strings.Index(out, "action=rejoin"):], "voting and caught up"); out = h.out.String() {
			if time.Now().After(deadline) || h.exited() {
				t.Fatalf("n3 did not come back ready (exited %t):\n%s", h.exited(), h.tail(30))
			}
			time.Sleep(200 * time.Millisecond)
		}
		ms := l.members(0, 1)
		if id := l.memberID(2, ms); id == old || len(ms) != 3 {
			t.Errorf("members %+v: want n3 under a new ID (old %x)", ms, old)
		}
		alarms, err := cli.AlarmList(ctx)
		if err != nil || len(alarms.Alarms) != 0 {
			t.Errorf("alarms after the rejoin = %+v, %v; want none (the removed member's disarmed)", alarms, err)
		}
		l.put(5, "after", 0, 1)
		if n := l.count(2, "k"); n != 10 {
			t.Errorf("%d keys through the rejoined member, want 10", n)
		}
		if got := movedAside(t, l.nodes[2].DataDir); len(got) != 1 {
			t.Errorf("moved-aside copies = %v, want the corrupt data", got)
		}
	})
}

// netNoSpaceNotify is the loopback base of the NOSPACE STATUS test.
const netNoSpaceNotify = 116

// Under NOSPACE the member still answers, so the watchdog keeps being fed (a
// restart cannot free space), and STATUS= says what happened and what to do.
func TestNoSpaceStatusKeepsTheWatchdogFed(t *testing.T) {
	forEachVersion(t, netNoSpaceNotify, func(t *testing.T, v testetcd.Version, prefix string) {
		l := newLab(t, v, prefix, 1)
		l.extra = []string{"ETCD_QUOTA_BACKEND_BYTES=4194304"}
		sock := listenNotify(t)
		h := l.start(0, "NOTIFY_SOCKET="+sock.path, "WATCHDOG_USEC=2000000")
		h.waitReady(t)
		fillUntilNoSpace(t, l)
		d := waitStatusPrefix(t, sock, "STATUS=running, but etcd raised NOSPACE", 30*time.Second)
		for _, want := range []string{"reached its quota (4.0 MiB)", "every write is refused", "etcdctl alarm disarm"} {
			if !strings.Contains(d.msg, want) {
				t.Errorf("STATUS %q does not say %q", d.msg, want)
			}
		}
		// A check every second: 5 or 6 pings expected, none when starved.
		time.Sleep(6 * time.Second)
		if n := sock.count("WATCHDOG=1", d.at, time.Now()); n < 3 {
			t.Errorf("%d watchdog pings in the 6 s after NOSPACE, want the member kept alive", n)
		}
	})
}

// waitStatusPrefix waits for a message with a line starting with prefix.
func waitStatusPrefix(t *testing.T, sock *notifySocket, prefix string, timeout time.Duration) datagram {
	t.Helper()
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		for _, d := range sock.all() {
			for _, line := range strings.Split(d.msg, "\n") {
				if strings.HasPrefix(line, prefix) {
					return datagram{at: d.at, msg: line}
				}
			}
		}
	}
	t.Fatalf("no %s... within %s", prefix, timeout)
	return datagram{}
}

// netDamaged is the loopback base of the damaged-data test.
const netDamaged = 119

// A member whose bbolt file fails its checksum (both meta pages damaged while
// it was down): etcd exits at every start on it. The service starts it a
// second time, then records the data as corrupt, moves it aside and rejoins
// under a new member ID while the other two keep the quorum; every key is
// readable through the rejoined member. Found by the fault campaign
// (bitflip-db), where the service restarted etcd on that data for ever.
func TestDamagedDataRejoins(t *testing.T) {
	forEachVersion(t, netDamaged, func(t *testing.T, v testetcd.Version, prefix string) {
		l := newLab(t, v, prefix, 3)
		l.startAll()
		l.put(10, "k")
		old := l.memberID(2, l.members())
		l.hosts[2].stop(20 * time.Second)
		damageBoltMeta(t, filepath.Join(l.nodes[2].DataDir, "member", "snap", "db"))
		h := l.start(2)
		h.waitReady(t)
		out := h.out.String()
		for _, want := range []string{
			"starting it once more before judging the data",
			"etcd exited 2 times in a row on the local data of member " + fmt.Sprintf("%x", old),
			"action=rejoin",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("no %q in n3's log:\n%s", want, h.tail(40))
			}
		}
		ms := l.members(0, 1)
		if id := l.memberID(2, ms); id == old || len(ms) != 3 {
			t.Errorf("members %+v: want n3 under a new ID (old %x)", ms, old)
		}
		if n := l.count(2, "k"); n != 10 {
			t.Errorf("%d keys through the rejoined member, want 10", n)
		}
		if got := movedAside(t, l.nodes[2].DataDir); len(got) != 1 {
			t.Errorf("moved-aside copies = %v, want the damaged data", got)
		}
	})
}

// damageBoltMeta flips a byte of the transaction ID in both meta pages of a
// bbolt file, so that neither passes its checksum.
func damageBoltMeta(t *testing.T, path string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// A page starts with a 16-byte header; the meta that follows holds
	// magic, version, page size, flags (4 bytes each), the root bucket
	// (16), the freelist and high-water page IDs and the txid (8 each).
	var size [4]byte
	if _, err := f.ReadAt(size[:], 16+8); err != nil {
		t.Fatal(err)
	}
	pageSize := int64(uint32(size[0]) | uint32(size[1])<<8 | uint32(size[2])<<16 | uint32(size[3])<<24)
	if pageSize < 1024 {
		t.Fatalf("%s: page size %d: not a bbolt file?", path, pageSize)
	}
	for _, page := range []int64{0, pageSize} {
		off := page + 16 + 4*4 + 16 + 8 + 8
		var b [1]byte
		if _, err := f.ReadAt(b[:], off); err != nil {
			t.Fatal(err)
		}
		b[0] ^= 0xff
		if _, err := f.WriteAt(b[:], off); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
}
