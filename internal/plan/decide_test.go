package plan

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// A three-member cluster as the tests see it. This host is "n1".
const (
	idN1    = 0x8e9e05c52164694d
	idN2    = 0x91bc3c398fb3c146
	idN3    = 0xfd422379fda50e48
	idNew   = 0x1234
	idOther = 0x5555
	cid     = 0xcdf818194e3a8c32
	cidB    = 0xabcdef
)

var self = Self{Name: "n1", PeerURLs: []string{"http://127.0.0.1:2380"}}

func voter(id uint64, name, peer string, healthy bool) Member {
	return Member{ID: id, Name: name, PeerURLs: []string{peer}, ClientURLs: []string{strings.Replace(peer, "2380", "2379", 1)}, Healthy: healthy}
}

func unstarted(id uint64, name, peer string, learner bool) Member {
	return Member{ID: id, Name: name, PeerURLs: []string{peer}, IsLearner: learner}
}

var (
	n1 = voter(idN1, "n1", "http://127.0.0.1:2380", false) // this host's old entry, not running
	n2 = voter(idN2, "n2", "http://127.0.0.2:2380", true)
	n3 = voter(idN3, "n3", "http://127.0.0.3:2380", true)
)

func cluster(quorum bool, ms ...Member) Cluster {
	return Cluster{Reachable: true, ClusterID: cid, Quorum: quorum, Members: ms}
}

var (
	noData      = LocalData{Kind: DataNone}
	ownData     = LocalData{Kind: DataPresent, MemberID: idN1, ClusterID: cid}
	foreignData = LocalData{Kind: DataPresent, MemberID: idOther, ClusterID: cidB}
	badData     = LocalData{Kind: DataUnreadable, Detail: "member/wal/0.wal: bad frame"}
	unreachable = Cluster{Errors: []string{"http://127.0.0.2:2379: connection refused"}}
	remembered  = Memory{MemberID: idN1, ClusterID: cid}
)

func down(m Member) Member { m.Healthy = false; return m }

