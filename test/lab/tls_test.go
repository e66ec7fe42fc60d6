package lab_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/etcd-rejoin/etcd-rejoin/internal/testcmd"
)

// Where lab/provision/etcd-node.sh --tls installs the CA, the host's
// certificate and its key (root:etcd-rejoin 0640).
const (
	tlsDir  = "/etc/etcd-rejoin/tls"
	tlsKey  = tlsDir + "/member.key"
	credKey = "/run/credentials/etcd-rejoin.service/member.key"
)

// TestMutualTLS: three hosts whose members speak https only, with client
// and peer certificates required (lab/up with LAB_TLS=1), under the
// packaged, hardened unit. The cluster forms and `check` passes; a key the
// service's user cannot read makes `check` exit 78 naming it and the user,
// and the service fail without touching membership; a wiped host rejoins
// over TLS with every key; the key passed as a systemd credential works.
func TestMutualTLS(t *testing.T) {
	t.Parallel()
	testcmd.NeedTools(t, "openssl")
	l := newTLSLab(t, "elab-tls")
	ids := l.assertFormed()
	for _, h := range hosts {
		assertHardenedUnit(t, l, h)
		assertMemberTLS(t, l, h, tlsKey)
		if r := l.ctl(time.Minute, "exec", h, "etcd-rejoin", "check"); r.Code != 0 || !strings.Contains(r.Out, "configuration OK") {
			t.Errorf("%s: etcd-rejoin check: exit %d, want 0:\n%s", h, r.Code, r.Out)
		}
	}
	assertURLsHTTPS(t, l)
	assertClientCertRequired(t, l, "etcd1")

	keys := map[string]string{}
	for i := range 10 {
		keys[fmt.Sprintf("/lab/tls/k%02d", i)] = fmt.Sprintf("v%02d-%d", i, time.Now().UnixNano())
	}
	keys["/lab/a"] = fmt.Sprintf("v-%d", time.Now().UnixNano()) // wipeDataDir reads it
	putAll(t, l, "etcd1", keys)

	t.Run("key unreadable", func(t *testing.T) { unreadableKey(t, l.with(t), "etcd2", ids) })
	t.Run("data dir deleted", func(t *testing.T) {
		ids = wipeDataDir(t, l.with(t), "etcd3", ids, keys["/lab/a"])
		assertEveryKey(t, l.with(t), "etcd3", keys)
	})
	t.Run("key as a credential", func(t *testing.T) { keyAsCredential(t, l.with(t), "etcd1", ids) })
	sameIDs(t, "at the end", l.assertFormed(), ids)
}

// newTLSLab is newLab with LAB_TLS=1.
func newTLSLab(t *testing.T, name string) *lab {
	t.Helper()
	needRoot(t)
	needTools(t)
	l := &lab{t: t, name: name, env: []string{
		"LAB=" + name,
		"LAB_TLS=1",
		"LAB_DEB=" + deb(t),
		"LAB_DIR=" + filepath.Join("/var/lib/etcd-rejoin-lab", name),
	}}
	t.Cleanup(l.down)
	start := time.Now()
	r := run(t, 10*time.Minute, l.env, "lab/up")
	if r.Code != 0 {
		t.Fatalf("lab/up: exit %d:\n%s", r.Code, r.Out)
	}
	record(t, name+": lab/up with TLS (CA, certs, READY)", time.Since(start))
	return l
}

// unitFacts prints, in one call into a host: the unit's properties, the
// service user's number, each child of the service with its user IDs, and
// each packaged file dpkg finds changed.
const unitFacts = `systemctl show -p User -p PrivateUsers -p ProtectSystem -p ProtectHome \
	-p CapabilityBoundingSet -p AmbientCapabilities -p FragmentPath -p DropInPaths etcd-rejoin.service
echo "ServiceUID=$(id -u etcd-rejoin)"
main=$(systemctl show -p MainPID --value etcd-rejoin.service)
for c in $(cat /proc/"$main"/task/*/children); do
	echo "Child=$(cat /proc/"$c"/comm) $(grep '^Uid:' /proc/"$c"/status | tr -s '\t ' ' ')"
done
dpkg --verify etcd-rejoin | sed 's/^/Changed=/'`

