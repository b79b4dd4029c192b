// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestDoctorShortTTL: a node whose lease has a 20 s TTL (weftd renews it
// every 6.7 s) is healthy: doctor fits the renew margin to the TTL as
// weftd does, instead of comparing the remaining seconds with an hour.
func TestDoctorShortTTL(t *testing.T) {
	e := newEnv(t)
	n := newNode(t, e, vxlanConfig)
	if err := e.reg.DeleteLease(context.Background(), n.own); err != nil {
		t.Fatal(err)
	}
	n.own = e.lease("10.244.1.0-24", "198.18.0.1", mac1, 20*time.Second)
	if rep, r := n.doctor(); !rep.Healthy {
		t.Fatalf("a 20 s lease with 20 s left: %v\n%s", summary(rep.Findings), r.stdout)
	}
	// weftd's own flag, in minutes: a margin above the TTL is a fifth of it.
	if rep, r := n.doctor("--subnet-lease-renew-margin", "1440"); !rep.Healthy {
		t.Fatalf("with weftd's margin of a day: %v\n%s", summary(rep.Findings), r.stdout)
	}
}

// TestDoctorEtcdUnreachable: without etcd doctor says so and still checks
// the node's kernel and subnet.env.
func TestDoctorEtcdUnreachable(t *testing.T) {
	e := newEnv(t)
	n := newNode(t, e, vxlanConfig)
	args := []string{"doctor", "--netns", n.ns.Path(), "--subnet-file", n.subnetFile, "-o", "json",
		"--etcd-endpoints", "http://127.0.0.1:1", "--timeout", "500ms"}
	check := func(want []string) {
		t.Helper()
		var out, errb strings.Builder
		code := run(context.Background(), args, &out, &errb)
		rep := parseReport(t, out.String())
		if code != 1 || rep.Node.Etcd != "unreachable" || rep.Node.Device != "flannel.1" {
			t.Errorf("exit %d, node %+v\n%s", code, rep.Node, errb.String())
		}
		if diff := cmp.Diff(want, summary(rep.Findings)); diff != "" {
			t.Errorf("findings (-want +got):\n%s\n%s", diff, out.String())
		}
		if f := rep.Findings[0]; !strings.Contains(f.Fix, "--etcd-endpoints http://127.0.0.1:1 (from flag --etcd-endpoints)") {
			t.Errorf("etcd fix %q does not name the setting and its source", f.Fix)
		}
	}
	check([]string{"etcd http://127.0.0.1:1 unreachable"})
	n.ip("link set flannel.1 down")
	n.sysctl("net.ipv4.ip_forward=0")
	check([]string{"etcd http://127.0.0.1:1 unreachable", "sysctl net.ipv4.ip_forward wrong", "device flannel.1 wrong"})
}

