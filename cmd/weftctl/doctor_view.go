// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package main

import (
	"errors"
	"net/netip"
	"strconv"
	"time"

	"github.com/vishvananda/netns"

	"github.com/weft-net/weft/backend/dataplane"
	"github.com/weft-net/weft/backend/vxlan"
	"github.com/weft-net/weft/subnet"
	"github.com/weft-net/weft/subnet/subnetenv"
)

// nodeView is everything doctor knows about the node: etcd's view, the
// subnet file and the kernel's tables. The checks are pure over it.
type nodeView struct {
	flags   doctorFlags
	ns      netns.NsHandle // the node's namespace; netns.None() for ours
	conn    *conn          // nil when etcd could not be set up
	etcdErr error          // etcd did not answer: no config, no leases
	cfg     *subnet.Config // nil without etcd or a usable config
	leases  []subnet.Lease
	env     subnetenv.Env
	envErr  error

	links   []dataplane.Link
	byIndex map[int]dataplane.Link
	fams    []*famView // IPv4, then IPv6 in dual stack
	routes  map[dataplane.Family][]dataplane.Route

	publicIP netip.Addr // flag, else the IPv4 device's local address
	own      *subnet.Lease
	ttl      time.Duration
	granted  time.Duration // the TTL our etcd lease was granted with; 0 unknown
	ttlErr   error

	weftd   weftdState
	sysctls map[string]string // sysctl name -> value ("" unreadable)
	// running is the VNI weftd runs with when the config in etcd has
	// another one (weftd applies the change only when it restarts); 0 when
	// they agree or it cannot be told.
	running uint32

	findings []finding
	admitted int // peers: admitted leases that carry backend data
}

// famView is one address family's device and its entries.
type famView struct {
	fam      dataplane.Family
	name     string // flannel.<VNI> or flannel-v6.<VNI>
	overhead int
	dev      *dataplane.Link // nil when missing
	neighs   []dataplane.Neigh
	fdb      []dataplane.FDBEntry
	// txChecksum is the device's tx checksum offload, nil when unknown.
	txChecksum *bool
}

func (v *nodeView) add(f finding) { v.findings = append(v.findings, f) }