// assertHardenedUnit: the service runs from the packaged unit file as
// shipped, as etcd-rejoin, with the sandbox that makes keys hard to read,
// and etcd, its one child, runs as that user too.
func assertHardenedUnit(t *testing.T, l *lab, h string) {
	t.Helper()
	facts := l.exec(h, "sh", "-c", unitFacts) + "\n"
	for _, want := range []string{"User=etcd-rejoin", "PrivateUsers=yes", "ProtectSystem=strict",
		"ProtectHome=yes", "CapabilityBoundingSet=", "AmbientCapabilities=",
		"FragmentPath=/lib/systemd/system/etcd-rejoin.service", "DropInPaths="} {
		if !strings.Contains(facts, "\n"+want+"\n") && !strings.HasPrefix(facts, want+"\n") {
			t.Errorf("%s: unit lacks %q:\n%s", h, want, facts)
		}
	}
	uid := regexp.MustCompile(`(?m)^ServiceUID=(\d+)$`).FindStringSubmatch(facts)
	children := regexp.MustCompile(`(?m)^Child=.*$`).FindAllString(facts, -1)
	if uid == nil || len(children) != 1 || children[0] != fmt.Sprintf("Child=etcd Uid: %[1]s %[1]s %[1]s %[1]s", uid[1]) {
		t.Errorf("%s: want one child, etcd, running as etcd-rejoin:\n%s", h, facts)
	}
	// As shipped: dpkg finds only the configuration changed.
	for _, changed := range regexp.MustCompile(`(?m)^Changed=.*$`).FindAllString(facts, -1) {
		if !strings.HasSuffix(changed, " /etc/etcd-rejoin.toml") {
			t.Errorf("%s: dpkg --verify etcd-rejoin: %q (a packaged file was changed)", h, changed)
		}
	}
}

// assertMemberTLS: etcd started with client and peer TLS, certificates
// required on both, with the key at keyPath.
func assertMemberTLS(t *testing.T, l *lab, h, keyPath string) {
	t.Helper()
	j := l.journal(h, "")
	files := fmt.Sprintf("cert = %s/member.crt, key = %s, trusted-ca = %s/ca.crt, client-cert-auth = true,", tlsDir, keyPath, tlsDir)
	for _, want := range []string{"embed: ClientTLS: " + files, "embed: peerTLS: " + files} {
		if !strings.Contains(j, want) {
			t.Errorf("%s: journal lacks %q:\n%s", h, want, j)
		}
	}
}

// assertURLsHTTPS: every peer and client URL in the member list is https.
func assertURLsHTTPS(t *testing.T, l *lab) {
	t.Helper()
	for _, m := range l.members("etcd1") {
		for _, u := range append(append([]string{}, m.PeerURLs...), m.ClientURLs...) {
			if !strings.HasPrefix(u, "https://") {
				t.Errorf("member %s (%x) has URL %s, want https only", m.Name, m.ID, u)
			}
		}
	}
}

// assertClientCertRequired: a client that trusts the CA but shows no
// certificate, and a plain http client, are refused by the member.
func assertClientCertRequired(t *testing.T, l *lab, h string) {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + h + `\t(\S+)$`).FindStringSubmatch(l.mustCtl(time.Minute, "hosts"))
	if m == nil {
		t.Fatalf("lab/ctl hosts does not list %s", h)
	}
	addr := m[1]
	for _, c := range []struct {
		endpoint, caFlag, logged string
	}{
		{"https://" + addr + ":2379", "--cacert=" + tlsDir + "/ca.crt", "tls: client didn't provide a certificate"},
		{"http://" + addr + ":2379", "", "tls: first record does not look like a TLS handshake"},
	} {
		args := []string{"exec", h, "etcdctl", "--endpoints=" + c.endpoint, "--dial-timeout=2s", "--command-timeout=3s"}
		if c.caFlag != "" {
			args = append(args, c.caFlag)
		}
		if r := l.ctl(time.Minute, append(args, "get", "/lab/a")...); r.Code == 0 {
			t.Errorf("%s: etcdctl get via %s %s without a client certificate: exit 0, want a refusal:\n%s", h, c.endpoint, c.caFlag, r.Out)
		}
		re := regexp.MustCompile(`rejected connection from "` + regexp.QuoteMeta(addr) + `:\d+" \(error "` + regexp.QuoteMeta(c.logged) + `"`)
		l.waitFor(h+": etcd logs the refusal: "+c.logged, time.Minute, func() bool { return re.MatchString(l.journal(h, "")) })
	}
}

