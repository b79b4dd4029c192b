// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/weft-net/weft/backend/dataplane"
	"github.com/weft-net/weft/backend/vxlan"
	wnetns "github.com/weft-net/weft/internal/netns"
	"github.com/weft-net/weft/subnet"
)

// weftdState is what weftd's /readyz said.
type weftdState struct {
	State   string   // ready, not ready, unreachable, no health listener
	Addr    string   // host:port asked
	Reasons []string // failing conditions, "cond: why"
	Notes   []string // informational lines, "key: text"
	Err     error
}

// Weftd's states in the report.
const (
	weftdReady      = "ready"
	weftdNotReady   = "not ready"
	weftdNoListener = "no health listener"
	weftdNoAnswer   = "unreachable"
)

// readyConditions are the conditions weftd's /readyz lists when it fails
// (internal/daemon/health.go); its other lines are notes.
var readyConditions = []string{"lease", "subnet-file", "forwarding", "peers", "rules"}

// inNS runs f inside the node's namespace (directly when it is ours).
func (v *nodeView) inNS(f func() error) error {
	if !v.ns.IsOpen() {
		return f()
	}
	return wnetns.DoHandle(v.ns, v.flags.netnsPath, f)
}

// readWeftd asks weftd's /readyz, from inside the node's namespace.
func (v *nodeView) readWeftd(ctx context.Context) {
	if v.flags.healthzPort <= 0 {
		v.weftd.State = weftdNoListener
		return
	}
	host := v.flags.healthzIP
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::", "[::]":
		host = "::1"
	}
	addr := net.JoinHostPort(strings.Trim(host, "[]"), strconv.Itoa(v.flags.healthzPort))
	v.weftd.Addr = addr
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	// The socket belongs to the namespace it is made in; the request may
	// then run on any thread.
	dial := func(ctx context.Context, network, a string) (net.Conn, error) {
		var c net.Conn
		err := v.inNS(func() error {
			var d net.Dialer
			var err error
			c, err = d.DialContext(ctx, network, a)
			return err
		})
		return c, err
	}
	client := &http.Client{Transport: &http.Transport{DialContext: dial, DisableKeepAlives: true}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/readyz", nil)
	if err != nil {
		v.weftd.State, v.weftd.Err = weftdNoAnswer, err
		return
	}
	resp, err := client.Do(req)
	if err != nil {
		v.weftd.State, v.weftd.Err = weftdNoAnswer, err
		return
	}
	defer resp.Body.Close()
	v.weftd.State = weftdNotReady
	if resp.StatusCode == http.StatusOK {
		v.weftd.State = weftdReady
	}
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 64<<10))
	for first := true; sc.Scan(); first = false {
		line := strings.TrimSpace(sc.Text())
		if first || line == "" {
			continue // "ready" or "not ready"
		}
		key, _, _ := strings.Cut(line, ":")
		if resp.StatusCode != http.StatusOK && slices.Contains(readyConditions, key) {
			v.weftd.Reasons = append(v.weftd.Reasons, line)
		} else {
			v.weftd.Notes = append(v.weftd.Notes, line)
		}
	}
}

// configNote is weftd's /readyz note that the config in etcd changed
// since it started, or "".
func (v *nodeView) configNote() string {
	for _, n := range v.weftd.Notes {
		if text, ok := strings.CutPrefix(n, "config: "); ok {
			return text
		}
	}
	return ""
}

func (v *nodeView) checkWeftd() {
	w := v.weftd
	switch w.State {
	case weftdNoAnswer:
		v.add(finding{Check: "weftd", Subject: w.Addr, Problem: "unreachable",
			Detail: fmt.Sprintf("weftd's /readyz at %s does not answer (%v): weftd is not running, or listens elsewhere", w.Addr, w.Err),
			Fix: "start weftd (systemctl status weftd; kubectl -n kube-system get pods -l app=weft) and read its log; " +
				"if it runs, give doctor its --healthz-ip/--healthz-port (or WEFTD_HEALTHZ_PORT)"})
	case weftdNotReady:
		v.add(finding{Check: "weftd", Subject: w.Addr, Problem: "not-ready",
			Detail: "weftd reports not ready: " + orDash(strings.Join(w.Reasons, "; ")),
			Fix:    "see weftd's log for these conditions; the other findings name the ones doctor can see"})
	}
}

