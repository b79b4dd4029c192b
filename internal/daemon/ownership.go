// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package daemon

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/weft-net/weft/subnet"
)

// Defence limits: a key rewritten this often is being fought over, and
// writing back again would only make peers flap between two values.
const (
	conflictRewrites = 3
	conflictWindow   = 5 * time.Minute
)

// ownership is the state of our key's defence. Safe for concurrent use.
type ownership struct {
	mu       sync.Mutex
	rewrites []time.Time // foreign rewrites within conflictWindow
	lastRev  int64       // revision of the last rewrite counted: a retry is not a new one
	// restoring says why our key is not ours right now (rewritten or
	// deleted, being put back); conflict why the defence stopped. Both
	// fail readiness until our value is back.
	restoring, conflict string
	// takeover is a conflict found at start (we reused another node's key):
	// our own value in the key does not end it; a restart after the other
	// node is fixed does.
	takeover bool
}

func (o *ownership) set(restoring, conflict string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.takeover {
		return
	}
	o.restoring, o.conflict = restoring, conflict
}

// why is the lease condition's failure reason, "" when none.
func (o *ownership) why() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.conflict != "" {
		return "foreign: " + o.conflict
	}
	return o.restoring
}

// inConflict reports whether the defence has stopped.
func (o *ownership) inConflict() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.conflict != ""
}

// countRewrite records the foreign rewrite at revision rev (once) and
// returns how many fall within the window.
func (o *ownership) countRewrite(now time.Time, rev int64) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	if rev == o.lastRev {
		return len(o.rewrites)
	}
	o.lastRev = rev
	kept := o.rewrites[:0]
	for _, t := range o.rewrites {
		if now.Sub(t) < conflictWindow {
			kept = append(kept, t)
		}
	}
	o.rewrites = append(kept, now)
	return len(o.rewrites)
}

// noteOwnKey looks at a watch event for our own key: our own write (or
// the operator putting our exact value back) ends a restore or a conflict;
// anything else is handed to the keeper, which may write to etcd.
func (d *daemon) noteOwnKey(l subnet.Lease) {
	mine := d.currentLease()
	if l.LeaseID == mine.LeaseID && sameAttrs(l.Attrs, mine.Attrs) {
		if d.own.why() != "" {
			d.log.WithFields(logrus.Fields{"key": d.leaseKey(l), "revision": l.ModRevision}).
				Info("our lease key holds our value again")
		}
		d.own.set("", "")
		d.mu.Lock()
		d.lease.ModRevision = max(d.lease.ModRevision, l.ModRevision)
		d.mu.Unlock()
		return
	}
	if d.own.inConflict() {
		return // the defence has stopped: leave the key and our kernel alone
	}
	d.own.set(fmt.Sprintf("our key was rewritten at revision %d, restoring", l.ModRevision), "")
	select {
	case d.ownChanged <- struct{}{}:
	default:
	}
}

// ownKeyPolicy retries reading our key after the watch saw it changed.
var ownKeyPolicy = policy{
	step: "read our lease key", warn: "read our lease key; retrying",
	initial: 200 * time.Millisecond, max: 5 * time.Second, jitter: 0.25, timeout: 10 * time.Second,
}

// checkOwnKey reads our key afresh and acts on what it holds. It returns
// an error when another node holds our subnet now (ErrLeaseTaken) or ctx
// ended.
func (d *daemon) checkOwnKey(ctx context.Context) error {
	var mine, cur subnet.Lease
	err := retry(ctx, d.log, ownKeyPolicy, func(cctx context.Context) error {
		mine = d.currentLease()
		var err error
		cur, err = d.reg.GetLease(cctx, mine.Primary())
		if errors.Is(err, subnet.ErrLeaseNotFound) {
			return permanent(err)
		}
		return err
	})
	switch {
	case errors.Is(err, subnet.ErrLeaseNotFound):
		return d.reclaimDeleted(ctx)
	case err != nil:
		return err
	}
	return d.actOnOwnKey(ctx, mine, cur)
}

func (d *daemon) actOnOwnKey(ctx context.Context, mine, cur subnet.Lease) error {
	switch {
	case cur.Key() != mine.Key():
		return nil // another key with our IPv4 subnet: admission keeps ours on this node
	case cur.LeaseID == mine.LeaseID && sameAttrs(cur.Attrs, mine.Attrs):
		d.noteOwnKey(cur)
		return nil
	case mine.LeaseID != 0 && cur.LeaseID == mine.LeaseID:
		d.defend(ctx, mine, cur)
		return nil
	case cur.Reserved() && cur.Attrs.NodeIP() == mine.Attrs.NodeIP():
		return d.adoptReservation(ctx, mine, cur)
	}
	// Bound to another node's etcd lease, or reserved for another node:
	// the re-claim path decides, and refuses to take it (ErrLeaseTaken).
	return d.reclaimDeleted(ctx)
}