// fakeReadyz serves a /readyz body in weftd's format (internal/daemon's
// handleReady) inside the node's namespace and returns its port.
func fakeReadyz(t *testing.T, n *testNode, status int, body string) int {
	t.Helper()
	var ln net.Listener
	if err := n.ns.Do(func() error {
		var err error
		ln, err = net.Listen("tcp", "127.0.0.1:0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{ReadHeaderTimeout: time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
		fmt.Fprint(w, body)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().(*net.TCPAddr).Port
}

// TestDoctorReadyz: doctor asks weftd's /readyz inside the node's
// namespace and shows its reasons and notes.
func TestDoctorReadyz(t *testing.T) {
	e := newEnv(t)
	n := newNode(t, e, vxlanConfig)
	rep, _ := n.doctor()
	if rep.Node.Weftd != weftdNoListener || !rep.Healthy {
		t.Errorf("--healthz-port 0: weftd %q, findings %v", rep.Node.Weftd, summary(rep.Findings))
	}
	port := fakeReadyz(t, n, http.StatusOK, "ready\netcd: unreachable since 10:00:00, forwarding with the peers known\n")
	rep, _ = n.doctor("--healthz-port", fmt.Sprint(port))
	if rep.Node.Weftd != weftdReady || !rep.Healthy || !slices.Equal(rep.Node.WeftdNotes, []string{"etcd: unreachable since 10:00:00, forwarding with the peers known"}) {
		t.Errorf("ready: node %+v, findings %v", rep.Node, summary(rep.Findings))
	}
	port = fakeReadyz(t, n, http.StatusServiceUnavailable, "not ready\nlease: lost: the etcd lease expired, re-claiming the same subnet\npeers: waiting\n")
	rep, r := n.doctor("--healthz-ip", "0.0.0.0", "--healthz-port", fmt.Sprint(port))
	if diff := cmp.Diff([]string{fmt.Sprintf("weftd 127.0.0.1:%d not-ready", port)}, summary(rep.Findings)); diff != "" {
		t.Errorf("not ready (-want +got):\n%s", diff)
	} else if d := rep.Findings[0].Detail; !strings.Contains(d, "lease: lost: the etcd lease expired") || !strings.Contains(d, "peers: waiting") {
		t.Errorf("detail %q lacks weftd's reasons", d)
	}
	golden(t, "doctor-not-ready.txt", strings.ReplaceAll(n.scrub(n.run("doctor", "--netns", n.ns.Path(), "--subnet-file", n.subnetFile,
		"--healthz-port", fmt.Sprint(port)).stdout), fmt.Sprint(port), "<port>"))
	_ = r
	// Nothing listens on the port any more.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	free := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	rep, _ = n.doctor("--healthz-port", fmt.Sprint(free))
	if diff := cmp.Diff([]string{fmt.Sprintf("weftd 127.0.0.1:%d unreachable", free)}, summary(rep.Findings)); diff != "" {
		t.Errorf("no weftd (-want +got):\n%s", diff)
	}
}

// TestDoctorConfigChanged: a VNI change weftd has not applied is reported
// as such, not as a missing device; a change weftd reports on /readyz is
// reported with weftd's words.
func TestDoctorConfigChanged(t *testing.T) {
	e := newEnv(t)
	n := newNode(t, e, vxlanConfig)
	e.putConfig(`{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan","VNI":2}}`)
	rep, r := n.doctor()
	if diff := cmp.Diff([]string{"config network config changed"}, summary(rep.Findings)); diff != "" {
		t.Fatalf("findings (-want +got):\n%s\n%s", diff, r.stdout)
	}
	f := rep.Findings[0]
	if !strings.Contains(f.Detail, "config changed since weftd started") || !strings.Contains(f.Detail, "VNI 1") ||
		!strings.HasPrefix(f.Fix, "restart weftd") {
		t.Errorf("finding %+v", f)
	}
	e.putConfig(`{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan","Port":4789}}`)
	port := fakeReadyz(t, n, http.StatusOK, "ready\nconfig: changed in etcd since weftd started (Backend.Port 8472 → 4789): restart weftd to apply it\n")
	rep, _ = n.doctor("--healthz-port", fmt.Sprint(port))
	got := summary(rep.Findings)
	if !slices.Contains(got, "config network config changed") || !slices.Contains(got, "device flannel.1 wrong") {
		t.Errorf("findings %v", got)
	}
}

// TestDoctorRPFilter: strict rp_filter on the device matters when a peer
// subnet is not routed through it; loose mode does not drop.
func TestDoctorRPFilter(t *testing.T) {
	e := newEnv(t)
	n := newNode(t, e, vxlanConfig)
	n.sysctl("net.ipv4.conf.flannel/1.rp_filter=1")
	if rep, r := n.doctor(); !rep.Healthy {
		t.Fatalf("strict rp_filter with every route in place: %v\n%s", summary(rep.Findings), r.stdout)
	}
	n.ip("route del 10.244.2.0/24")
	rep, _ := n.doctor()
	want := []string{"route 10.244.2.0/24 missing", "sysctl net.ipv4.conf.flannel/1.rp_filter drops"}
	if diff := cmp.Diff(want, summary(rep.Findings)); diff != "" {
		t.Errorf("findings (-want +got):\n%s", diff)
	}
	if fix := rep.Findings[1].Fix; !strings.Contains(fix, "sysctl -w net.ipv4.conf.flannel/1.rp_filter=2") {
		t.Errorf("fix %q", fix)
	}
	n.sysctl("net.ipv4.conf.flannel/1.rp_filter=2")
	rep, _ = n.doctor()
	if diff := cmp.Diff(want[:1], summary(rep.Findings)); diff != "" {
		t.Errorf("loose mode (-want +got):\n%s", diff)
	}
}

// TestDoctorChecksum: tx checksum offload against Backend.TxChecksumOffload.
func TestDoctorChecksum(t *testing.T) {
	e := newEnv(t)
	n := newNode(t, e, `{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan","TxChecksumOffload":"off"}}`)
	n.ns.MustRun(t, "ethtool", "-K", "flannel.1", "tx", "on")
	rep, _ := n.doctor()
	if diff := cmp.Diff([]string{"device flannel.1 wrong"}, summary(rep.Findings)); diff != "" {
		t.Fatalf("findings (-want +got):\n%s", diff)
	}
	if f := rep.Findings[0]; f.Fix != "ethtool -K flannel.1 tx off (weftd sets it at start: restart weftd)" || !strings.Contains(f.Detail, "tx checksum offload") {
		t.Errorf("finding %+v", f)
	}
	n.ns.MustRun(t, "ethtool", "-K", "flannel.1", "tx", "off")
	if rep, r := n.doctor(); !rep.Healthy {
		t.Errorf("offload off as configured: %v\n%s", summary(rep.Findings), r.stdout)
	}
}

// TestDoctorFromNodeEnv: on a node with only weftd's env file, doctor
// finds etcd, the subnet file and the health listener from it.
func TestDoctorFromNodeEnv(t *testing.T) {
	e := newEnv(t)
	n := newNode(t, e, vxlanConfig)
	port := fakeReadyz(t, n, http.StatusOK, "ready\n")
	envFile := writeFile(t, "weftd.env", fmt.Sprintf("WEFTD_ETCD_ENDPOINTS=%s\nWEFTD_ETCD_PREFIX=%s\nWEFTD_SUBNET_FILE=%s\nWEFTD_HEALTHZ_PORT=%d\nWEFTD_SUBNET_LEASE_RENEW_MARGIN=30\n",
		strings.Join(e.srv.Endpoints(), ","), e.prefix, n.subnetFile, port))
	withEnv(t, map[string]string{"WEFTCTL_NODE_ENV": envFile})
	r := runArgs("doctor", "--netns", n.ns.Path(), "-o", "json")
	rep := parseReport(t, r.stdout)
	if r.code != 0 || !rep.Healthy || rep.Node.Weftd != weftdReady || rep.Node.Subnet != "10.244.1.0/24" {
		t.Errorf("exit %d, node %+v, findings %v\n%s", r.code, rep.Node, summary(rep.Findings), r.stderr)
	}
	// The subnet file came from the env file: a wrong one there is what doctor reads.
	envFile2 := writeFile(t, "weftd2.env", fmt.Sprintf("WEFTD_ETCD_ENDPOINTS=%s\nWEFTD_ETCD_PREFIX=%s\nWEFTD_SUBNET_FILE=%s\n",
		strings.Join(e.srv.Endpoints(), ","), e.prefix, filepath.Join(t.TempDir(), "none.env")))
	withEnv(t, map[string]string{"WEFTCTL_NODE_ENV": envFile2})
	rep = parseReport(t, runArgs("doctor", "--netns", n.ns.Path(), "-o", "json").stdout)
	if got := summary(rep.Findings); len(got) != 1 || !strings.HasPrefix(got[0], "subnet.env ") || !strings.HasSuffix(got[0], "none.env missing") {
		t.Errorf("findings %v", got)
	}
}

func parseReport(t *testing.T, s string) doctorReport {
	t.Helper()
	var rep doctorReport
	if err := jsonUnmarshal(s, &rep); err != nil {
		t.Fatalf("doctor output is not a report: %v\n%s", err, s)
	}
	return rep
}