func (v *nodeView) readKernel(dp dataplane.Dataplane) error {
	var err error
	if v.links, err = dp.Links(); err != nil {
		return err
	}
	v.byIndex = make(map[int]dataplane.Link, len(v.links))
	for _, l := range v.links {
		v.byIndex[l.Index] = l
	}
	vni, dual := v.deviceVNI()
	v.fams = []*famView{{fam: dataplane.IPv4, name: vxlan.DeviceName(vni), overhead: 50}}
	if dual {
		v.fams = append(v.fams, &famView{fam: dataplane.IPv6, name: vxlan.DeviceNameV6(vni), overhead: 70})
	}
	v.routes = map[dataplane.Family][]dataplane.Route{}
	for _, fv := range v.fams {
		if v.routes[fv.fam], err = dp.Routes(fv.fam); err != nil {
			return err
		}
		l, err := dp.LinkByName(fv.name)
		if errors.Is(err, dataplane.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		l = v.byIndex[l.Index]
		fv.dev = &l
		if fv.neighs, err = dp.Neighs(l.Index); err != nil {
			return err
		}
		if fv.fdb, err = dp.FDB(l.Index); err != nil {
			return err
		}
		fv.txChecksum = txChecksumOf(dp, l.Name)
	}
	return nil
}

// deviceVNI is the VNI whose devices doctor inspects: the config's, or
// without a config the one of a VXLAN device named like weft's (etcd
// unreachable: the kernel is all there is).
func (v *nodeView) deviceVNI() (vni uint32, dual bool) {
	if v.cfg != nil {
		return v.cfg.Backend.VNI, v.cfg.EnableIPv6
	}
	vni = 1
	for _, l := range v.links {
		if l.VXLAN != nil && l.Name == vxlan.DeviceName(l.VXLAN.VNI) {
			vni = l.VXLAN.VNI
			break
		}
	}
	for _, l := range v.links {
		if l.VXLAN != nil && l.Name == vxlan.DeviceNameV6(vni) {
			dual = true
		}
	}
	return vni, dual
}

// findOwn finds our lease: by --public-ip, else by the IPv4 device's local
// address, else by the subnet in subnet.env.
func (v *nodeView) findOwn() {
	v.publicIP = v.flags.publicIP
	if d := v.fams[0].dev; !v.publicIP.IsValid() && d != nil && d.VXLAN != nil {
		v.publicIP = d.VXLAN.Local
	}
	var bySubnet *subnet.Lease
	var byIP []*subnet.Lease
	for i := range v.leases {
		l := &v.leases[i]
		if v.envErr == nil && v.env.Subnet.IsValid() && l.Subnet == v.env.Subnet.Masked() {
			bySubnet = l
		}
		if v.publicIP.IsValid() && l.Attrs.PublicIP == v.publicIP {
			byIP = append(byIP, l)
		}
	}
	switch {
	case len(byIP) > 0:
		// With duplicates (reported by checkLeases), prefer the one subnet.env names.
		v.own = byIP[0]
		for _, l := range byIP {
			if l == bySubnet {
				v.own = l
			}
		}
	case !v.publicIP.IsValid():
		v.own = bySubnet
	}
}

// linkName names a link index for messages and fixes.
func (v *nodeView) linkName(index int) string {
	if l, ok := v.byIndex[index]; ok {
		return l.Name
	}
	return "#" + strconv.Itoa(index)
}

// check runs every check the gathered facts allow: the local ones always,
// those against etcd's view when etcd answered with a usable config.
func (v *nodeView) check() {
	v.checkWeftd()
	v.checkSysctls()
	if v.cfg == nil {
		v.checkLocal()
		return
	}
	v.checkLeases()
	v.checkOwn()
	v.checkEnv()
	if v.checkConfigChanged() {
		return // the devices are the running config's: comparing them with etcd's says nothing new
	}
	var usable []*famView
	for _, fv := range v.fams {
		if v.checkDevice(fv) {
			usable = append(usable, fv)
		}
	}
	before := len(v.findings)
	v.checkEntries(usable)
	v.checkRPFilter(v.findings[before:])
	v.checkChecksum()
}

// doctorReport is doctor's output.
type doctorReport struct {
	Healthy  bool       `json:"healthy"`
	Node     nodeReport `json:"node"`
	Findings []finding  `json:"findings"`
}

type nodeReport struct {
	// Etcd is "ok" or "unreachable"; Weftd is weftd's /readyz state:
	// ready, not ready, unreachable or "no health listener".
	Etcd      string `json:"etcd"`
	Weftd     string `json:"weftd"`
	WeftdAddr string `json:"weftdAddr,omitempty"`
	// WeftdNotes are /readyz's informational lines (an etcd outage, a
	// config change weftd has not applied).
	WeftdNotes  []string `json:"weftdNotes,omitempty"`
	PublicIP    string   `json:"publicIP,omitempty"`
	Subnet      string   `json:"subnet,omitempty"`
	IPv6Subnet  string   `json:"ipv6Subnet,omitempty"`
	EtcdLeaseID string   `json:"etcdLeaseID,omitempty"`
	ExpiresIn   string   `json:"expiresIn,omitempty"`
	Device      string   `json:"device,omitempty"`
	Peers       int      `json:"peers"`
	Leases      int      `json:"leases"`
}

func (v *nodeView) report() doctorReport {
	r := doctorReport{Healthy: len(v.findings) == 0, Findings: v.findings, Node: nodeReport{
		Etcd: "ok", Weftd: v.weftd.State, WeftdAddr: v.weftd.Addr, WeftdNotes: v.weftd.Notes,
		PublicIP: addrText(v.publicIP), Leases: len(v.leases),
	}}
	if v.etcdErr != nil {
		r.Node.Etcd = "unreachable"
	}
	if r.Findings == nil {
		r.Findings = []finding{}
	}
	if len(v.fams) > 0 && v.fams[0].dev != nil {
		r.Node.Device = v.fams[0].name
	}
	if v.own != nil {
		r.Node.Subnet = v.own.Subnet.String()
		if v.own.IPv6Subnet.IsValid() {
			r.Node.IPv6Subnet = v.own.IPv6Subnet.String()
		}
		r.Node.EtcdLeaseID = leaseIDString(v.own.LeaseID)
		r.Node.Peers = v.admitted
		switch {
		case v.own.Reserved():
			r.Node.ExpiresIn = expiresReserved
		case v.ttlErr != nil:
			r.Node.ExpiresIn = expiresExpired
		default:
			r.Node.ExpiresIn = v.ttl.String()
		}
	}
	return r
}
