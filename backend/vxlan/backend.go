// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package vxlan

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/weft-net/weft/backend"
	"github.com/weft-net/weft/backend/dataplane"
	"github.com/weft-net/weft/subnet"
)

var _ backend.Backend = (*Backend)(nil)

// Overheads of VXLAN encapsulation: outer IPv4 (20) or IPv6 (40) header,
// UDP (8), VXLAN (8) and inner Ethernet (14) headers.
const (
	overheadV4 = 50
	overheadV6 = 70
)

// DefaultResyncInterval is how often the kernel is compared with the
// desired state in full, in case a change went unnoticed.
const DefaultResyncInterval = 30 * time.Second

// Options tune a Backend. The zero value is usable.
type Options struct {
	// Log receives the backend's logs (default: discarded).
	Log logrus.FieldLogger
	// ResyncInterval is the period of full reconciles (default 30 s).
	ResyncInterval time.Duration
	// RetryInterval is the first delay before retrying after a failed
	// reconcile; it doubles up to ResyncInterval (default 1 s).
	RetryInterval time.Duration
	// DualStack also sets up flannel-v6.<VNI> and programs IPv6 peers.
	DualStack bool
	// IPv6Only sets up flannel-v6.<VNI> alone (no flannel.<VNI>) for an
	// IPv6-only network; the lease gets PublicIP 0.0.0.0, as flanneld's.
	IPv6Only bool
	// OnReconcile, if set, is called after every full reconcile with its
	// duration, the number of entries repaired and its error.
	OnReconcile func(d time.Duration, repairs int, err error)
	// OnPeerProgrammed, if set, is called when a peer change requested by
	// SetPeers or ApplyEvents is in the kernel, with the time it took.
	OnPeerProgrammed func(latency time.Duration)
	// KernelRelease overrides `uname -r` for TxChecksumOffload "auto".
	KernelRelease string
	// PeerLogWindow is the period over which at most peerLogLimit peers
	// are logged one by one at info level (default 1 min; see peerLog).
	PeerLogWindow time.Duration
}

// DefaultPeerLogWindow is Options.PeerLogWindow's default.
const DefaultPeerLogWindow = time.Minute

// Backend is the VXLAN backend. Build it with New. Setup must be called
// before Run; SetPeers, ApplyEvents, Status and MTU are safe to call from
// any goroutine.
type Backend struct {
	cfg  subnet.BackendConfig
	dp   dataplane.Dataplane
	opts Options
	log  logrus.FieldLogger

	// Set by Setup, read by Run (which starts after Setup returns).
	ext  backend.ExternalInterface
	devs []*device
	mtu  int

	in     inbox
	status statusBox
	// budget is the Run loop's count of per-peer log lines (see peerLog).
	budget peerLogBudget
}

// New returns a VXLAN backend for cfg (the network config's Backend
// section) programming dp.
func New(cfg subnet.BackendConfig, dp dataplane.Dataplane, opts Options) (*Backend, error) {
	if cfg.Type != "" && cfg.Type != subnet.BackendVXLAN {
		return nil, fmt.Errorf("backend type %q: the vxlan backend cannot run it", cfg.Type)
	}
	if cfg.VNI > 1<<24-1 {
		return nil, fmt.Errorf("backend VNI %d: more than 24 bits", cfg.VNI)
	}
	if cfg.Port == 0 {
		cfg.Port = subnet.DefaultVXLANPort
	}
	if opts.Log == nil {
		l := logrus.New()
		l.SetOutput(io.Discard)
		opts.Log = l
	}
	if opts.ResyncInterval <= 0 {
		opts.ResyncInterval = DefaultResyncInterval
	}
	if opts.RetryInterval <= 0 {
		opts.RetryInterval = time.Second
	}
	if opts.PeerLogWindow <= 0 {
		opts.PeerLogWindow = DefaultPeerLogWindow
	}
	if opts.KernelRelease == "" {
		opts.KernelRelease = kernelRelease()
	}
	b := &Backend{cfg: cfg, dp: dp, opts: opts, log: opts.Log.WithField("component", "vxlan")}
	b.in.init()
	return b, nil
}

// DeviceName is flannel's name for the VXLAN device of a VNI, which weft
// keeps so a node switched from flanneld adopts its device.
func DeviceName(vni uint32) string { return "flannel." + strconv.FormatUint(uint64(vni), 10) }

// DeviceNameV6 is the IPv6 device's name.
func DeviceNameV6(vni uint32) string { return "flannel-v6." + strconv.FormatUint(uint64(vni), 10) }

// Setup creates or adopts the device(s) on ext and returns our lease's
// attributes.
func (b *Backend) Setup(_ context.Context, ext backend.ExternalInterface, prev *subnet.LeaseAttrs) (subnet.LeaseAttrs, error) {
	devs, err := b.newDevices(ext)
	if err != nil {
		return subnet.LeaseAttrs{}, err
	}
	base := ext.MTU
	if b.cfg.MTU > 0 {
		base = b.cfg.MTU
	}
	b.ext, b.devs = ext, devs
	b.mtu = 0
	for _, d := range b.devs {
		d.mtu = base - d.overhead
		if b.mtu == 0 || d.mtu < b.mtu {
			b.mtu = d.mtu
		}
	}
	underlay, err := b.underlay()
	if err != nil {
		return subnet.LeaseAttrs{}, err
	}
	for _, d := range b.devs {
		var prevData []byte
		if prev != nil {
			prevData = []byte(prev.BackendData)
			if d.fam == dataplane.IPv6 {
				prevData = prev.BackendV6Data
			}
		}
		if d.mac, err = b.stableMAC(d, prevData); err != nil {
			return subnet.LeaseAttrs{}, err
		}
		if _, err := b.ensureDevice(d, underlay); err != nil {
			return subnet.LeaseAttrs{}, err
		}
	}
	return b.leaseAttrs(ext)
}