// Sysctls doctor reads.
const (
	sysIPv4Forward = "net.ipv4.ip_forward"
	sysIPv6Forward = "net.ipv6.conf.all.forwarding"
	sysRPAll       = "net.ipv4.conf.all.rp_filter"
)

// rpFilterSysctl is the rp_filter sysctl of one device (a dot in the
// device's name is a slash in the sysctl's name, as sysctl(8) writes it).
func rpFilterSysctl(dev string) string {
	return "net.ipv4.conf." + strings.ReplaceAll(dev, ".", "/") + ".rp_filter"
}

// readSysctls reads the forwarding and rp_filter sysctls inside the
// node's namespace (/proc/sys/net shows the reading thread's namespace).
func (v *nodeView) readSysctls() {
	paths := map[string]string{
		sysIPv4Forward: "/proc/sys/net/ipv4/ip_forward",
		sysIPv6Forward: "/proc/sys/net/ipv6/conf/all/forwarding",
		sysRPAll:       "/proc/sys/net/ipv4/conf/all/rp_filter",
	}
	if d := v.fams[0].dev; d != nil {
		paths[rpFilterSysctl(d.Name)] = "/proc/sys/net/ipv4/conf/" + d.Name + "/rp_filter"
	}
	v.sysctls = map[string]string{}
	_ = v.inNS(func() error {
		for n, path := range paths {
			if b, err := os.ReadFile(path); err == nil {
				v.sysctls[n] = strings.TrimSpace(string(b))
			}
		}
		return nil
	})
}

func (v *nodeView) checkSysctls() {
	want := []string{sysIPv4Forward}
	if v.cfg != nil && !v.cfg.EnableIPv4 {
		want = nil
	}
	if v.cfg != nil && v.cfg.EnableIPv6 {
		want = append(want, sysIPv6Forward)
	}
	for _, n := range want {
		val, ok := v.sysctls[n]
		if !ok || val == "1" {
			continue
		}
		v.add(finding{Check: "sysctl", Subject: n, Problem: "wrong",
			Detail: fmt.Sprintf("%s is %s: this node does not forward pod traffic to or from other nodes", n, val),
			Fix: fmt.Sprintf("sysctl -w %s=1 (weftd turns it back on within seconds while it runs: if it stays off, weftd is not "+
				"running or cannot write /proc/sys; make it permanent in /etc/sysctl.d)", n)})
	}
}

// checkRPFilter reports strict reverse-path filtering on the VXLAN device
// when some peer subnet is not routed through it: the kernel then drops
// every packet that peer's pods send here. entryFindings are what the
// route, neighbour and FDB checks found.
func (v *nodeView) checkRPFilter(entryFindings []finding) {
	fv := v.fams[0]
	if fv.dev == nil {
		return
	}
	all, _ := strconv.Atoi(v.sysctls[sysRPAll])
	dev, _ := strconv.Atoi(v.sysctls[rpFilterSysctl(fv.dev.Name)])
	if max(all, dev) != 1 { // the kernel uses the larger; 2 (loose) drops nothing here
		return
	}
	var subnets []string
	for _, f := range entryFindings {
		if f.Check == "route" && (f.Problem == "missing" || f.Problem == "wrong") && strings.Contains(f.Subject, ".") {
			subnets = append(subnets, f.Subject)
		}
	}
	if len(subnets) == 0 {
		return
	}
	fix := fmt.Sprintf("fix the routes above (weftd does on its next resync); or make the filter loose: sysctl -w %s=2", rpFilterSysctl(fv.dev.Name))
	if all == 1 {
		fix += " " + sysRPAll + "=2"
	}
	v.add(finding{Check: "sysctl", Subject: rpFilterSysctl(fv.dev.Name), Problem: "drops",
		Detail: fmt.Sprintf("strict reverse-path filtering (rp_filter %d on all, %d on %s) drops every packet from %s: "+
			"those subnets are not routed through %s", all, dev, fv.name, strings.Join(subnets, ", "), fv.name),
		Fix: fix})
}