func TestDecide(t *testing.T) {
	rows := []struct {
		name string
		obs  Observation
		want Plan   // Action, MoveDataAside, Remove, AsLearner, UpdatePeerURLs, Existing.ID are compared
		why  string // a substring of the reason
	}{
		// bootstrap
		{"bootstrap: first boot, no data, nobody answers, no memory",
			Observation{Self: self, Data: noData, Cluster: unreachable, Learner: true},
			Plan{Action: Bootstrap}, "first start of a new cluster"},
		{"bootstrap: peers answer but the cluster never formed",
			Observation{Self: self, Data: noData, Learner: true, Cluster: cluster(false,
				unstarted(idN1, "n1", "http://127.0.0.1:2380", false), unstarted(idN2, "n2", "http://127.0.0.2:2380", false))},
			Plan{Action: Bootstrap}, "never formed"},

		// property 1: never new while a reachable member says the cluster exists
		{"P1: no data and a healthy cluster that does not list us: rejoin, not bootstrap",
			Observation{Self: self, Data: noData, Learner: true, Cluster: cluster(true, n2, n3)},
			Plan{Action: Rejoin, AsLearner: true}, "does not list this member"},
		{"P1: no data, cluster formed but without quorum: wait, not bootstrap",
			Observation{Self: self, Data: noData, Learner: true, Cluster: cluster(false, n1, down(n2), n3)},
			Plan{Action: Wait}, "has no quorum (1 healthy of 3 voters)"},

		// property 8: wait, and say why
		{"P8: no data, nobody answers, but this host was a member: wait",
			Observation{Self: self, Data: noData, Memory: remembered, Cluster: unreachable, Learner: true},
			Plan{Action: Wait}, "refusing to bootstrap a second cluster"},
		{"P8: two of three wiped, survivor alone without quorum",
			Observation{Self: self, Data: noData, Memory: remembered, Learner: true, Cluster: cluster(false, n1, down(n2), n3)},
			Plan{Action: Wait}, "no quorum"},

		// restart, properties 5 and 9
		{"restart: own data, listed, healthy cluster (P5: no membership change)",
			Observation{Self: self, Data: ownData, Cluster: cluster(true, n1, n2, n3), Learner: true},
			Plan{Action: Restart, Existing: &n1}, "cluster lists it"},
		{"restart P9: cold start, own data and nobody answers",
			Observation{Self: self, Data: ownData, Cluster: unreachable, Learner: true},
			Plan{Action: Restart}, "no peer answered"},
		{"restart P9: cold start, peers up but no quorum yet, listed",
			Observation{Self: self, Data: ownData, Learner: true, Cluster: cluster(false, n1, down(n2), n3)},
			Plan{Action: Restart, Existing: &n1}, "cluster lists it"},
		{"restart: own data not listed but no quorum to say so: keep it (it may restore quorum)",
			Observation{Self: self, Data: ownData, Learner: true, Cluster: cluster(false, down(n2), n3)},
			Plan{Action: Restart}, "no quorum to say so"},
		{"restart P6: crash before promote, listed as a started learner",
			Observation{Self: self, Data: ownData, Learner: true, Cluster: cluster(true,
				Member{ID: idN1, Name: "n1", PeerURLs: []string{"http://127.0.0.1:2380"}, ClientURLs: []string{"http://127.0.0.1:2379"}, IsLearner: true}, n2, n3)},
			Plan{Action: Restart, Existing: &Member{ID: idN1}}, "promoted once caught up"},

		// join
		{"join P6: crash after add, unstarted learner with our peer URL is reused",
			Observation{Self: self, Data: noData, Learner: true, Cluster: cluster(true, unstarted(idNew, "", "http://127.0.0.1:2380", true), n2, n3)},
			Plan{Action: Join, Existing: &Member{ID: idNew}}, "added but never started"},
		{"join: initial-cluster member that never started (named, voter)",
			Observation{Self: self, Data: noData, Learner: true, Cluster: cluster(true, unstarted(idN1, "n1", "http://127.0.0.1:2380", false), n2, n3)},
			Plan{Action: Join, Existing: &Member{ID: idN1}}, "added but never started"},
		{"join: removed member's data moved aside, unstarted entry reused",
			Observation{Self: self, Data: ownData, Learner: true, Cluster: cluster(true, unstarted(idNew, "", "http://127.0.0.1:2380", true), n2, n3)},
			Plan{Action: Join, MoveDataAside: true, Existing: &Member{ID: idNew}}, "no longer lists member"},

		// rejoin
		{"rejoin: data wiped, started entry remains: remove it, add as learner",
			Observation{Self: self, Data: noData, Learner: true, Cluster: cluster(true, n1, n2, n3)},
			Plan{Action: Rejoin, Remove: []uint64{idN1}, AsLearner: true}, "stale entry 8e9e05c52164694d"},
		{"rejoin P6: crash after move aside, stale entry still listed",
			Observation{Self: self, Data: noData, Memory: remembered, Learner: true, Cluster: cluster(true, n1, n2, n3)},
			Plan{Action: Rejoin, Remove: []uint64{idN1}, AsLearner: true}, "remove it"},
		{"rejoin P6: crash after remove, nothing listed",
			Observation{Self: self, Data: noData, Memory: remembered, Learner: true, Cluster: cluster(true, n2, n3)},
			Plan{Action: Rejoin, AsLearner: true}, "add it"},
		{"rejoin: host replaced under the same name with a new address",
			Observation{Self: Self{Name: "n1", PeerURLs: []string{"http://127.0.0.9:2380"}}, Data: noData, Learner: true, Cluster: cluster(true, n1, n2, n3)},
			Plan{Action: Rejoin, Remove: []uint64{idN1}, AsLearner: true}, "stale entry"},
		{"rejoin: unstarted entry with our name but an old address is replaced",
			Observation{Self: Self{Name: "n1", PeerURLs: []string{"http://127.0.0.9:2380"}}, Data: noData, Learner: true,
				Cluster: cluster(true, unstarted(idN1, "n1", "http://127.0.0.1:2380", false), n2, n3)},
			Plan{Action: Rejoin, Remove: []uint64{idN1}, AsLearner: true}, "stale entry"},
		{"rejoin: own data but removed from the healthy cluster: move aside",
			Observation{Self: self, Data: ownData, Learner: true, Cluster: cluster(true, n2, n3)},
			Plan{Action: Rejoin, MoveDataAside: true, AsLearner: true}, "no longer lists member 8e9e05c52164694d"},
		{"rejoin: another cluster's data with a healthy cluster: move aside",
			Observation{Self: self, Data: foreignData, Learner: true, Cluster: cluster(true, n1, n2, n3)},
			Plan{Action: Rejoin, MoveDataAside: true, Remove: []uint64{idN1}, AsLearner: true}, "belongs to cluster abcdef"},
		{"rejoin: unreadable data with a healthy cluster: move aside",
			Observation{Self: self, Data: badData, Learner: true, Cluster: cluster(true, n1, n2, n3)},
			Plan{Action: Rejoin, MoveDataAside: true, Remove: []uint64{idN1}, AsLearner: true}, "bad frame"},
		{"rejoin: learner disabled adds a voter",
			Observation{Self: self, Data: noData, Learner: false, Cluster: cluster(true, n1, n2, n3)},
			Plan{Action: Rejoin, Remove: []uint64{idN1}}, "add this member again"},

		// wait where acting could harm
		{"wait: another cluster's data, no quorum",
			Observation{Self: self, Data: foreignData, Learner: true, Cluster: cluster(false, n1, down(n2), n3)},
			Plan{Action: Wait}, "not touching the data"},
		{"wait: unreadable data, nobody answers",
			Observation{Self: self, Data: badData, Learner: true, Cluster: unreachable},
			Plan{Action: Wait}, "not touching the data"},
		{"wait P2: removal would leave no quorum of healthy voters",
			Observation{Self: self, Data: noData, Learner: true, Cluster: cluster(true, n1, n2, down(n3))},
			Plan{Action: Wait}, "1 healthy of 2 voters (need 2)"},
		{"wait: a healthy member already runs with our name",
			Observation{Self: self, Data: noData, Learner: true, Cluster: cluster(true, voter(idN1, "n1", "http://127.0.0.1:2380", true), n2, n3)},
			Plan{Action: Wait}, "another etcd runs as this member"},
		{"wait: adding a voter to a cluster with one member down would lose quorum",
			Observation{Self: self, Data: noData, Learner: false, Cluster: cluster(true, n2, n3, voter(0x77, "n4", "http://127.0.0.4:2380", false))},
			Plan{Action: Wait}, "adding this member as a voter"},
		{"P7: second wiped member of five while the first one is a learner: still rejoins",
			Observation{Self: self, Data: noData, Learner: true, Cluster: cluster(true, n1, n2, n3,
				voter(0x78, "n5", "http://127.0.0.5:2380", true), unstarted(0x99, "", "http://127.0.0.4:2380", true))},
			Plan{Action: Rejoin, Remove: []uint64{idN1}, AsLearner: true}, "stale entry"},

		// a copy of a member that is not this host's (issue 7 item 3)
		{"copy: own data's member is served by another live process with this host's name: wait",
			Observation{Self: self, Data: ownData, Learner: true, Cluster: cluster(true,
				Member{ID: idN1, Name: "n1", PeerURLs: []string{"http://127.0.0.1:2380"}, ClientURLs: []string{"http://127.0.0.7:2379"}, Healthy: true}, n2, n3)},
			Plan{Action: Wait}, "another etcd process already serves that member at http://127.0.0.7:2379"},
		{"copy: the data's member is another host's entry (name and peer URL differ): move aside, rejoin",
			Observation{Self: self, Data: LocalData{Kind: DataPresent, MemberID: idN2, ClusterID: cid}, Learner: true, Cluster: cluster(true, n1, n2, n3)},
			Plan{Action: Rejoin, MoveDataAside: true, Remove: []uint64{idN1}, AsLearner: true}, "a copy of another host's member"},
		{"copy: another host's member's data and this host's entry is gone: move aside, add",
			Observation{Self: Self{Name: "n4", PeerURLs: []string{"http://127.0.0.4:2380"}}, Data: LocalData{Kind: DataPresent, MemberID: idN2, ClusterID: cid},
				Learner: true, Cluster: cluster(true, n1, n2, n3)},
			Plan{Action: Rejoin, MoveDataAside: true, AsLearner: true}, "a copy of another host's member"},
		{"copy: served elsewhere and no quorum: wait, touch nothing",
			Observation{Self: self, Data: ownData, Learner: true, Cluster: cluster(false,
				Member{ID: idN1, Name: "n1", PeerURLs: []string{"http://127.0.0.1:2380"}, ClientURLs: []string{"http://127.0.0.7:2379"}, Healthy: true}, down(n2), down(n3))},
			Plan{Action: Wait}, "not touching the data"},
		{"own data, entry renamed but same peer URL: still this host's",
			Observation{Self: self, Data: ownData, Learner: true, Cluster: cluster(true, voter(idN1, "old-name", "http://127.0.0.1:2380", false), n2, n3)},
			Plan{Action: Restart, Existing: &n1}, "cluster lists it"},

		// peer URL changes of a member that keeps its data (item 6)
		{"restart at a new address with quorum: update the entry's peer URLs first",
			Observation{Self: Self{Name: "n1", PeerURLs: []string{"http://127.0.0.9:2380"}}, Data: ownData, Learner: true, Cluster: cluster(true, n1, n2, n3)},
			Plan{Action: Restart, Existing: &n1, UpdatePeerURLs: true}, "update them to http://127.0.0.9:2380 first"},
		{"restart at a new address without quorum: start, no update",
			Observation{Self: Self{Name: "n1", PeerURLs: []string{"http://127.0.0.9:2380"}}, Data: ownData, Learner: true, Cluster: cluster(false, n1, down(n2), n3)},
			Plan{Action: Restart, Existing: &n1}, "cannot be updated to http://127.0.0.9:2380 without quorum"},
		{"restart: peer URL spelled differently (case, trailing slash) is no change",
			Observation{Self: Self{Name: "n1", PeerURLs: []string{"HTTP://127.0.0.1:2380/"}}, Data: ownData, Learner: true, Cluster: cluster(true, n1, n2, n3)},
			Plan{Action: Restart, Existing: &n1}, "cluster lists it"},
		{"restart: peer URL by host name, entry by address (resolved alias) is no change",
			Observation{Self: Self{Name: "n1", PeerURLs: []string{"http://etcd1.example:2380"}}, Data: ownData, Learner: true, Cluster: cluster(true, n1, n2, n3),
				Aliases: map[string][]string{"http://etcd1.example:2380": {"http://127.0.0.1:2380"}}},
			Plan{Action: Restart, Existing: &n1}, "cluster lists it"},
		{"join: unstarted entry by address, configured by host name (resolved alias)",
			Observation{Self: Self{Name: "n1", PeerURLs: []string{"http://etcd1.example:2380"}}, Data: noData, Learner: true,
				Cluster: cluster(true, unstarted(idNew, "", "http://127.0.0.1:2380", true), n2, n3),
				Aliases: map[string][]string{"http://etcd1.example:2380": {"http://127.0.0.1:2380"}}},
			Plan{Action: Join, Existing: &Member{ID: idNew}}, "added but never started"},

		// an interrupted rejoin at an old address (item 7)
		{"rejoin: the unstarted learner this host added at its old address is removed",
			Observation{Self: Self{Name: "n1", PeerURLs: []string{"http://127.0.0.9:2380"}}, Data: noData, Learner: true,
				Memory:  Memory{Added: &Added{ID: idNew, ClusterID: cid, PeerURLs: []string{"http://127.0.0.1:2380"}}},
				Cluster: cluster(true, unstarted(idNew, "", "http://127.0.0.1:2380", true), n2, n3)},
			Plan{Action: Rejoin, Remove: []uint64{idNew}, AsLearner: true}, "stale entry 1234"},
		{"rejoin: an unstarted learner not recorded as this host's is left alone",
			Observation{Self: Self{Name: "n1", PeerURLs: []string{"http://127.0.0.9:2380"}}, Data: noData, Learner: true,
				Memory:  Memory{Added: &Added{ID: 0x4321, ClusterID: cid, PeerURLs: []string{"http://127.0.0.1:2380"}}},
				Cluster: cluster(true, unstarted(idNew, "", "http://127.0.0.1:2380", true), n2, n3)},
			Plan{Action: Rejoin, AsLearner: true}, "does not list this member"},
		{"rejoin: the recorded entry started meanwhile (someone runs it): left alone",
			Observation{Self: Self{Name: "n1", PeerURLs: []string{"http://127.0.0.9:2380"}}, Data: noData, Learner: true,
				Memory:  Memory{Added: &Added{ID: idNew, ClusterID: cid, PeerURLs: []string{"http://127.0.0.1:2380"}}},
				Cluster: cluster(true, Member{ID: idNew, PeerURLs: []string{"http://127.0.0.1:2380"}, ClientURLs: []string{"http://127.0.0.1:2379"}, IsLearner: true}, n2, n3)},
			Plan{Action: Rejoin, AsLearner: true}, "does not list this member"},
		{"wait: no data, nobody answers, a recorded add but never healthy: no bootstrap",
			Observation{Self: self, Data: noData, Learner: true, Cluster: unreachable,
				Memory: Memory{Added: &Added{ID: idNew, ClusterID: cid, PeerURLs: []string{"http://127.0.0.1:2380"}}}},
			Plan{Action: Wait}, "refusing to bootstrap a second cluster"},

		{"wait: no data, nobody answers, but the cluster was seen formed while waiting: no bootstrap",
			Observation{Self: self, Data: noData, Learner: true, Cluster: unreachable,
				Memory: Memory{Seen: &Seen{At: time.Date(2026, 11, 24, 11, 0, 0, 0, time.UTC), ClusterID: cid}}},
			Plan{Action: Wait}, "this host saw cluster " + HexID(cid) + " formed on 2026-11-24T11:00:00Z and no peer answered; refusing to bootstrap"},

		// a deliberate leave, a recovery
		{"left: the host left on purpose: wait, whatever the cluster says",
			Observation{Self: self, Data: noData, Learner: true, Cluster: cluster(true, n2, n3),
				Memory: Memory{Left: &Left{At: time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC), MemberID: idN1, ClusterID: cid}}},
			Plan{Action: Wait}, "left the cluster on 2026-11-02T10:00:00Z (member 8e9e05c52164694d of cluster cdf818194e3a8c32); run `etcd-rejoin join` to come back"},
		{"recovered: start on the recovered data although the old members answer for another cluster",
			Observation{Self: self, Data: LocalData{Kind: DataPresent, MemberID: idNew, ClusterID: cidB}, Learner: true,
				Cluster: cluster(false, n1, down(n2), n3),
				Memory:  Memory{Recovered: &Recovered{At: time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC), ClusterID: cidB, From: "/backups/etcd.snapshot"}}},
			Plan{Action: Restart}, "recovered on 2026-11-02T10:00:00Z from /backups/etcd.snapshot as the new cluster abcdef"},
		{"recovered: the data is not the recovered cluster's: normal rules",
			Observation{Self: self, Data: foreignData, Learner: true, Cluster: cluster(false, n1, down(n2), n3),
				Memory: Memory{Recovered: &Recovered{ClusterID: 0x42}}},
			Plan{Action: Wait}, "not touching the data"},

		// etcd auth refuses the credentials
		{"auth: the members refuse the credentials: wait, even without data (never bootstrap)",
			Observation{Self: self, Data: noData, Learner: true, Cluster: Cluster{Reachable: true,
				AuthError: "http://127.0.0.2:2379: etcdserver: authentication failed, invalid user ID or password"}},
			Plan{Action: Wait}, "etcd refuses etcd-rejoin's credentials (http://127.0.0.2:2379: etcdserver: authentication failed"},
		{"auth: permission denied with own data present: wait, touch nothing",
			Observation{Self: self, Data: ownData, Learner: true, Cluster: Cluster{Reachable: true, ClusterID: cid, Members: []Member{n1, n2, n3},
				AuthError: "etcdserver: permission denied"}},
			Plan{Action: Wait}, "check client-auth"},

		// CORRUPT raised against this member
		{"corrupt: with quorum the data is moved aside and the member rejoins",
			Observation{Self: self, Data: ownData, Learner: true, Cluster: cluster(true, n1, n2, n3),
				Memory: Memory{MemberID: idN1, ClusterID: cid, Corrupt: &Corrupt{At: time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC), MemberID: idN1}}},
			Plan{Action: Rejoin, MoveDataAside: true, Remove: []uint64{idN1}, AsLearner: true}, "etcd raised its CORRUPT alarm against member 8e9e05c52164694d on 2026-11-02T10:00:00Z"},
		{"corrupt: etcd exited at every start on the data: with quorum moved aside, the member rejoins",
			Observation{Self: self, Data: ownData, Learner: true, Cluster: cluster(true, n1, n2, n3),
				Memory: Memory{MemberID: idN1, ClusterID: cid, Corrupt: &Corrupt{At: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC), MemberID: idN1,
					Why: "a WAL record fails its checksum"}}},
			Plan{Action: Rejoin, MoveDataAside: true, Remove: []uint64{idN1}, AsLearner: true},
			"etcd exited at every start on the data of member 8e9e05c52164694d (a WAL record fails its checksum, 2026-11-24T10:00:00Z)"},
		{"corrupt: without quorum wait, touching nothing",
			Observation{Self: self, Data: ownData, Learner: true, Cluster: cluster(false, n1, down(n2), n3),
				Memory: Memory{Corrupt: &Corrupt{MemberID: idN1}}},
			Plan{Action: Wait}, "not touching the data"},
		{"corrupt: a record of another member's alarm does not matter",
			Observation{Self: self, Data: ownData, Learner: true, Cluster: cluster(true, n1, n2, n3),
				Memory: Memory{Corrupt: &Corrupt{MemberID: idN2}}},
			Plan{Action: Restart, Existing: &n1}, "cluster lists it"},

		// version skew
		{"skew: a 3.6 binary on a 3.4 cluster waits",
			Observation{Self: self, Data: ownData, Learner: true, LocalVersion: "3.6.16",
				Cluster: Cluster{Reachable: true, Quorum: true, ClusterID: cid, Version: "3.4.0", Members: []Member{n1, n2, n3}}},
			Plan{Action: Wait}, "etcd upgrades one minor release at a time (upgrade every member to 3.5 first); not starting etcd"},
		{"skew: a 3.4 binary on a 3.5 cluster waits",
			Observation{Self: self, Data: noData, Learner: true, LocalVersion: "3.4.23",
				Cluster: Cluster{Reachable: true, Quorum: true, ClusterID: cid, Version: "3.5.0", Members: []Member{n1, n2, n3}}},
			Plan{Action: Wait}, "never runs a member below the cluster version"},
		{"skew: the rolling one-minor upgrade restarts",
			Observation{Self: self, Data: ownData, Learner: true, LocalVersion: "3.5.35",
				Cluster: Cluster{Reachable: true, Quorum: true, ClusterID: cid, Version: "3.4.0", Members: []Member{n1, n2, n3}}},
			Plan{Action: Restart, Existing: &n1}, "cluster lists it"},

		// members of two clusters answer with a leader
		{"wait: two clusters answer",
			Observation{Self: self, Data: ownData, Learner: true, Cluster: Cluster{Reachable: true, Quorum: true, ClusterID: cid,
				Members: []Member{n1, n2, n3}, Conflict: "cluster cdf818194e3a8c32 at http://127.0.0.2:2379, cluster abcdef at http://127.0.0.5:2379"}},
			Plan{Action: Wait}, "more than one cluster"},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			got := Decide(r.obs)
			if got.Action != r.want.Action || got.MoveDataAside != r.want.MoveDataAside || got.UpdatePeerURLs != r.want.UpdatePeerURLs ||
				got.AsLearner != r.want.AsLearner || !reflect.DeepEqual(got.Remove, r.want.Remove) {
				t.Errorf("plan = %+v\nwant   %+v", got, r.want)
			}
			if (got.Existing == nil) != (r.want.Existing == nil) || (got.Existing != nil && got.Existing.ID != r.want.Existing.ID) {
				t.Errorf("Existing = %+v, want %+v", got.Existing, r.want.Existing)
			}
			if !strings.Contains(got.Reason, r.why) {
				t.Errorf("reason %q does not say %q", got.Reason, r.why)
			}
			if got.Action == Wait && (got.MoveDataAside || got.UpdatePeerURLs || len(got.Remove) > 0) {
				t.Errorf("a wait must not carry destructive steps: %+v", got)
			}
		})
	}
}

