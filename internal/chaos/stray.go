// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package chaos

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// strayValue is a vxlan lease value as flanneld writes it.
func strayValue(publicIP, mac string, vni int) string {
	return fmt.Sprintf(`{"PublicIP":"%s","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":%d,"VtepMAC":"%s"}}`,
		publicIP, vni, mac)
}

// strayKey is one stray etcd entry under <prefix>/subnets/.
type strayKey struct{ what, suffix, value string }

// strayKeys are the stray data issue 11's admission defends against
// (e2e/stray_test.go holds one test per reason), aimed at the live fleet:
// they name the first member's subnet and address.
func (f *Fleet) strayKeys(ctx context.Context) ([]strayKey, error) {
	m := f.Members()[0]
	sn, err := subnetOf(m)
	if err != nil {
		return nil, err
	}
	free, err := f.freeSubnets(ctx, 3)
	if err != nil || len(free) < 3 {
		return nil, fmt.Errorf("stray keys: free subnets: %w", err)
	}
	key := func(i int) string { return fmt.Sprintf("%s-24", free[i].Addr()) }
	return []strayKey{
		{"underlay network, outside Network", "198.18.0.0-24", strayValue("198.19.9.1", "02:00:00:00:0b:01", 1)},
		{"a /25 inside " + m.Name + "'s /24", fmt.Sprintf("%s-25", sn.Addr()), strayValue("198.19.9.2", "02:00:00:00:0b:02", 1)},
		{"newer duplicate of " + m.Name + "'s subnet", fmt.Sprintf("%s-24&fd00:10:244:cd::-64", sn.Addr()),
			strayValue("198.19.9.3", "02:00:00:00:0b:03", 1)},
		{"wrong VNI", key(0), strayValue("198.19.9.4", "02:00:00:00:0b:04", 7)},
		{"malformed value", key(1), `{"PublicIP":`},
		{m.Name + "'s PublicIP on another subnet", key(2), strayValue(m.IP.String(), "02:00:00:00:0b:06", 1)},
	}, nil
}

func strayKeys() Scenario {
	return Scenario{
		Name: "j-stray-keys", Title: "stray etcd keys written into the live fleet",
		Doc: "Keys weft must not program as they stand are written under the subnets prefix: the underlay " +
			"network, a /25 inside a live node's /24, a newer duplicate of a live node's subnet, a wrong VNI, " +
			"a malformed value, a live node's address on another subnet. Admission rejects each (the last " +
			"only on the node whose address it carries), no kernel gets an entry for a rejected key, no " +
			"traffic is lost; then the keys are deleted. Convergence is checked against the admitted set.",
		Do: func(ctx context.Context, f *Fleet, r *Run) error {
			keys, err := f.strayKeys(ctx)
			if err != nil {
				return err
			}
			prefix := f.C.Prefix() + "/subnets/"
			var errs []error
			for _, k := range keys {
				r.Note("stray key %s: %s", k.suffix, k.what)
				errs = append(errs, f.C.Put(ctx, prefix+k.suffix, k.value))
			}
			if err := errors.Join(errs...); err != nil {
				return err
			}
			at, err := f.WaitConverged(ctx)
			if err != nil {
				return fmt.Errorf("with the stray keys: %w", err)
			}
			r.Figure("converged_with_strays_s", at.Sub(r.ref).Seconds())
			time.Sleep(2 * time.Second) // traffic on the fleet with the keys in place
			for _, k := range keys {
				errs = append(errs, f.C.Delete(ctx, prefix+k.suffix))
			}
			r.ConvergeFrom("stray keys deleted", time.Now())
			return errors.Join(errs...)
		},
	}
}