// checkChecksum compares the devices' tx checksum offload with
// Backend.TxChecksumOffload: "auto" wants it off on kernels with the VXLAN
// checksum bug (before 5.7), "on" and "off" want it so.
func (v *nodeView) checkChecksum() {
	mode := v.cfg.Backend.TxChecksumOffload
	release := kernelRelease()
	buggy, _ := vxlan.ChecksumBuggy(release)
	var want bool
	switch {
	case mode == subnet.OffloadOn:
		want = true
	case mode == subnet.OffloadOff:
		want = false
	case buggy:
		want = false
	default:
		return // auto on a fixed kernel: the operator's choice stands
	}
	for _, fv := range v.fams {
		if fv.dev == nil || fv.txChecksum == nil || *fv.txChecksum == want {
			continue
		}
		why := fmt.Sprintf("Backend.TxChecksumOffload is %q", mode)
		if mode != subnet.OffloadOn && mode != subnet.OffloadOff {
			why += fmt.Sprintf(" and kernel %s predates 5.7, which corrupts the checksum of NATed VXLAN packets (TCP to Services stalls)", release)
		}
		v.add(finding{Check: "device", Subject: fv.name, Problem: "wrong",
			Detail: fmt.Sprintf("tx checksum offload on %s is %s, want %s: %s", fv.name, onOff(*fv.txChecksum), onOff(want), why),
			Fix:    fmt.Sprintf("ethtool -K %s tx %s (weftd sets it at start: restart weftd)", fv.name, onOff(want))})
	}
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// kernelRelease is uname -r.
func kernelRelease() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}

// checkConfigChanged reports a config in etcd that weftd has not applied:
// weftd says so on /readyz, or our lease carries another VNI than the
// config (weftd writes the VNI it runs with). It returns true when the
// devices are another VNI's, so checking them against etcd's is moot.
func (v *nodeView) checkConfigChanged() bool {
	if v.own != nil {
		if d, err := subnet.DecodeVXLANData(v.own.Attrs.BackendData); err == nil && d.VNI != 0 && d.VNI != v.cfg.Backend.VNI {
			v.running = d.VNI
		}
	}
	note := v.configNote()
	if v.running == 0 && note == "" {
		return false
	}
	detail := "config changed since weftd started: "
	if note != "" {
		detail += "weftd reports it " + note
	} else {
		detail += fmt.Sprintf("weftd runs with VNI %d (our lease, device %s), the config in etcd has Backend.VNI %d (device %s)",
			v.running, vxlan.DeviceName(v.running), v.cfg.Backend.VNI, vxlan.DeviceName(v.cfg.Backend.VNI))
	}
	v.add(finding{Check: "config", Subject: "network config", Problem: "changed", Detail: detail,
		Fix: "restart weftd on this node; every node must restart weftd to apply the change (`weftctl leases` lists them)"})
	return v.running != 0
}

// checkLocal is what doctor checks without a config: weft's device, its
// MTU against subnet.env's, and subnet.env itself.
func (v *nodeView) checkLocal() {
	fv := v.fams[0]
	if v.envErr != nil {
		v.envUnusable()
	}
	switch {
	case fv.dev == nil:
		v.add(finding{Check: "device", Subject: "flannel.*", Problem: "missing",
			Detail: "no VXLAN device named flannel.<VNI>: this node sends nothing to its peers over the overlay",
			Fix:    "weftd creates it at start: check that weftd runs and its log"})
	case !fv.dev.Up:
		v.add(finding{Check: "device", Subject: fv.name, Problem: "wrong",
			Detail: fv.name + " is down", Fix: fmt.Sprintf("ip link set %s up", fv.name)})
	case v.envErr == nil && v.env.MTU != 0 && v.env.MTU != fv.dev.MTU:
		v.add(finding{Check: "device", Subject: fv.name, Problem: "wrong",
			Detail: fmt.Sprintf("%s MTU is %d, subnet.env says FLANNEL_MTU=%d: pods send packets the overlay cannot carry", fv.name, fv.dev.MTU, v.env.MTU),
			Fix:    "restart weftd: it sets both from the config"})
	}
}

// txChecksumOf reads a device's tx checksum offload; nil when unknown.
func txChecksumOf(dp dataplane.Dataplane, name string) *bool {
	on, err := dp.TxChecksum(name)
	if err != nil {
		return nil
	}
	return &on
}
