// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package daemon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/sync/errgroup"

	"github.com/weft-net/weft/backend"
	"github.com/weft-net/weft/internal/masq"
	"github.com/weft-net/weft/subnet"
	"github.com/weft-net/weft/subnet/etcd"
	"github.com/weft-net/weft/subnet/subnetenv"
)

// daemon holds one weftd run. The lease is shared between the keep-alive
// loop (which may re-claim it) and the underlay follower (which may update
// its PublicIP), so it sits behind mu.
type daemon struct {
	opts    Options
	log     logrus.FieldLogger
	metrics *metrics
	ready   *readiness

	reg subnet.Registry
	mgr *subnet.Manager
	cfg *subnet.Config

	mu    sync.Mutex
	lease subnet.Lease
	// leaseWrite is held across each write of our key's value and each
	// decision on what the key holds (re-claim, defence), so that the
	// defence never takes our own new value, seen by the watch before the
	// write returned, for someone else's and writes the old one back (a
	// node whose address changed would be left announcing the old one).
	leaseWrite sync.Mutex
	// afterLeaseWrite, set by tests only, runs between a write of our
	// key's value and recording the lease it returned.
	afterLeaseWrite func()
	// ownRemoved signals that a watch saw our own key deleted; ownChanged
	// that it saw our key hold something we did not write; leaseUpdated
	// that we rewrote our lease's value.
	ownRemoved, ownChanged, leaseUpdated chan struct{}

	own      ownership
	adm      *admission // set once the lease is acquired
	node     *nodeState
	leaseKey func(subnet.Lease) string // the lease's full etcd key, for logs
	// listForWatch is the start-up list, which the watch starts from.
	listForWatch func(context.Context) ([]subnet.Lease, int64, error)
}

// Run runs weftd until ctx is done (nil) or a fatal condition (an error):
// another node took our subnet, or a setup step cannot succeed.
func Run(ctx context.Context, opts Options, log logrus.FieldLogger) error {
	if err := opts.Validate(); err != nil {
		return err
	}
	d := &daemon{
		opts: opts, log: log, metrics: newMetrics(), ready: newReadiness(),
		ownRemoved: make(chan struct{}, 1), ownChanged: make(chan struct{}, 1), leaseUpdated: make(chan struct{}, 1),
	}
	cl, err := etcd.NewClient(opts.Etcd)
	if err != nil {
		return err
	}
	defer func() { _ = cl.Close() }()
	reg := etcd.New(cl, opts.EtcdPrefix, log.WithField("component", "etcd"))
	reg.SetSerializableLists(opts.SerializableLists)
	d.reg, d.leaseKey, d.listForWatch = reg, reg.LeaseKey, reg.ListLeasesForWatch
	d.mgr = subnet.NewManager(d.reg, subnet.ManagerOptions{
		TTL: opts.LeaseTTL, RenewMargin: opts.RenewMargin, Log: log.WithField("component", "lease"),
	})
	d.metrics.registerLease(d.mgr, reg)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return d.serveHTTP(gctx) })
	g.Go(func() error {
		err := d.run(gctx)
		if gctx.Err() != nil && isCanceled(err) {
			err = nil // stopping: a step that was waiting says so, it did not fail
		}
		if err == nil && ctx.Err() == nil {
			err = errors.New("stopped")
		}
		return err
	})
	err = g.Wait()
	if ctx.Err() != nil && err == nil {
		return nil
	}
	return err
}