// unreadableKey: the key made root:root 0600, as many key set-ups are.
// `check` exits 78 naming the key, the user and what to change; the
// service fails at every start (systemd retries) and touches neither the
// membership nor the data. An ACL, then group and mode, make it readable
// again, and the member restarts on its data under its old ID.
func unreadableKey(t *testing.T, l *lab, h string, ids map[string]uint64) {
	stateBefore := l.exec(h, "ls", "-A", "/var/lib/etcd-rejoin")
	l.exec(h, "sh", "-c", "chown root:root "+tlsKey+" && chmod 0600 "+tlsKey)

	r := l.ctl(time.Minute, "exec", h, "etcd-rejoin", "check")
	if r.Code != 78 {
		t.Errorf("%s: check with a root-only key: exit %d, want 78:\n%s", h, r.Code, r.Out)
	}
	for _, want := range []string{
		"etcd.key-file (file /etc/etcd-rejoin.toml): " + tlsKey + " cannot be read by user etcd-rejoin, whom the service runs as",
		"chgrp etcd-rejoin FILE; chmod 0640 FILE", "setfacl -m u:etcd-rejoin:r FILE", "LoadCredential=",
	} {
		if !strings.Contains(r.Out, want) {
			t.Errorf("%s: check output lacks %q:\n%s", h, want, r.Out)
		}
	}

	since := l.now(h)
	if r := l.ctl(3*time.Minute, "exec", h, "systemctl", "restart", unit); r.Code == 0 {
		t.Fatalf("%s: systemctl restart with an unreadable key succeeded:\n%s", h, r.Out)
	}
	// Exit 1, not 78: systemd keeps trying, so a key fixed later (or
	// delivered late by a certificate manager) heals by itself.
	before := l.nRestarts(h)
	l.waitFor(h+": systemd starts it again by itself", 2*time.Minute, func() bool { return l.nRestarts(h) > before })
	if got := l.show(h, "ExecMainStatus"); got != "1" {
		t.Errorf("%s: ExecMainStatus %s, want 1 (a runtime failure, restarted)", h, got)
	}
	j := l.journal(h, since)
	for _, want := range []string{
		"preflight check failed (nothing was changed)",
		"etcd cert-file " + tlsDir + "/member.crt: open " + tlsKey + ": permission denied",
		"etcd peer-cert-file " + tlsDir + "/member.crt: open " + tlsKey + ": permission denied",
	} {
		if !strings.Contains(j, want) {
			t.Errorf("%s: journal lacks %q:\n%s", h, want, j)
		}
	}
	for _, never := range []string{"msg=decision", "etcd started", "moved aside"} {
		if strings.Contains(j, never) {
			t.Errorf("%s: journal has %q while the key was unreadable:\n%s", h, never, j)
		}
	}
	sameIDs(t, "while "+h+"'s key is unreadable", l.idsByName("etcd1"), ids)
	if got := l.exec(h, "ls", "-A", "/var/lib/etcd-rejoin"); got != stateBefore {
		t.Errorf("%s: /var/lib/etcd-rejoin changed while the key was unreadable: %q, was %q", h, got, stateBefore)
	}

	since = l.now(h)
	start := time.Now()
	unACL := fixWithACL(t, l, h)
	l.waitActive(h, 3*time.Minute, "")
	record(t, "key readable again: systemd's retry READY", time.Since(start))
	if j := l.journal(h, since); !strings.Contains(j, "msg=decision action=restart") {
		t.Errorf("%s: journal after the fix lacks the restart decision:\n%s", h, j)
	}
	if got := l.memberID(h); got != ids[h] {
		t.Errorf("%s: member ID %x after the key was fixed, want %x", h, got, ids[h])
	}
	sameIDs(t, "after "+h+"'s key was fixed", l.idsByName("etcd1"), ids)

	// Back as provisioned: group etcd-rejoin, mode 0640, no ACL.
	l.exec(h, "chgrp", "etcd-rejoin", tlsKey)
	if unACL != nil {
		unACL()
	}
	l.exec(h, "chmod", "0640", tlsKey)
	if got := l.exec(h, "ls", "-l", tlsKey); !strings.HasPrefix(got, "-rw-r----- 1 root etcd-rejoin ") {
		t.Errorf("%s: key is %q, want -rw-r----- (no ACL) root etcd-rejoin", h, got)
	}
	if r := l.ctl(time.Minute, "exec", h, "etcd-rejoin", "check"); r.Code != 0 {
		t.Errorf("%s: check with the key root:etcd-rejoin 0640: exit %d, want 0:\n%s", h, r.Code, r.Out)
	}
}