// defend writes our value back into our key, which someone rewrote while
// it stayed bound to our etcd lease: peers would otherwise send our pods'
// traffic to whatever the foreign value names. It stops, leaving etcd and
// our kernel alone, when the key is fought over.
func (d *daemon) defend(ctx context.Context, mine, cur subnet.Lease) {
	found := vtepMACOf(vtepData(cur.Attrs))
	log := d.log.WithFields(logrus.Fields{
		"key": d.leaseKey(cur), "revision": cur.ModRevision,
		"found_public_ip": cur.Attrs.PublicIP, "found_vtep_mac": found,
	})
	n := d.own.countRewrite(time.Now(), cur.ModRevision)
	conflict := ""
	switch {
	case cur.Attrs.NodeIP() == mine.Attrs.NodeIP() && found != vtepMACOf(vtepData(mine.Attrs)):
		conflict = fmt.Sprintf("another VtepMAC %s under our PublicIP %s at revision %d: two nodes claim this key",
			found, cur.Attrs.NodeIP(), cur.ModRevision)
	case n >= conflictRewrites:
		conflict = fmt.Sprintf("key rewritten %d times in %s, last with VtepMAC %s PublicIP %s at revision %d",
			n, conflictWindow, found, cur.Attrs.PublicIP, cur.ModRevision)
	}
	if conflict != "" {
		d.own.set("", conflict)
		log.WithField("reason", conflict).
			Error("our lease key is fought over; stopped defending it, not ready (peers follow etcd; fix the other writer, then restart weftd or put our value back)")
		return
	}
	back := mine
	back.ModRevision = cur.ModRevision
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	nl, err := d.reg.UpdateLease(cctx, back)
	cancel()
	switch {
	case errors.Is(err, subnet.ErrLeaseModified):
		return // written again meanwhile: the watch brings that change next
	case err != nil:
		log.WithError(err).Warn("write our value back into our lease key; retrying")
		d.retryOwnCheck(ctx)
		return
	}
	d.setLease(nl)
	d.own.set("", "")
	d.metrics.leaseDefended.Inc()
	log.Warn("our lease key was rewritten by someone else; wrote our value back")
}

// retryOwnCheck asks the keeper to look at our key again a little later.
func (d *daemon) retryOwnCheck(ctx context.Context) {
	go func() {
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
			select {
			case d.ownChanged <- struct{}{}:
			default:
			}
		}
	}()
}

// adoptReservation takes over a lease-less key carrying our PublicIP that
// replaced our key: an operator's reservation for this node, honoured as
// compat.md says (our attributes are written into it, it stays lease-less).
func (d *daemon) adoptReservation(ctx context.Context, mine, cur subnet.Lease) error {
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	nl, err := d.mgr.Reclaim(cctx, mine)
	cancel()
	if err != nil {
		if errors.Is(err, subnet.ErrLeaseTaken) {
			return err
		}
		d.log.WithError(err).Warn("adopt the reservation of our subnet; retrying")
		d.retryOwnCheck(ctx)
		return nil
	}
	if !sameAttrs(cur.Attrs, mine.Attrs) {
		d.log.WithFields(logrus.Fields{"key": d.leaseKey(cur), "revision": cur.ModRevision}).
			Warn("our lease key was made a reservation with another value; adopted it and wrote our value")
	}
	d.setLease(nl)
	d.own.set("", "")
	return nil
}

// vtepData is the backend data that names a lease's node: BackendData, or
// BackendV6Data in an IPv6-only lease.
func vtepData(a subnet.LeaseAttrs) []byte {
	if len(a.BackendData) == 0 {
		return a.BackendV6Data
	}
	return a.BackendData
}

func vtepMACOf(data []byte) string {
	v, err := subnet.DecodeVXLANData(data)
	if err != nil {
		return "none"
	}
	return v.VtepMAC.String()
}

// checkTakeover reports a start that reused a live key (bound to an etcd
// lease) carrying another VtepMAC under our PublicIP: weftd keeps its VTEP
// MAC across restarts, so that key is another running node's with our
// PublicIP, and both now claim it. Like the other side, we report the
// conflict and stay not ready instead of fighting.
func (d *daemon) checkTakeover(listed []subnet.Lease, mine subnet.Lease) {
	for _, l := range listed {
		if l.Key() != mine.Key() || l.Reserved() || len(vtepData(l.Attrs)) == 0 {
			continue
		}
		found, ours := vtepMACOf(vtepData(l.Attrs)), vtepMACOf(vtepData(mine.Attrs))
		if l.Attrs.NodeIP() != mine.Attrs.NodeIP() || found == ours {
			return
		}
		conflict := fmt.Sprintf("took over a live key holding another VtepMAC %s under our PublicIP %s (revision %d): two nodes claim this key",
			found, l.Attrs.NodeIP(), l.ModRevision)
		d.own.set("", conflict)
		d.own.mu.Lock()
		d.own.takeover = true
		d.own.mu.Unlock()
		d.log.WithFields(logrus.Fields{"key": d.leaseKey(l), "revision": l.ModRevision, "found_vtep_mac": found}).
			WithField("reason", conflict).
			Error("our lease key is claimed by another node with our PublicIP; not ready (give each node its own --public-ip)")
		return
	}
}