// TestNeverNewWhenFormed is property 1 over every combination of the
// observed facts: if any reachable member reports that the cluster exists,
// the plan is never bootstrap.
func TestNeverNewWhenFormed(t *testing.T) {
	for _, data := range []LocalData{noData, ownData, foreignData, badData} {
		for _, mem := range []Memory{{}, remembered} {
			for _, quorum := range []bool{false, true} {
				for _, ms := range [][]Member{{n1, n2, n3}, {n2}, {down(n2), n3}, {unstarted(idN2, "n2", "http://127.0.0.2:2380", false), n3}} {
					o := Observation{Self: self, Data: data, Memory: mem, Learner: true, Cluster: cluster(quorum, ms...)}
					if p := Decide(o); p.Action == Bootstrap {
						t.Errorf("bootstrap although the cluster exists: %+v -> %+v", o, p)
					}
				}
			}
		}
	}
}

// TestOwnDataNeverMovedWithoutQuorum is property 3's guard: this member's
// data is never moved aside unless a healthy cluster says it must go.
func TestOwnDataNeverMovedWithoutQuorum(t *testing.T) {
	for _, c := range []Cluster{unreachable, cluster(false, n1, down(n2), n3), cluster(false, down(n2), n3), cluster(false)} {
		if p := Decide(Observation{Self: self, Data: ownData, Learner: true, Cluster: c}); p.MoveDataAside || p.Action != Restart {
			t.Errorf("own data with %+v: %+v", c, p)
		}
	}
}

func TestClusterHelpers(t *testing.T) {
	c := cluster(false, n1, n2, unstarted(idNew, "", "http://x:2380", true))
	if total, healthy := c.Voters(); total != 2 || healthy != 1 {
		t.Errorf("Voters = %d,%d want 2,1", total, healthy)
	}
	if !c.Formed() {
		t.Error("a cluster with a started member is formed")
	}
	if (Cluster{Reachable: true, Members: []Member{unstarted(1, "a", "http://a:2380", false)}}).Formed() {
		t.Error("a cluster whose members never started is not formed")
	}
	if HexID(idN1) != "8e9e05c52164694d" {
		t.Errorf("HexID = %s", HexID(idN1))
	}
}