// fixWithACL grants the service's user read access with a POSIX ACL,
// leaving owner and mode root:root 0600, and returns what takes the ACL
// away again. setfacl runs on the lab's machine on the host's root file
// system (the hosts have no acl package), naming the user by its number,
// which is the same inside. Without setfacl the key gets group and mode
// instead, and nil comes back (in CI, setfacl is required).
func fixWithACL(t *testing.T, l *lab, h string) (unACL func()) {
	t.Helper()
	if _, err := exec.LookPath("setfacl"); err != nil {
		if testcmd.InCI() {
			t.Fatalf("setfacl is required (Debian package acl, scripts/deps.sh apt): %v", err)
		}
		t.Logf("NOT RUN: the ACL fix (setfacl not installed; Debian package acl): fixing with group and mode")
		l.exec(h, "sh", "-c", "chgrp etcd-rejoin "+tlsKey+" && chmod 0640 "+tlsKey)
		return nil
	}
	uid := l.exec(h, "id", "-u", "etcd-rejoin")
	onHost := filepath.Join("/var/lib/etcd-rejoin-lab", l.name, "hosts", h, "root", tlsKey)
	setfacl := func(args ...string) {
		if r := run(t, time.Minute, nil, "setfacl", append(args, onHost)...); r.Code != 0 {
			t.Fatalf("setfacl %s %s: exit %d:\n%s", strings.Join(args, " "), onHost, r.Code, r.Out)
		}
	}
	setfacl("-m", "u:"+uid+":r")
	if got := l.exec(h, "ls", "-l", tlsKey); !strings.HasPrefix(got, "-rw-r-----+ 1 root root ") {
		t.Errorf("%s: key is %q after setfacl, want root:root with an ACL", h, got)
	}
	if r := l.ctl(time.Minute, "exec", h, "etcd-rejoin", "check"); r.Code != 0 {
		t.Errorf("%s: check with an ACL for etcd-rejoin on a root:root key: exit %d, want 0:\n%s", h, r.Code, r.Out)
	}
	// One call sets the whole ACL to owner rw, group r: the ACL entry goes
	// and the group (etcd-rejoin by then) can read, with no moment between
	// in which the running member could not read its key.
	return func() { setfacl("--set", "u::rw,g::r,o::-") }
}