// isCanceled reports whether err is (or wraps) a context's end.
func isCanceled(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// run is the start-up sequence of ARCHITECTURE.md followed by the loops.
func (d *daemon) run(ctx context.Context) error {
	cfg, err := d.waitConfig(ctx)
	if err != nil {
		return err
	}
	d.cfg = cfg
	node, err := d.openNode()
	if err != nil {
		return err
	}
	defer node.Close()
	ext, err := d.waitUnderlay(ctx, node)
	if err != nil {
		return err
	}
	be, err := node.newBackend(cfg, d)
	if err != nil {
		return err
	}
	// One list serves the whole start: our previous attributes (a stable
	// VTEP MAC), the allocation, and the first peer set; the watch then
	// starts from its revision, so nothing after it is missed.
	if err := d.startJitter(ctx); err != nil {
		return err
	}
	leases, rev, err := d.listLeases(ctx)
	if err != nil {
		return err
	}
	attrs, err := be.Setup(ctx, ext, previousAttrs(leases, nodeIP(ext)))
	if err != nil {
		return fmt.Errorf("set up %s backend: %w", cfg.Backend.Type, err)
	}
	lease, err := d.acquire(ctx, cfg, attrs, leases)
	if err != nil {
		return err
	}
	d.setLease(lease)
	d.checkTakeover(leases, lease)
	rules, fwd, err := node.newMasq(cfg, lease, d)
	if err != nil {
		return err
	}
	d.node = &nodeState{d: d, fwd: fwd}
	if err := d.writeSubnetFile(cfg, lease, be.MTU()); err != nil {
		return err
	}
	d.adm = &admission{d: d, be: be, src: node, ext: ext, changed: make(chan struct{}, 1)}
	d.adm.start(ctx, leases)
	return d.loop(ctx, node, be, rules, ext, leases, rev)
}

// loop runs every long-lived part until ctx is done or one fails fatally.
func (d *daemon) loop(ctx context.Context, node *nodeKernel, be backend.Backend, rules *masq.Manager,
	ext backend.ExternalInterface, leases []subnet.Lease, rev int64,
) error {
	g, gctx := errgroup.WithContext(ctx)
	lease := d.currentLease()
	g.Go(func() error { return be.Run(gctx, lease) })
	g.Go(func() error {
		return d.reg.WatchLeases(gctx, leases, rev, d.onLeaseEvents)
	})
	g.Go(func() error { return d.keepAlive(gctx) })
	if rules != nil {
		g.Go(func() error { return rules.Run(gctx) })
	}
	g.Go(func() error { d.node.run(gctx); return nil })
	g.Go(func() error { d.adm.run(gctx); return nil })
	g.Go(func() error { d.runBlackholes(ctx, gctx, node); return nil })
	g.Go(func() error { d.watchConfig(gctx); return nil })
	g.Go(func() error { return d.followUnderlay(gctx, node, be, ext) })
	g.Go(func() error { d.trackReadiness(gctx, be, rules); return nil })
	err := g.Wait()
	if ctx.Err() != nil && d.opts.ReleaseOnExit {
		d.release(be, rules)
	}
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// The retry policies of the start-up and key-repair steps. Start-up waits
// poll quickly, so that weftd is up soon after etcd; acquisition backs off
// further, since its lasting failure (no free subnet) needs an operator.
var (
	configPolicy = policy{
		step: "load network config", describe: describeConfigErr,
		initial: 500 * time.Millisecond, max: 5 * time.Second, jitter: 0.25, timeout: 10 * time.Second,
	}
	listPolicy = policy{
		step: "list leases", warn: "cannot list leases; retrying",
		initial: 500 * time.Millisecond, max: 10 * time.Second, jitter: 0.25, timeout: 30 * time.Second,
	}
	acquirePolicy = policy{
		step: "acquire lease", warn: "cannot acquire a lease; retrying",
		initial: time.Second, max: 30 * time.Second, jitter: 0.25, timeout: 30 * time.Second,
	}
	reclaimPolicy = policy{
		step: "re-claim lease key", warn: "re-claim our deleted lease key; retrying",
		initial: 200 * time.Millisecond, max: 10 * time.Second, jitter: 0.25, timeout: 30 * time.Second,
	}
)

// waitConfig polls etcd until it answers with a valid config, rather than
// exiting (a supervisor crash loop helps no one). It returns an error only
// when ctx ends.
func (d *daemon) waitConfig(ctx context.Context) (*subnet.Config, error) {
	var cfg *subnet.Config
	err := retry(ctx, d.log.WithField("endpoints", d.opts.Etcd.Endpoints), configPolicy, func(ctx context.Context) error {
		var err error
		cfg, err = d.reg.GetConfig(ctx)
		return err
	})
	if err != nil {
		return nil, err
	}
	d.log.WithFields(familyFields(logrus.Fields{"backend": cfg.Backend.Type},
		"network", cfg.Network, "subnet_len", cfg.SubnetLen, "ipv6_network", cfg.IPv6Network, "ipv6_subnet_len", cfg.IPv6SubnetLen)).
		Info("network config loaded")
	return cfg, nil
}

// describeConfigErr says what waitConfig waits for.
func describeConfigErr(err error) string {
	switch {
	case errors.Is(err, subnet.ErrConfigNotFound):
		return "waiting for the network config in etcd (weftctl config set -f net-conf.json)"
	case isConfigError(err):
		return "waiting for a valid network config in etcd"
	}
	return "waiting for etcd"
}

// isConfigError tells a config problem from an etcd connection problem.
func isConfigError(err error) bool { return errors.Is(err, subnet.ErrInvalidConfig) }

// nodeIP is the address our lease is found by (LeaseAttrs.NodeIP): the
// PublicIP, or in an IPv6-only network (no IPv4 underlay) the PublicIPv6.
func nodeIP(ext backend.ExternalInterface) netip.Addr {
	if ext.PublicIP.IsValid() {
		return ext.PublicIP
	}
	return ext.PublicIPv6
}

// previousAttrs finds our own lease from an earlier run (by PublicIP, or
// PublicIPv6 if IPv6-only), so the backend can keep its VTEP MAC stable
// even if the device is gone.
func previousAttrs(leases []subnet.Lease, publicIP netip.Addr) *subnet.LeaseAttrs {
	for _, l := range leases {
		if l.Attrs.NodeIP() == publicIP {
			a := l.Attrs
			return &a
		}
	}
	return nil
}

// acquire gets our lease, retrying through etcd outages; exhaustion and
// other permanent errors are retried too, slowly, since an operator can fix
// them (free a subnet, widen the config) without restarting weftd.
func (d *daemon) acquire(ctx context.Context, cfg *subnet.Config, attrs subnet.LeaseAttrs, leases []subnet.Lease) (subnet.Lease, error) {
	req := subnet.AcquireRequest{Attrs: attrs, Leases: leases}
	if env, err := subnetenv.Read(d.opts.SubnetFile); err == nil {
		req.Previous, req.PreviousIPv6 = env.Subnet.Masked(), env.IPv6Subnet.Masked()
	} else if !errors.Is(err, subnetenv.ErrNotExist) {
		d.log.WithError(err).Warn("ignoring unreadable previous subnet file")
	}
	var l subnet.Lease
	err := retry(ctx, d.log, acquirePolicy, func(ctx context.Context) error {
		var err error
		if l, err = d.mgr.Acquire(ctx, cfg, req); err != nil {
			req.Leases = nil // stale now: list afresh
		}
		return err // on success the Manager logged how it got the lease
	})
	return l, err
}

// startJitter waits a random time up to --start-jitter.
func (d *daemon) startJitter(ctx context.Context) error {
	if d.opts.StartJitter <= 0 {
		return nil
	}
	wait := rand.N(d.opts.StartJitter)
	d.log.WithField("delay", wait.Round(time.Millisecond).String()).Info("start jitter: delaying the first lease list")
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// listLeases lists every lease for the start, retrying through etcd
// outages. The first acquisition attempt decides over this list; a stale
// (serializable) one costs at most a lost create race, after which the
// Manager lists afresh, linearizably.
func (d *daemon) listLeases(ctx context.Context) ([]subnet.Lease, int64, error) {
	var (
		leases []subnet.Lease
		rev    int64
	)
	err := retry(ctx, d.log, listPolicy, func(ctx context.Context) error {
		var err error
		leases, rev, err = d.listForWatch(ctx)
		return err
	})
	return leases, rev, err
}

// setLease records our lease. When its subnets or value changed,
// admission re-decides (our own key is never a peer, our PublicIP and VTEP
// MAC never another's).
func (d *daemon) setLease(l subnet.Lease) {
	d.mu.Lock()
	old := d.lease
	d.lease = l
	d.mu.Unlock()
	d.ready.set("lease", true)
	if d.adm != nil && (old.Key() != l.Key() || !sameAttrs(old.Attrs, l.Attrs)) {
		d.adm.poke()
	}
}

func (d *daemon) currentLease() subnet.Lease {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.lease
}

func (d *daemon) writeSubnetFile(cfg *subnet.Config, l subnet.Lease, mtu int) error {
	// IPv6-only: no FLANNEL_NETWORK or FLANNEL_SUBNET line, as flanneld.
	env := subnetenv.Env{MTU: mtu, IPMasq: d.opts.IPMasq}
	if cfg.EnableIPv4 {
		env.Networks, env.Subnet = []netip.Prefix{cfg.Network}, subnetenv.GatewayPrefix(l.Subnet)
	}
	if cfg.EnableIPv6 && l.IPv6Subnet.IsValid() {
		env.IPv6Network, env.IPv6Subnet = cfg.IPv6Network, subnetenv.GatewayPrefix(l.IPv6Subnet)
	}
	if err := subnetenv.Write(d.opts.SubnetFile, env); err != nil {
		return err
	}
	d.node.setEnv(env.Marshal())
	d.ready.set("subnet-file", true)
	d.log.WithFields(familyFields(logrus.Fields{"path": d.opts.SubnetFile, "mtu": mtu}, "subnet", env.Subnet, "ipv6_subnet", env.IPv6Subnet)).
		Info("subnet file written")
	return nil
}

// keepAlive keeps our lease alive, restarting the keep-alive with the new
// lease whenever the key had to be re-claimed. ErrLeaseTaken is fatal by
// design: another node owns our subnet now, and every pod here has an
// address from it.
func (d *daemon) keepAlive(ctx context.Context) error {
	onChange := func(nl subnet.Lease) { d.setLease(nl) }
	for {
		kctx, cancel := context.WithCancel(ctx)
		errc := make(chan error, 1)
		l := d.currentLease()
		go func() { errc <- d.mgr.KeepAlive(kctx, l, onChange) }()
		var err error
		select {
		case err = <-errc:
			cancel()
		case <-d.ownRemoved:
			cancel()
			if err = <-errc; err == nil {
				err = d.onOwnRemoved(ctx)
			}
		case <-d.ownChanged:
			// The keep-alive restarts below with whatever lease we hold after
			// the check (a re-claim or an adopted reservation changes it).
			cancel()
			if err = <-errc; err == nil {
				err = d.onOwnChanged(ctx)
			}
		case <-d.leaseUpdated:
			// The lease's value changed (new PublicIP): keep alive the new one,
			// so a later re-claim writes the current attributes.
			cancel()
			err = <-errc
		}
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, subnet.ErrLeaseTaken) {
			d.log.WithError(err).WithField("subnet", l.Subnet).
				Error("our subnet now belongs to another node; exiting. Pods on this node have addresses from it and must be recreated after weftd restarts")
			return fmt.Errorf("lease %s: %w", l.Subnet, err)
		}
		if err != nil {
			return err
		}
	}
}

// onOwnRemoved re-claims our key after the watch saw it deleted.
func (d *daemon) onOwnRemoved(ctx context.Context) error {
	d.leaseWrite.Lock()
	defer d.leaseWrite.Unlock()
	return d.reclaimDeleted(ctx)
}

// onOwnChanged acts on our key after the watch saw it hold a value other
// than ours: once a write of our own in flight has returned (leaseWrite),
// the key is read again and compared with the lease we then hold.
func (d *daemon) onOwnChanged(ctx context.Context) error {
	d.leaseWrite.Lock()
	defer d.leaseWrite.Unlock()
	return d.checkOwnKey(ctx)
}

// reclaimDeleted re-claims our subnet after our key was deleted (by an
// operator, say) while our etcd lease lived on, so keep-alives alone would
// never notice. It retries through etcd trouble.
func (d *daemon) reclaimDeleted(ctx context.Context) error {
	return retry(ctx, d.log, reclaimPolicy, func(ctx context.Context) error {
		cur := d.currentLease()
		if l, err := d.reg.GetLease(ctx, cur.Primary()); err == nil && l.LeaseID == cur.LeaseID && sameAttrs(l.Attrs, cur.Attrs) {
			// The key is back under our etcd lease: the removal we saw was an
			// expiry that the keep-alive has re-claimed already.
			return nil
		}
		nl, err := d.mgr.Reclaim(ctx, cur)
		if errors.Is(err, subnet.ErrLeaseTaken) {
			return permanent(err)
		}
		if err != nil {
			return err
		}
		d.setLease(nl)
		d.own.set("", "")
		d.log.WithFields(logrus.Fields{"subnet": nl.Subnet, "lease_id": fmt.Sprintf("%x", nl.LeaseID)}).Warn("our lease key was deleted; re-claimed it")
		return nil
	})
}

// sameAttrs reports whether a lease value still says what we wrote (a
// reservation put back by hand without our BackendData does not).
func sameAttrs(a, b subnet.LeaseAttrs) bool {
	return a.PublicIP == b.PublicIP && a.PublicIPv6 == b.PublicIPv6 && a.BackendType == b.BackendType &&
		bytes.Equal(a.BackendData, b.BackendData) && bytes.Equal(a.BackendV6Data, b.BackendV6Data)
}

// onLeaseEvents notices changes to our own key and passes every event
// through admission to the backend.
func (d *daemon) onLeaseEvents(evs []subnet.Event) {
	own := d.currentLease().Key()
	for _, ev := range evs {
		d.metrics.leaseEvents.WithLabelValues(ev.Type.String()).Inc()
		if ev.Lease.Key() != own {
			continue
		}
		if ev.Type == subnet.EventAdded {
			d.noteOwnKey(ev.Lease)
			continue
		}
		if !d.own.inConflict() {
			d.own.set("our key was deleted, re-claiming", "")
		}
		select {
		case d.ownRemoved <- struct{}{}:
		default:
		}
	}
	d.adm.apply(evs)
}

// watchConfig re-reads the config each resync interval. A broken config is
// logged and counted; the dataplane keeps the last good state. Changes that
// need a new lease or device are reported, not applied live.
func (d *daemon) watchConfig(ctx context.Context) {
	t := time.NewTicker(d.opts.ResyncInterval)
	defer t.Stop()
	bad := false
	drift := configDrift{running: d.cfg}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		cfg, err := d.reg.GetConfig(cctx)
		cancel()
		switch {
		case err != nil && isConfigError(err) || errors.Is(err, subnet.ErrConfigNotFound):
			d.metrics.configErrors.Inc()
			if !bad {
				d.log.WithError(err).Error("network config in etcd is invalid; keeping the last good config and peers")
			}
			bad = true
		case err != nil:
			// etcd unreachable: the lease and watch loops already report it.
		default:
			if bad {
				d.log.Info("network config in etcd is valid again")
			}
			bad = false
			fresh, note := drift.observe(cfg)
			if len(fresh) > 0 {
				d.log.WithField("changes", changeList(fresh)).Warn("network config changed in etcd; restart weftd to apply it")
			}
			d.ready.note("config", note)
		}
	}
}

// trackReadiness mirrors the backend's and the rules' state into /readyz.
func (d *daemon) trackReadiness(ctx context.Context, be backend.Backend, rules *masq.Manager) {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		st := be.Status()
		d.metrics.peers.Set(float64(st.Peers))
		d.ready.set("peers", st.Ready)
		d.ready.set("rules", rules == nil || rules.Installed())
		d.trackLease()
		if len(d.ready.missing()) == 0 {
			d.metrics.ready.Set(1)
		} else {
			d.metrics.ready.Set(0)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// trackLease mirrors our lease's state into /readyz: failing while it is
// known lost or foreign and not restored yet; an unreachable etcd is a note
// only, since the dataplane keeps forwarding with the peers it has.
func (d *daemon) trackLease() {
	st := d.mgr.Stats()
	why := d.own.why()
	if why == "" && st.Lost {
		why = "lost: the etcd lease expired, re-claiming the same subnet"
	}
	d.ready.fail("lease", why)
	if st.Unreachable {
		d.ready.note("etcd", "unreachable, lease renewals failing (the dataplane keeps the last known peers)")
	} else {
		d.ready.note("etcd", "")
	}
}

// release is --release-on-exit: give the subnet back and remove our device
// and rules, so peers drop this node at once instead of after the TTL.
func (d *daemon) release(be backend.Backend, rules *masq.Manager) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l := d.currentLease()
	if err := d.mgr.Release(ctx, l); err != nil {
		d.log.WithError(err).WithField("subnet", l.Subnet).Error("release lease on exit")
	} else {
		d.log.WithField("subnet", l.Subnet).Info("lease released")
	}
	if err := be.Teardown(); err != nil {
		d.log.WithError(err).Error("remove device on exit")
	}
	if rules != nil {
		if err := rules.Remove(); err != nil {
			d.log.WithError(err).Error("remove masquerade rules on exit")
		}
	}
}