// SetUnderlay moves a running backend to a changed underlay (a new address,
// or the interface back with a new index). The Run loop applies it: the
// devices get the new local address (an incompatible device is replaced,
// keeping its MAC), their addresses and every peer entry are programmed
// again. It returns what to publish in our lease. The device MTU stays as
// Setup computed it: subnet.env, and so the pods, were written with it.
func (b *Backend) SetUnderlay(ext backend.ExternalInterface) (subnet.LeaseAttrs, error) {
	if len(b.devs) == 0 {
		return subnet.LeaseAttrs{}, errors.New("vxlan backend: SetUnderlay called before Setup")
	}
	if err := b.checkUnderlay(ext); err != nil {
		return subnet.LeaseAttrs{}, err
	}
	b.in.setUnderlay(ext)
	return b.leaseAttrs(ext)
}

// applyUnderlay runs on the Run loop: it adopts an underlay handed to
// SetUnderlay.
func (b *Backend) applyUnderlay(ext backend.ExternalInterface) {
	b.ext = ext
	for _, d := range b.devs {
		d.local = localAddr(d.fam, ext)
	}
	b.log.WithFields(logrus.Fields{"iface": ext.Name, "local": localAddr(b.devs[0].fam, ext)}).Info("moving the devices to the new underlay")
}

// stableMAC returns the existing device's MAC, else the one published in
// our previous lease, else a new random locally administered unicast MAC.
func (b *Backend) stableMAC(d *device, prev []byte) (subnet.MAC, error) {
	l, err := b.dp.LinkByName(d.name)
	switch {
	case err == nil && !l.MAC.IsZero():
		return l.MAC, nil
	case err != nil && !errors.Is(err, dataplane.ErrNotFound):
		return subnet.MAC{}, fmt.Errorf("look up device %s: %w", d.name, err)
	}
	if len(prev) > 0 {
		if v, err := subnet.DecodeVXLANData(prev); err == nil && !v.VtepMAC.IsZero() {
			return v.VtepMAC, nil
		}
	}
	var m subnet.MAC
	if _, err := rand.Read(m[:]); err != nil {
		return m, fmt.Errorf("generate VTEP MAC: %w", err)
	}
	m[0] = m[0]&^0x01 | 0x02 // unicast, locally administered
	return m, nil
}

func (b *Backend) leaseAttrs(ext backend.ExternalInterface) (subnet.LeaseAttrs, error) {
	a := subnet.LeaseAttrs{PublicIP: ext.PublicIP, BackendType: subnet.BackendVXLAN}
	if !b.wantV4() {
		a.PublicIP = netip.IPv4Unspecified() // flanneld's "no IPv4"
	}
	for _, d := range b.devs {
		data, err := json.Marshal(subnet.VXLANData{VNI: b.cfg.VNI, VtepMAC: d.mac})
		if err != nil {
			return subnet.LeaseAttrs{}, fmt.Errorf("encode backend data: %w", err)
		}
		if d.fam == dataplane.IPv4 {
			a.BackendData = data
		} else {
			a.PublicIPv6, a.BackendV6Data = ext.PublicIPv6, data
		}
	}
	return a, nil
}

// MTU is the overlay MTU for subnet.env: the underlay MTU (or Backend.MTU)
// minus 50, or minus 70 in dual stack, where pods' packets may take the
// IPv6 device, and in an IPv6-only network (flanneld writes minus 50 there,
// which overfills an IPv6 underlay by 20 bytes).
func (b *Backend) MTU() int { return b.mtu }

// Teardown deletes the device(s) and the routes carrying RouteProtocol.
func (b *Backend) Teardown() error {
	var errs []error
	for _, d := range b.devs {
		if err := b.dp.DelLink(d.name); err != nil {
			errs = append(errs, err)
		}
	}
	for _, f := range []dataplane.Family{dataplane.IPv4, dataplane.IPv6} {
		rs, err := b.dp.Routes(f)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, r := range rs {
			if r.Protocol == RouteProtocol {
				if err := b.dp.DelRoute(r); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	return errors.Join(errs...)
}

// Status reports progress.
func (b *Backend) Status() backend.Status { return b.status.get() }

type statusBox struct {
	mu sync.Mutex
	s  backend.Status
}

func (s *statusBox) get() backend.Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.s
}

func (s *statusBox) update(f func(*backend.Status)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(&s.s)
}

// ownAddr is the address a device carries: our subnet's network address
// as a host prefix (flannel's convention, e.g. 10.244.3.0/32).
func ownAddr(sn netip.Prefix) netip.Prefix {
	return netip.PrefixFrom(sn.Addr(), sn.Addr().BitLen())
}