// keyAsCredential: the key root:root 0600 again, handed to the service by
// systemd (LoadCredential= in a drop-in) and named in the configuration
// under /run/credentials/etcd-rejoin.service/. The member restarts on its
// data with etcd serving that key, and check passes while the unit runs.
func keyAsCredential(t *testing.T, l *lab, h string, ids map[string]uint64) {
	l.exec(h, "sh", "-c", "chown root:root "+tlsKey+" && chmod 0600 "+tlsKey+
		" && mkdir -p /etc/systemd/system/etcd-rejoin.service.d"+
		" && printf '[Service]\\nLoadCredential=member.key:"+tlsKey+"\\n' >/etc/systemd/system/etcd-rejoin.service.d/50-key-credential.conf"+
		` && sed -i 's|"`+tlsKey+`"|"`+credKey+`"|' /etc/etcd-rejoin.toml`+
		" && systemctl daemon-reload")
	toml := l.exec(h, "grep", "key-file", "/etc/etcd-rejoin.toml")
	if want := `key-file = "` + credKey + `"` + "\n" + `peer-key-file = "` + credKey + `"`; toml != want {
		t.Fatalf("%s: key settings %q, want %q", h, toml, want)
	}
	since := l.now(h)
	start := time.Now()
	if r := l.ctl(3*time.Minute, "exec", h, "systemctl", "restart", unit); r.Code != 0 {
		t.Fatalf("%s: systemctl restart with the key as a credential: exit %d:\n%s", h, r.Code, r.Out)
	}
	l.waitActive(h, 3*time.Minute, "")
	record(t, "key as a credential: restart to READY", time.Since(start))
	if got := l.show(h, "DropInPaths"); got != "/etc/systemd/system/etcd-rejoin.service.d/50-key-credential.conf" {
		t.Errorf("%s: DropInPaths %q", h, got)
	}
	if got := l.exec(h, "stat", "-c", "%U %a", credKey); got != "etcd-rejoin 400" {
		t.Errorf("%s: credential %s is %q, want owner etcd-rejoin, mode 400", h, credKey, got)
	}
	j := l.journal(h, since)
	if !strings.Contains(j, "msg=decision action=restart") {
		t.Errorf("%s: journal lacks the restart decision:\n%s", h, j)
	}
	files := fmt.Sprintf("cert = %s/member.crt, key = %s, trusted-ca = %s/ca.crt, client-cert-auth = true,", tlsDir, credKey, tlsDir)
	for _, want := range []string{"embed: ClientTLS: " + files, "embed: peerTLS: " + files} {
		if !strings.Contains(j, want) {
			t.Errorf("%s: journal lacks %q:\n%s", h, want, j)
		}
	}
	if got := l.memberID(h); got != ids[h] {
		t.Errorf("%s: member ID %x with the key as a credential, want %x", h, got, ids[h])
	}
	sameIDs(t, "with "+h+"'s key as a credential", l.idsByName("etcd2"), ids)
	// While the unit runs, the credential exists and check reads it as
	// etcd-rejoin. (Stopped, it does not exist: see lab/README.md.)
	if r := l.ctl(time.Minute, "exec", h, "etcd-rejoin", "check"); r.Code != 0 {
		t.Errorf("%s: check while the unit runs with the credential: exit %d, want 0:\n%s", h, r.Code, r.Out)
	}
	value := fmt.Sprintf("v-%d", time.Now().UnixNano())
	l.put(h, "/lab/tls/credential", value)
	if got := l.get("etcd3", "/lab/tls/credential"); got != value {
		t.Errorf("etcd3: /lab/tls/credential = %q, want %q", got, value)
	}
}

// putAll writes the keys through the host's member in one call into it,
// with `etcd-rejoin etcdctl`, which takes the endpoints and TLS files from
// the service's configuration.
func putAll(t *testing.T, l *lab, h string, kvs map[string]string) {
	t.Helper()
	args := []string{"sh", "-c", `while [ $# -ge 2 ]; do etcd-rejoin etcdctl put "$1" "$2" || exit 1; shift 2; done`, "sh"}
	for k, v := range kvs {
		args = append(args, k, v)
	}
	if out := l.exec(h, args...); out != strings.TrimSuffix(strings.Repeat("OK\n", len(kvs)), "\n") {
		t.Fatalf("%s: etcd-rejoin etcdctl put: %q, want OK for each of %d keys", h, out, len(kvs))
	}
}

// assertEveryKey: the host's own member holds exactly the keys written
// (serializable reads: what that member itself has).
func assertEveryKey(t *testing.T, l *lab, h string, want map[string]string) {
	t.Helper()
	out := l.mustCtl(time.Minute, "etcdctl", h, "get", "--consistency=s", "--prefix", "/lab/", "-w", "json")
	var resp struct {
		Kvs []struct {
			Key   string `json:"key"`
			Value string `json:"value"`
		} `json:"kvs"`
	}
	if err := json.Unmarshal([]byte(out), &resp); err != nil {
		t.Fatalf("%s: get --prefix /lab/: %v\n%s", h, err, out)
	}
	got := map[string]string{}
	for _, kv := range resp.Kvs {
		k, err1 := base64.StdEncoding.DecodeString(kv.Key)
		v, err2 := base64.StdEncoding.DecodeString(kv.Value)
		if err1 != nil || err2 != nil {
			t.Fatalf("%s: undecodable key or value %+v", h, kv)
		}
		got[string(k)] = string(v)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s: keys under /lab/ %v, want %v", h, got, want)
	}
}
